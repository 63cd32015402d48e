"""Fused recurrent layers: the same numbers as nn.LSTM/GRU/RNN, far fewer operations.

Where the time goes on CPU (torch.profiler, 2x128 LSTM, batch 128, seq 20): 83% of a training
step is oneDNN's RNN kernels (forward 29%, backward 54%), at about half of the machine's matrix
throughput. These layers keep what must be sequential small (per step: one matrix product and a
few in-place elementwise ops) and move everything else into large batched operations:

- the input projection of all time steps is one matrix product (for one-hot input, a gather);
- backward precomputes every gate derivative for all steps at once, so the sequential loop is
  one matrix product plus 3-5 elementwise ops per step;
- weight gradients are one large product over all steps: dW_hh = dgates^T @ h_prev, and for the
  one-hot first layer an `index_add_` instead of a product with a mostly-zero matrix.

Each layer is a torch.autograd.Function from a zero initial state, using the parameters of an
nn.LSTM/nn.GRU/nn.RNN unchanged (same names, same layout). The same code trains one model,
time-major tensors (T, B, ...) and 2-D weights, or K stacked models (charlm.scale.stacked):
tensors (K, T, B, ...) and weights with a leading K, each time step one batched product. Nothing
in it reads a number back to the host, so a CUDA graph can capture it.
"""

from __future__ import annotations

import torch


def _time_dim(w: torch.Tensor) -> int:
    """0 for one model (2-D weights), 1 for K stacked models (weights (K, rows, cols))."""
    return w.dim() - 2


def _addmm(bias, a, b, out=None):
    """bias + a @ b, batched over a leading K where a is 3-D."""
    if a.dim() == 2:
        return torch.addmm(bias, a, b, out=out)
    return torch.baddbmm(bias, a, b, out=out)


def _addmm_(acc, a, b):
    """acc += a @ b in place."""
    return acc.addmm_(a, b) if a.dim() == 2 else acc.baddbmm_(a, b)


def _mm(a, b):
    return torch.mm(a, b) if a.dim() == 2 else torch.bmm(a, b)


def _input_projection(inp: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A new (.., T, B, G) tensor: tokens gather rows of w_ih^T + bias; features: a product."""
    if inp.dtype == torch.long:  # one-hot input: a lookup, bias folded into the vocab-row table
        table = w_ih.transpose(-1, -2) + bias.unsqueeze(-2)  # (.., V, G)
        if table.dim() == 2:
            return torch.nn.functional.embedding(inp, table)
        k, v, g = table.shape
        offsets = torch.arange(k, device=inp.device).view(k, 1, 1) * v  # model k's rows
        return torch.nn.functional.embedding(inp + offsets, table.reshape(k * v, g))
    *lead, T, B, n_in = inp.shape
    flat = inp.reshape(*lead, T * B, n_in)
    bias = bias.unsqueeze(-2) if lead else bias
    return _addmm(bias, flat, w_ih.transpose(-1, -2)).view(*lead, T, B, -1)


def _zero_state(like: torch.Tensor, td: int, T: int, B: int, H: int) -> torch.Tensor:
    """(.., T + 1, B, H) with only the initial state (time 0) zeroed (the rest is written step
    by step)."""
    out = like.new_empty(*like.shape[:td], T + 1, B, H)
    out.select(td, 0).zero_()
    return out


def _recurrent_grad(dh_out: torch.Tensor, td: int, t: int, dg: torch.Tensor,
                    w_hh: torch.Tensor, sparse: bool) -> torch.Tensor:
    """dh for step t - 1: the gradient from above plus dg @ W_hh (a plain product when it is
    zero)."""
    return _mm(dg, w_hh) if sparse else _addmm(dh_out.select(td, t - 1), dg, w_hh)


def _weight_grad(dg: torch.Tensor, td: int, h: torch.Tensor) -> torch.Tensor:
    """dW_hh = sum over steps 1..T-1 of dg[t]^T @ h[t] (h[t] the state before step t), as one
    product per model."""
    T, G, H = dg.shape[td], dg.shape[-1], h.shape[-1]
    lead = dg.shape[:td]
    d = dg.narrow(td, 1, T - 1).reshape(*lead, -1, G)
    return _mm(d.transpose(-1, -2), h.narrow(td, 1, T - 1).reshape(*lead, -1, H))


def _input_grads(inp, w_ih, dg, td):
    """Gradients of the input projection: (d_input or None, dW_ih)."""
    *lead, T, B, G = dg.shape
    dg2 = dg.reshape(*lead, T * B, G)
    if inp.dtype == torch.long:
        v = w_ih.shape[-1]
        k = lead[0] if lead else 1
        dw = torch.zeros(k * v, G, dtype=dg.dtype, device=dg.device)
        index = inp if not lead else inp + torch.arange(k, device=inp.device).view(k, 1, 1) * v
        dw.index_add_(0, index.reshape(-1), dg2.reshape(-1, G))
        return None, dw.view(*lead, v, G).transpose(-1, -2)
    flat = inp.reshape(*lead, T * B, -1)
    return _mm(dg2, w_ih).view(*lead, T, B, -1), _mm(dg2.transpose(-1, -2), flat)


# --- LSTM (gate order i, f, g, o as in nn.LSTM) --------------------------------------------------


def _lstm_forward(xw, w_hh, td):
    T, B, G = xw.shape[td:]
    H = G // 4
    act = xw  # (.., T, B, 4H): input projections, turned into gate activations in place
    c = _zero_state(xw, td, T, B, H)  # c[t + 1] is the cell state after step t
    h = _zero_state(xw, td, T, B, H)
    tc = xw.new_empty(*xw.shape[:-1], H)  # tanh(c[t + 1])
    w_hh_t = w_hh.transpose(-1, -2)
    for t in range(T):
        a = _addmm_(act.select(td, t), h.select(td, t), w_hh_t)
        a[..., : 2 * H].sigmoid_()
        a[..., 2 * H : 3 * H].tanh_()
        a[..., 3 * H :].sigmoid_()
        c_next = torch.mul(a[..., H : 2 * H], c.select(td, t), out=c.select(td, t + 1))
        c_next.addcmul_(a[..., :H], a[..., 2 * H : 3 * H])
        torch.tanh(c_next, out=tc.select(td, t))
        torch.mul(a[..., 3 * H :], tc.select(td, t), out=h.select(td, t + 1))
    return h, (act, c, tc)


def _lstm_backward(dh_out, w_hh, h, saved, td, sparse):
    act, c, tc = saved
    T, B, G = act.shape[td:]
    H = G // 4
    i, f, g, o = act[..., :H], act[..., H : 2 * H], act[..., 2 * H : 3 * H], act[..., 3 * H :]
    # every derivative that does not depend on the incoming gradient, for all steps at once
    dsig = torch.addcmul(act, act, act, value=-1)  # s * (1 - s) (its g part is unused)
    wc = act.new_empty(*act.shape[:-1], 3, H)  # d(i, f, g pre-activations) / dc
    torch.mul(g, dsig[..., :H], out=wc[..., 0, :])
    torch.mul(c.narrow(td, 0, T), dsig[..., H : 2 * H], out=wc[..., 1, :])
    torch.addcmul(i, i, g * g, value=-1, out=wc[..., 2, :])
    wo = tc * dsig[..., 3 * H :]  # d o_pre / dh
    p = torch.addcmul(o, o, tc * tc, value=-1)  # dc / dh = o * (1 - tanh(c)^2)
    dg = torch.empty_like(act)
    dh = dh_out.select(td, T - 1)
    dc_carry = torch.zeros_like(dh)
    for t in reversed(range(T)):
        dg_t = dg.select(td, t)
        dc = torch.addcmul(dc_carry, dh, p.select(td, t))
        torch.mul(dc.unsqueeze(-2), wc.select(td, t), out=dg_t[..., : 3 * H].unflatten(-1, (3, H)))
        torch.mul(dh, wo.select(td, t), out=dg_t[..., 3 * H :])
        if t > 0:
            dc_carry = dc.mul_(f.select(td, t))
            dh = _recurrent_grad(dh_out, td, t, dg_t, w_hh, sparse)
    db = dg.sum((td, td + 1))
    return dg, _weight_grad(dg, td, h), db, db


# --- GRU (gate order r, z, n as in nn.GRU) -----------------------------------------------------


def _gru_forward(xw, w_hh, b_hh, td):
    T, B, G = xw.shape[td:]
    H = G // 3
    act = xw  # input projections, turned into r, z, n in place
    hw = torch.empty_like(xw)  # h @ W_hh^T + b_hh (its n part is needed in backward)
    h = _zero_state(xw, td, T, B, H)
    w_hh_t, bias = w_hh.transpose(-1, -2), b_hh if td == 0 else b_hh.unsqueeze(-2)
    for t in range(T):
        hw_t, a = hw.select(td, t), act.select(td, t)
        _addmm(bias, h.select(td, t), w_hh_t, out=hw_t)
        rz = a[..., : 2 * H].add_(hw_t[..., : 2 * H]).sigmoid_()
        n = a[..., 2 * H :].addcmul_(rz[..., :H], hw_t[..., 2 * H :]).tanh_()
        # h' = (1 - z) * n + z * h = n + z * (h - n)
        torch.sub(h.select(td, t), n, out=h.select(td, t + 1)).mul_(rz[..., H:]).add_(n)
    return h, (act, hw)


def _gru_backward(dh_out, w_hh, h, saved, td, sparse):
    act, hw = saved
    T, B, G = act.shape[td:]
    H = G // 3
    r, z, n = act[..., :H], act[..., H : 2 * H], act[..., 2 * H :]
    dsig = torch.addcmul(act[..., : 2 * H], act[..., : 2 * H], act[..., : 2 * H], value=-1)
    one_minus_z = 1 - z
    kx = act.new_empty(*act.shape[:-1], 3, H)  # input-side gate gradients per unit of dh
    k1 = torch.addcmul(one_minus_z, one_minus_z, n * n, value=-1, out=kx[..., 2, :])
    torch.mul(torch.sub(h.narrow(td, 0, T), n), dsig[..., H:], out=kx[..., 1, :])
    torch.mul(k1 * hw[..., 2 * H :], dsig[..., :H], out=kx[..., 0, :])
    kh = torch.empty_like(kx)  # hidden side: the n part passes through r
    kh[..., :2, :].copy_(kx[..., :2, :])
    torch.mul(k1, r, out=kh[..., 2, :])
    dgx, dgh = torch.empty_like(act), torch.empty_like(act)
    dh = dh_out.select(td, T - 1)
    for t in reversed(range(T)):
        d = dh.unsqueeze(-2)
        torch.mul(d, kx.select(td, t), out=dgx.select(td, t).unflatten(-1, (3, H)))
        torch.mul(d, kh.select(td, t), out=dgh.select(td, t).unflatten(-1, (3, H)))
        if t > 0:
            dh_prev = _recurrent_grad(dh_out, td, t, dgh.select(td, t), w_hh, sparse)
            dh = dh_prev.addcmul_(dh, z.select(td, t))
    return dgx, _weight_grad(dgh, td, h), dgx.sum((td, td + 1)), dgh.sum((td, td + 1))


# --- vanilla RNN (tanh) -------------------------------------------------------------------------


def _rnn_forward(xw, w_hh, td):
    T, B, H = xw.shape[td:]
    h = _zero_state(xw, td, T, B, H)
    w_hh_t = w_hh.transpose(-1, -2)
    for t in range(T):
        _addmm(xw.select(td, t), h.select(td, t), w_hh_t, out=h.select(td, t + 1)).tanh_()
    return h, ()


def _rnn_backward(dh_out, w_hh, h, saved, td, sparse):
    T = dh_out.shape[td]
    h_out = h.narrow(td, 1, T)
    d = 1 - h_out * h_out
    dg = torch.empty_like(dh_out)
    dh = dh_out.select(td, T - 1)
    for t in reversed(range(T)):
        torch.mul(dh, d.select(td, t), out=dg.select(td, t))
        if t > 0:
            dh = _recurrent_grad(dh_out, td, t, dg.select(td, t), w_hh, sparse)
    db = dg.sum((td, td + 1))
    return dg, _weight_grad(dg, td, h), db, db


class FusedLayer(torch.autograd.Function):
    """One recurrent layer from a zero state: inp (.., T, B) tokens or (.., T, B, I) features
    -> h (.., T, B, H); the leading K where the weights have one. sparse: only the last step's
    output gets a gradient (the top layer under objective "last"), which skips an addition per
    step."""

    @staticmethod
    def forward(ctx, cell, inp, w_ih, w_hh, b_ih, b_hh, sparse=False):
        td = _time_dim(w_hh)
        if cell == "gru":
            xw = _input_projection(inp, w_ih, b_ih)
            h, saved = _gru_forward(xw, w_hh, b_hh, td)
        else:
            xw = _input_projection(inp, w_ih, b_ih + b_hh)
            h, saved = (_lstm_forward if cell == "lstm" else _rnn_forward)(xw, w_hh, td)
        ctx.cell, ctx.td, ctx.sparse = cell, td, sparse
        ctx.save_for_backward(inp, w_ih, w_hh, h, *saved)
        return h.narrow(td, 1, h.shape[td] - 1)

    @staticmethod
    def backward(ctx, dh_out):
        inp, w_ih, w_hh, h, *saved = ctx.saved_tensors
        backward = {"lstm": _lstm_backward, "gru": _gru_backward, "rnn": _rnn_backward}[ctx.cell]
        dgx, dw_hh, db_ih, db_hh = backward(dh_out.contiguous(), w_hh, h, saved, ctx.td,
                                            ctx.sparse)
        d_inp, dw_ih = _input_grads(inp, w_ih, dgx, ctx.td)
        return None, d_inp, dw_ih, dw_hh, db_ih, db_hh, None


def fused_layers(cell: str, tokens: torch.Tensor, weights: list[list[torch.Tensor]],
                 last_only: bool = False) -> torch.Tensor:
    """Every layer of a recurrent stack on token ids from a zero state; weights: per layer
    (w_ih, w_hh, b_ih, b_hh). tokens (T, B), or (K, T, B) for K stacked models; returns the
    last layer's output (T, B, H) or (K, T, B, H). last_only: the caller uses only the last
    step's output (objective "last")."""
    x = tokens
    for layer, w in enumerate(weights):
        x = FusedLayer.apply(cell, x, *w, last_only and layer == len(weights) - 1)
    return x


def fused_rnn(rnn: torch.nn.RNNBase, tokens: torch.Tensor, last_only: bool = False
              ) -> torch.Tensor:
    """Run a multi-layer nn.LSTM/GRU/RNN (tanh, with biases) on token ids (B, T) from zero state.

    Returns the last layer's output, time-major: (T, B, H).
    """
    cell = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn"}[rnn.mode]
    weights = [[getattr(rnn, f"{n}_l{layer}")
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
               for layer in range(rnn.num_layers)]
    return fused_layers(cell, tokens.t(), weights, last_only)  # first layer: one-hot implicit
