"""Fused recurrent layers for CPU training: the same numbers as nn.LSTM/GRU/RNN, less time.

Where the time goes on CPU (torch.profiler, 2x128 LSTM, batch 128, seq 20): 83% of a training
step is oneDNN's RNN kernels (forward 29%, backward 54%), at about half of the machine's matrix
throughput. These layers keep what must be sequential small (per step: one matrix product and a
few in-place elementwise ops) and move everything else into large batched operations:

- the input projection of all time steps is one matrix product (for one-hot input, a gather);
- backward precomputes every gate derivative for all steps at once, so the sequential loop is
  one `addmm` plus 3-5 elementwise ops per step;
- weight gradients are one large product over all steps: dW_hh = dgates^T @ h_prev, and for the
  one-hot first layer an `index_add_` instead of a product with a mostly-zero matrix.

Each layer is a torch.autograd.Function over time-major tensors (T, B, ...) from a zero initial
state, using the parameters of an nn.LSTM/nn.GRU/nn.RNN unchanged (same names, same layout).
"""

from __future__ import annotations

import torch

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def _input_projection(inp: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(T, B, G): tokens (T, B) gather columns of w_ih (one-hot input); (T, B, I) matmul."""
    if inp.dtype == torch.long:
        return torch.nn.functional.embedding(inp, w_ih.t().contiguous()) + bias
    T, B, n_in = inp.shape
    return torch.addmm(bias, inp.reshape(T * B, n_in), w_ih.t()).view(T, B, -1)


def _input_grads(inp, w_ih, dg):
    """Gradients of the input projection: (d_input or None, dW_ih)."""
    T, B, G = dg.shape
    dg2 = dg.view(T * B, G)
    if inp.dtype == torch.long:
        dw = torch.zeros(w_ih.shape[1], G, dtype=dg.dtype, device=dg.device)
        dw.index_add_(0, inp.reshape(-1), dg2)
        return None, dw.t()
    return (dg2 @ w_ih).view(T, B, -1), dg2.t() @ inp.reshape(T * B, -1)


# --- LSTM (gate order i, f, g, o as in nn.LSTM) --------------------------------------------------


def _lstm_forward(xw, w_hh):
    T, B, G = xw.shape
    H = G // 4
    act = torch.empty_like(xw)  # (T, B, 4H) gate activations
    c = xw.new_zeros(T + 1, B, H)  # c[t + 1] is the cell state after step t
    h = xw.new_zeros(T + 1, B, H)
    tc = xw.new_empty(T, B, H)  # tanh(c[t + 1])
    w_hh_t = w_hh.t()
    for t in range(T):
        a = torch.addmm(xw[t], h[t], w_hh_t, out=act[t])
        a[:, : 2 * H].sigmoid_()
        a[:, 2 * H : 3 * H].tanh_()
        a[:, 3 * H :].sigmoid_()
        torch.mul(a[:, H : 2 * H], c[t], out=c[t + 1])
        c[t + 1].addcmul_(a[:, :H], a[:, 2 * H : 3 * H])
        torch.tanh(c[t + 1], out=tc[t])
        torch.mul(a[:, 3 * H :], tc[t], out=h[t + 1])
    return h, (act, c, tc)


def _lstm_backward(dh_out, w_hh, h, saved):
    act, c, tc = saved
    T, B, G = act.shape
    H = G // 4
    i, f, g, o = act[..., :H], act[..., H : 2 * H], act[..., 2 * H : 3 * H], act[..., 3 * H :]
    # every derivative that does not depend on the incoming gradient, for all steps at once
    p = o * (1 - tc * tc)  # dc += dh * p
    wc = torch.stack([g * i * (1 - i), c[:-1] * f * (1 - f), i * (1 - g * g)], dim=2)  # (T,B,3,H)
    wo = tc * o * (1 - o)
    dg = torch.empty_like(act)
    dh = dh_out[T - 1]
    dc_carry = torch.zeros_like(dh)
    for t in reversed(range(T)):
        dc = torch.addcmul(dc_carry, dh, p[t])
        torch.mul(dc.unsqueeze(1), wc[t], out=dg[t][:, : 3 * H].view(B, 3, H))
        torch.mul(dh, wo[t], out=dg[t][:, 3 * H :])
        if t > 0:
            dc_carry = dc * f[t]
            dh = torch.addmm(dh_out[t - 1], dg[t], w_hh)
    dw_hh = dg[1:].reshape(-1, G).t() @ h[1:T].reshape(-1, H)
    db = dg.sum((0, 1))
    return dg, dg, dw_hh, db, db


# --- GRU (gate order r, z, n as in nn.GRU) -----------------------------------------------------


def _gru_forward(xw, w_hh, b_hh):
    T, B, G = xw.shape
    H = G // 3
    act = torch.empty_like(xw)  # r, z, n
    hw = torch.empty_like(xw)  # h @ W_hh^T + b_hh (its n part is needed in backward)
    h = xw.new_zeros(T + 1, B, H)
    w_hh_t = w_hh.t()
    for t in range(T):
        torch.addmm(b_hh, h[t], w_hh_t, out=hw[t])
        rz = torch.add(xw[t][:, : 2 * H], hw[t][:, : 2 * H], out=act[t][:, : 2 * H]).sigmoid_()
        n = act[t][:, 2 * H :]
        torch.addcmul(xw[t][:, 2 * H :], rz[:, :H], hw[t][:, 2 * H :], out=n).tanh_()
        # h' = (1 - z) * n + z * h = n + z * (h - n)
        torch.sub(h[t], n, out=h[t + 1]).mul_(rz[:, H:]).add_(n)
    return h, (act, hw)


def _gru_backward(dh_out, w_hh, h, saved):
    act, hw = saved
    T, B, G = act.shape
    H = G // 3
    r, z, n = act[..., :H], act[..., H : 2 * H], act[..., 2 * H :]
    k1 = (1 - z) * (1 - n * n)  # d n_pre / d h'
    k2 = (h[:-1] - n) * z * (1 - z)  # d z_pre / d h'
    k3 = k1 * hw[..., 2 * H :] * r * (1 - r)  # d r_pre / d h'
    kx = torch.stack([k3, k2, k1], dim=2)  # (T, B, 3, H): input-side gate gradients
    kh = torch.stack([k3, k2, k1 * r], dim=2)  # hidden-side: the n part passes through r
    dgx, dgh = torch.empty_like(act), torch.empty_like(act)
    dh = dh_out[T - 1]
    for t in reversed(range(T)):
        d = dh.unsqueeze(1)
        torch.mul(d, kx[t], out=dgx[t].view(B, 3, H))
        torch.mul(d, kh[t], out=dgh[t].view(B, 3, H))
        if t > 0:
            dh = torch.addmm(torch.addcmul(dh_out[t - 1], dh, z[t]), dgh[t], w_hh)
    dw_hh = dgh[1:].reshape(-1, G).t() @ h[1:T].reshape(-1, H)
    return dgx, dgh, dw_hh, dgx.sum((0, 1)), dgh.sum((0, 1))


# --- vanilla RNN (tanh) -------------------------------------------------------------------------


def _rnn_forward(xw, w_hh):
    T, B, H = xw.shape
    h = xw.new_zeros(T + 1, B, H)
    w_hh_t = w_hh.t()
    for t in range(T):
        torch.addmm(xw[t], h[t], w_hh_t, out=h[t + 1]).tanh_()
    return h, ()


def _rnn_backward(dh_out, w_hh, h, saved):
    T, B, H = dh_out.shape
    d = 1 - h[1:] * h[1:]
    dg = torch.empty_like(dh_out)
    dh = dh_out[T - 1]
    for t in reversed(range(T)):
        torch.mul(dh, d[t], out=dg[t])
        if t > 0:
            dh = torch.addmm(dh_out[t - 1], dg[t], w_hh)
    dw_hh = dg[1:].reshape(-1, H).t() @ h[1:T].reshape(-1, H)
    db = dg.sum((0, 1))
    return dg, dg, dw_hh, db, db


class FusedLayer(torch.autograd.Function):
    """One recurrent layer from a zero state: inp (T, B) tokens or (T, B, I) -> h (T, B, H)."""

    @staticmethod
    def forward(ctx, cell, inp, w_ih, w_hh, b_ih, b_hh):
        if cell == "gru":
            xw = _input_projection(inp, w_ih, b_ih)
            h, saved = _gru_forward(xw, w_hh, b_hh)
        else:
            xw = _input_projection(inp, w_ih, b_ih + b_hh)
            h, saved = (_lstm_forward if cell == "lstm" else _rnn_forward)(xw, w_hh)
        ctx.cell = cell
        ctx.save_for_backward(inp, w_ih, w_hh, h, *saved)
        return h[1:]

    @staticmethod
    def backward(ctx, dh_out):
        inp, w_ih, w_hh, h, *saved = ctx.saved_tensors
        backward = {"lstm": _lstm_backward, "gru": _gru_backward, "rnn": _rnn_backward}[ctx.cell]
        dgx, _, dw_hh, db_ih, db_hh = backward(dh_out.contiguous(), w_hh, h, saved)
        d_inp, dw_ih = _input_grads(inp, w_ih, dgx)
        return None, d_inp, dw_ih, dw_hh, db_ih, db_hh


def fused_rnn(rnn: torch.nn.RNNBase, tokens: torch.Tensor) -> torch.Tensor:
    """Run a multi-layer nn.LSTM/GRU/RNN (tanh, with biases) on token ids (B, T) from zero state.

    Returns the last layer's output, time-major: (T, B, H).
    """
    cell = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn"}[rnn.mode]
    x = tokens.t()  # (T, B): the first layer reads token ids, its one-hot input is implicit
    for layer in range(rnn.num_layers):
        weights = [
            getattr(rnn, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        x = FusedLayer.apply(cell, x, *weights)
    return x
