"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): recurrent layers whose
gates read only the input, so that h_t = a_t * h_{t-1} + b_t over a whole window is one parallel
scan (log2 T steps over all positions at once) instead of T sequential steps.

    minGRU:  z = sigmoid(W_z x), h~ = g(W_h x);  a = 1 - z, b = z * h~
    minLSTM: f = sigmoid(W_f x), i = sigmoid(W_i x), h~ = g(W_h x);
             a = f / (f + i), b = i / (f + i) * h~
    g(v) = v + 1/2 for v >= 0, else sigmoid(v) (the paper's, which keeps h~ positive)

The scan is Hillis and Steele's, in linear space: it multiplies coefficients in (0, 1) and
never divides, so it needs none of the log-space form the paper uses for its cumulative
product (benchmarks/zoo_step.py times both; the log-space one is `log_scan`, tested equal).

The model: characters (a lookup, as one-hot input times a matrix) -> layers, each a pre-norm
residual block around one min-cell (x + W_o cell(norm(x))) -> norm -> linear.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.config import ModelConfig

KINDS = ("mingru", "minlstm")  # the model names this module builds (charlm.kinds reads them)
READS = ("hidden_size", "num_layers", "dropout", "width")  # the ModelConfig fields they read
GATES = {"mingru": 2, "minlstm": 3}  # input products per layer: (z, h~) or (f, i, h~)


def g(v: torch.Tensor) -> torch.Tensor:
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def coefficients(kind: str, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) of the recurrence h_t = a_t h_{t-1} + b_t, from the gate inputs `pre`
    (..., GATES[kind] * width)."""
    if kind == "mingru":
        k, h = pre.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        return 1 - z, z * g(h)
    f, i, h = pre.chunk(3, dim=-1)
    f, i = torch.sigmoid(f), torch.sigmoid(i)
    return f / (f + i), i / (f + i) * g(h)


def scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Every h_t of h_t = a_t h_{t-1} + b_t over dim 1 at once (Hillis-Steele: after the step
    of stride d, position t holds the recurrence over its last 2d positions); h0 (B, W) or
    None (zero)."""
    if h0 is not None:
        b = torch.cat([b[:, :1] + a[:, :1] * h0[:, None], b[:, 1:]], dim=1)
    steps, stride = a.shape[1], 1
    while stride < steps:
        b = b + a * F.pad(b, (0, 0, stride, 0))[:, :steps]
        a = a * F.pad(a, (0, 0, stride, 0), value=1.0)[:, :steps]
        stride *= 2
    return b


def log_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The paper's log-space scan (Heinsen 2023: a cumulative sum and log-cum-sum-exp), from a
    zero state; b > 0. What `scan` must equal (tests), and its benchmark's other side."""
    a_star = torch.cumsum(torch.log(a), dim=1)
    return torch.exp(a_star + torch.logcumsumexp(torch.log(b) - a_star, dim=1))


def sequential(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None):
    """The same recurrence one step at a time: what `scan` must equal (tests)."""
    h = torch.zeros_like(a[:, 0]) if h0 is None else h0
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


class MinLayer(nn.Module):
    """x + W_o cell(norm(x)) for one min-cell of `width` units."""

    def __init__(self, kind: str, width: int, dropout: float):
        super().__init__()
        self.kind = kind
        self.norm = nn.LayerNorm(width)
        self.gates = nn.Linear(width, GATES[kind] * width)
        self.out = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        h = scan(*coefficients(self.kind, self.gates(self.norm(x))), h0)
        return x + self.drop(self.out(h)), h[:, -1]


class MinRNN(nn.Module):
    """`MinRNN(vocab_size, "mingru", width, num_layers)`. forward(x, state) returns the last
    hidden state of every layer as its state, so a window can be continued."""

    def __init__(self, vocab_size: int, kind: str, width: int, num_layers: int,
                 dropout: float = 0.0, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg, self.kind, self.vocab_size, self.width = cfg, kind, vocab_size, width
        self.embed = nn.Embedding(vocab_size, width)
        self.layers = nn.ModuleList(MinLayer(kind, width, dropout) for _ in range(num_layers))
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, vocab_size)

    def forward(self, x: torch.Tensor, state=None, last_only: bool = False):
        """x: (B, T) ids -> (logits (B, T, V) or (B, V), state (layers, B, width))."""
        h, last = self.embed(x), []
        for k, layer in enumerate(self.layers):
            h, end = layer(h, None if state is None else state[k])
            last.append(end)
        h = self.norm(h[:, -1] if last_only else h)
        return self.head(h), torch.stack(last)


def build(vocab_size: int, cfg: ModelConfig, seq_len: int, fused: bool = False) -> MinRNN:
    """The kind's model at cfg's width (resolved: charlm.models.resolved)."""
    return MinRNN(vocab_size, cfg.cell, cfg.width, cfg.num_layers, cfg.dropout, cfg)
