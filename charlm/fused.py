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
    """A new (T, B, G) tensor: tokens (T, B) gather rows of w_ih^T + bias; (T, B, I) matmul."""
    if inp.dtype == torch.long:  # one-hot input: a lookup, bias folded into the 65-row table
        return torch.nn.functional.embedding(inp, w_ih.t() + bias)
    T, B, n_in = inp.shape
    return torch.addmm(bias, inp.reshape(T * B, n_in), w_ih.t()).view(T, B, -1)


def _zero_state(like: torch.Tensor, T: int, B: int, H: int) -> torch.Tensor:
    """(T + 1, B, H) with only the initial state [0] zeroed (the rest is written step by step)."""
    out = like.new_empty(T + 1, B, H)
    out[0].zero_()
    return out


def _recurrent_grad(dh_out: torch.Tensor, t: int, dg: torch.Tensor, w_hh: torch.Tensor,
                    sparse: bool) -> torch.Tensor:
    """dh for step t - 1: the gradient from above plus dg @ W_hh (a plain mm when it is zero)."""
    return torch.mm(dg, w_hh) if sparse else torch.addmm(dh_out[t - 1], dg, w_hh)


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
    act = xw  # (T, B, 4H): input projections, turned into gate activations in place
    c = _zero_state(xw, T, B, H)  # c[t + 1] is the cell state after step t
    h = _zero_state(xw, T, B, H)
    tc = xw.new_empty(T, B, H)  # tanh(c[t + 1])
    w_hh_t = w_hh.t()
    for t in range(T):
        a = act[t].addmm_(h[t], w_hh_t)
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
    dsig = torch.addcmul(act, act, act, value=-1)  # s * (1 - s) (its g part is unused)
    wc = act.new_empty(T, B, 3, H)  # d(i, f, g pre-activations) / dc
    torch.mul(g, dsig[..., :H], out=wc[:, :, 0])
    torch.mul(c[:-1], dsig[..., H : 2 * H], out=wc[:, :, 1])
    torch.addcmul(i, i, g * g, value=-1, out=wc[:, :, 2])
    wo = tc * dsig[..., 3 * H :]  # d o_pre / dh
    p = torch.addcmul(o, o, tc * tc, value=-1)  # dc / dh = o * (1 - tanh(c)^2)
    sparse = not bool(dh_out[:-1].any())  # objective "last": only the final step has a gradient
    dg = torch.empty_like(act)
    dh = dh_out[T - 1]
    dc_carry = torch.zeros_like(dh)
    for t in reversed(range(T)):
        dc = torch.addcmul(dc_carry, dh, p[t])
        torch.mul(dc.unsqueeze(1), wc[t], out=dg[t][:, : 3 * H].view(B, 3, H))
        torch.mul(dh, wo[t], out=dg[t][:, 3 * H :])
        if t > 0:
            dc_carry = dc.mul_(f[t])
            dh = _recurrent_grad(dh_out, t, dg[t], w_hh, sparse)
    dw_hh = dg[1:].reshape(-1, G).t() @ h[1:T].reshape(-1, H)
    db = dg.sum((0, 1))
    return dg, dg, dw_hh, db, db


# --- GRU (gate order r, z, n as in nn.GRU) -----------------------------------------------------


def _gru_forward(xw, w_hh, b_hh):
    T, B, G = xw.shape
    H = G // 3
    act = xw  # input projections, turned into r, z, n in place
    hw = torch.empty_like(xw)  # h @ W_hh^T + b_hh (its n part is needed in backward)
    h = _zero_state(xw, T, B, H)
    w_hh_t = w_hh.t()
    for t in range(T):
        torch.addmm(b_hh, h[t], w_hh_t, out=hw[t])
        rz = act[t][:, : 2 * H].add_(hw[t][:, : 2 * H]).sigmoid_()
        n = act[t][:, 2 * H :].addcmul_(rz[:, :H], hw[t][:, 2 * H :]).tanh_()
        # h' = (1 - z) * n + z * h = n + z * (h - n)
        torch.sub(h[t], n, out=h[t + 1]).mul_(rz[:, H:]).add_(n)
    return h, (act, hw)


def _gru_backward(dh_out, w_hh, h, saved):
    act, hw = saved
    T, B, G = act.shape
    H = G // 3
    r, z, n = act[..., :H], act[..., H : 2 * H], act[..., 2 * H :]
    dsig = torch.addcmul(act[..., : 2 * H], act[..., : 2 * H], act[..., : 2 * H], value=-1)
    one_minus_z = 1 - z
    kx = act.new_empty(T, B, 3, H)  # input-side gate gradients per unit of dh: r, z, n
    k1 = torch.addcmul(one_minus_z, one_minus_z, n * n, value=-1, out=kx[:, :, 2])
    torch.mul(torch.sub(h[:-1], n), dsig[..., H:], out=kx[:, :, 1])
    torch.mul(k1 * hw[..., 2 * H :], dsig[..., :H], out=kx[:, :, 0])
    kh = torch.empty_like(kx)  # hidden side: the n part passes through r
    kh[:, :, :2].copy_(kx[:, :, :2])
    torch.mul(k1, r, out=kh[:, :, 2])
    sparse = not bool(dh_out[:-1].any())
    dgx, dgh = torch.empty_like(act), torch.empty_like(act)
    dh = dh_out[T - 1]
    for t in reversed(range(T)):
        d = dh.unsqueeze(1)
        torch.mul(d, kx[t], out=dgx[t].view(B, 3, H))
        torch.mul(d, kh[t], out=dgh[t].view(B, 3, H))
        if t > 0:
            dh_prev = _recurrent_grad(dh_out, t, dgh[t], w_hh, sparse)
            dh = dh_prev.addcmul_(dh, z[t])
    dw_hh = dgh[1:].reshape(-1, G).t() @ h[1:T].reshape(-1, H)
    return dgx, dgh, dw_hh, dgx.sum((0, 1)), dgh.sum((0, 1))


# --- vanilla RNN (tanh) -------------------------------------------------------------------------


def _rnn_forward(xw, w_hh):
    T, B, H = xw.shape
    h = _zero_state(xw, T, B, H)
    w_hh_t = w_hh.t()
    for t in range(T):
        torch.addmm(xw[t], h[t], w_hh_t, out=h[t + 1]).tanh_()
    return h, ()


def _rnn_backward(dh_out, w_hh, h, saved):
    T, B, H = dh_out.shape
    d = 1 - h[1:] * h[1:]
    dg = torch.empty_like(dh_out)
    sparse = not bool(dh_out[:-1].any())
    dh = dh_out[T - 1]
    for t in reversed(range(T)):
        torch.mul(dh, d[t], out=dg[t])
        if t > 0:
            dh = _recurrent_grad(dh_out, t, dg[t], w_hh, sparse)
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
