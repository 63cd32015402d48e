"""A small causal Transformer decoder over the window (pre-norm, learned positions), the same size
as the reference's LSTM by default: characters (a lookup, as one-hot input times a matrix) plus a
learned position -> blocks of causal self-attention and an MLP -> norm -> linear."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.config import ModelConfig
from charlm.errors import ParameterError

KINDS = ("transformer",)  # the model names this module builds (charlm.kinds reads them)
READS = ("hidden_size", "num_layers", "dropout", "width", "heads")  # of ModelConfig
WIDTH_STEP = "heads"  # its width is a multiple of the attention heads (charlm.models.resolved)


class Block(nn.Module):
    """Pre-norm: x + attention(norm(x)), then x + MLP(norm(x)) (4x wide, GELU)."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, w // self.heads).unbind(2)
        att = F.scaled_dot_product_attention(  # (B, heads, T, head width), causal
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True,
            dropout_p=self.dropout if self.training else 0.0)
        x = x + F.dropout(self.proj(att.transpose(1, 2).reshape(b, t, w)), self.dropout,
                          self.training)
        return x + self.mlp(self.norm2(x))


class CharTransformer(nn.Module):
    """`CharTransformer(vocab_size, width, num_layers, heads, seq_len)`: positions 0..seq_len-1
    are learned, so a window is at most seq_len characters (generation feeds the last seq_len).
    At width 96, 2 blocks and 4 heads it has 238,337 parameters on 65 characters, the LSTM's
    240,321 nearest (tests/test_zoo.py)."""

    def __init__(self, vocab_size: int, width: int, num_layers: int, heads: int, seq_len: int,
                 dropout: float = 0.0, cfg: ModelConfig | None = None):
        super().__init__()
        if width % heads:
            raise ParameterError(f"transformer: width {width} is not a multiple of heads={heads}: "
                                 f"choose a width such as {width - width % heads or heads}, or "
                                 "other heads.")
        self.cfg, self.vocab_size, self.seq_len, self.width = cfg, vocab_size, seq_len, width
        self.embed = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(seq_len, width)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(num_layers))
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, vocab_size)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state=None, last_only: bool = False):
        """x: (B, T) character ids, T <= seq_len -> (logits (B, T, V) or (B, V), None)."""
        if x.shape[1] > self.seq_len:
            raise ValueError(f"a window of {x.shape[1]} characters is longer than the "
                             f"{self.seq_len} positions this Transformer learned")
        h = self.drop(self.embed(x) + self.position(torch.arange(x.shape[1], device=x.device)))
        for block in self.blocks:
            h = block(h)
        h = self.norm(h[:, -1] if last_only else h)
        return self.head(h), None


def build(vocab_size: int, cfg: ModelConfig, seq_len: int, fused: bool = False):
    """The kind's model at cfg's width (resolved: charlm.models.resolved)."""
    return CharTransformer(vocab_size, cfg.width, cfg.num_layers, cfg.heads, seq_len,
                           cfg.dropout, cfg)
