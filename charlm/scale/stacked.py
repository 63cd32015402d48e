"""K models of one architecture as one computation: stacked weights, batched matrix products.

`StackedCharRNN` holds the parameters of K `CharRNN`s of the same cell and size, each stacked on
a leading dimension of K. Its forward runs the K recurrent layers together: the one-hot input
projection as one gather, each time step as one batched product (K, B, H) @ (K, H, G). The K
models never mix: model k's loss depends only on slice k of every parameter, so the gradient of
the sum of the K losses is, slice by slice, the gradient each model would get alone.

Two implementations of one computation: `fused` (training, the default) runs charlm's fused
layers (charlm/fused.py) with a leading K, a few operations per time step; the plain one is
autograd over elementwise operations, what `torch.compile` fuses (and what evaluation uses).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.fused import fused_layers
from charlm.models import CharRNN


class StackedCharRNN(nn.Module):
    """K CharRNNs of one ModelConfig, stacked: parameter p of model k is `self.params[i][k]`."""

    def __init__(self, models: list[CharRNN], fused: bool = True):
        super().__init__()
        self.fused = fused
        first = models[0]
        if any(m.cfg != first.cfg or m.vocab_size != first.vocab_size for m in models):
            raise ValueError("stacked models must share cell, sizes and vocabulary")
        self.cfg, self.vocab_size, self.k = first.cfg, first.vocab_size, len(models)
        self.names = [name for name, _ in first.named_parameters()]  # CharRNN's own order
        self.params = nn.ParameterList(
            nn.Parameter(torch.stack([dict(m.named_parameters())[n].detach() for m in models]))
            for n in self.names
        )

    def state_dict_of(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's state_dict, as CharRNN.state_dict() names it (copies, on this device)."""
        return {n: p[k].detach().clone() for n, p in zip(self.names, self.params)}

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """x: (K, B, T) character ids, from a zero state.

        Returns logits (K, B, vocab_size) with last_only, else (K, B, T, vocab_size).
        """
        p = dict(zip(self.names, self.params))
        if self.fused and torch.is_grad_enabled():
            return self._fused_forward(x, p, last_only)
        k, b, t = x.shape
        out = None
        for layer in range(self.cfg.num_layers):
            w_ih, b_ih = p[f"rnn.weight_ih_l{layer}"], p[f"rnn.bias_ih_l{layer}"]
            if layer == 0:  # one-hot input: the projection picks columns of W_ih
                rows = torch.arange(k, device=x.device)[:, None, None]
                xw = w_ih.transpose(1, 2)[rows, x] + b_ih[:, None, None, :]  # (K, B, T, G)
            else:
                xw = torch.baddbmm(b_ih[:, None, :], out.reshape(k, b * t, -1),
                                   w_ih.transpose(1, 2)).view(k, b, t, -1)
            out = self._recur(xw, p[f"rnn.weight_hh_l{layer}"], p[f"rnn.bias_hh_l{layer}"])
        w, bias = p["head.weight"].transpose(1, 2), p["head.bias"][:, None, :]
        if last_only:
            return torch.baddbmm(bias, out[:, :, -1], w)  # (K, B, vocab_size)
        return torch.baddbmm(bias, out.reshape(k, b * t, -1), w).view(k, b, t, -1)

    def _fused_forward(self, x, p, last_only):
        weights = [[p[f"rnn.{n}_l{layer}"] for n in ("weight_ih", "weight_hh", "bias_ih",
                                                       "bias_hh")]
                   for layer in range(self.cfg.num_layers)]
        out = fused_layers(self.cfg.cell, x.transpose(1, 2), weights, last_only)  # (K, T, B, H)
        w, bias = p["head.weight"].transpose(1, 2), p["head.bias"][:, None, :]
        k, t, b, h = out.shape
        if last_only:
            return torch.baddbmm(bias, out[:, -1], w)  # (K, B, vocab_size)
        logits = torch.baddbmm(bias, out.reshape(k, t * b, h), w).view(k, t, b, -1)
        return logits.transpose(1, 2)  # (K, B, T, vocab_size)

    def _recur(self, xw: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        """One recurrent layer over time: xw (K, B, T, G) input projections -> (K, B, T, H)."""
        k, b, _, _ = xw.shape
        h = xw.new_zeros(k, b, self.cfg.hidden_size)
        c = torch.zeros_like(h)
        w_t, bias = w_hh.transpose(1, 2), b_hh[:, None, :]
        outs = []
        # the slices taken once: indexing xw inside the loop would make backward build a
        # full-size zero tensor for every step
        for xw_t in xw.unbind(2):
            hh = torch.baddbmm(bias, h, w_t)  # (K, B, G)
            if self.cfg.cell == "lstm":  # gates i, f, g, o, as nn.LSTM orders them
                i, f, g, o = (xw_t + hh).chunk(4, -1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            elif self.cfg.cell == "gru":  # gates r, z, n, as nn.GRU orders them
                xr, xz, xn = xw_t.chunk(3, -1)
                hr, hz, hn = hh.chunk(3, -1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            else:
                h = torch.tanh(xw_t + hh)
            outs.append(h)
        return torch.stack(outs, 2)


def stacked_loss(model: StackedCharRNN, x, y, objective: str, skip):
    """Per-model (objective loss, last-position loss), each (K,), as train.batch_loss for one."""
    if objective == "last":
        logits = model(x, last_only=True)  # (K, B, vocab_size)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        loss = loss.view_as(y).mean(1)
        return loss, loss
    logits = model(x)  # (K, B, T, vocab_size)
    per_pos = F.cross_entropy(logits.flatten(0, 2), y.flatten(), reduction="none").view_as(y)
    keep = ~skip  # never train on a character that is the target of a test window
    loss = (per_pos * keep).sum((1, 2)) / keep.sum((1, 2)).clamp(min=1)
    return loss, per_pos[:, :, -1].mean(1)


@torch.no_grad()
def clip_per_model(params, max_norm: float) -> None:
    """clip_grad_norm_ for each of the K models on its own (norm over its slices only)."""
    grads = [p.grad for p in params if p.grad is not None]
    k = grads[0].shape[0]
    norms = torch.stack([g.reshape(k, -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()  # (K,)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)  # what clip_grad_norm_ computes
    for g in grads:
        g.mul_(coef.view(k, *([1] * (g.dim() - 1))))
