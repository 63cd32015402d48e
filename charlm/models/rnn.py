"""The recurrent cells of the reference (lstm, gru, rnn): one-hot characters -> stacked torch
RNN -> linear, with charlm's fused CPU layers for training and a lookup for large vocabularies."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from charlm.config import ModelConfig
from charlm.fused import fused_rnn

KINDS = ("lstm", "gru", "rnn")  # the model names this module builds (charlm.kinds reads them)
READS = ("hidden_size", "num_layers", "dropout")  # the ModelConfig fields its models read
RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharRNN(nn.Module):
    """Character language model: `CharRNN(vocab_size, ModelConfig(cell="gru"))`.

    The input is one-hot (vocab_size features), so the parameter count is the reference's:
    LSTM 2x128 on 65 characters has 240,321 parameters, GRU 182,337.
    """

    def __init__(self, vocab_size: int, cfg: ModelConfig | None = None, fused: bool = False):
        """fused: train through charlm's fused CPU layers (charlm/fused.py): the same numbers as
        the torch layers, less time; used for gradient steps on the CPU from a zero state."""
        super().__init__()
        self.cfg = cfg or ModelConfig()
        self.vocab_size = vocab_size
        rnn_cls = RNN_CLASSES[self.cfg.cell]
        self.rnn = rnn_cls(vocab_size, self.cfg.hidden_size, self.cfg.num_layers, batch_first=True,
                           dropout=self.cfg.dropout if self.cfg.num_layers > 1 else 0.0)
        self.head = nn.Linear(self.cfg.hidden_size, vocab_size)
        # dropout between the layers is the torch layers' own; this one is on the top layer
        self.drop = nn.Dropout(self.cfg.dropout) if self.cfg.dropout else nn.Identity()
        self.fused = fused
        self._shadow = None  # the torch layers of a large vocabulary's lookup (_lookup_rnn)

    def forward(self, x: torch.Tensor, state=None, last_only: bool = False):
        """x: (B, T) character ids. Returns (logits, state).

        logits: (B, T, vocab_size), or (B, vocab_size) with last_only (many-to-one).
        The fused path returns state None: training on the CPU from a zero state, and the
        evaluation of a large vocabulary there (its lookup, without the torch layers' input
        product: benchmarks/results/large_vocab.md).
        """
        wide = self.vocab_size > self.rnn.weight_ih_l0.shape[0]  # wider than the gates
        cpu_zero = state is None and x.device.type == "cpu"
        if cpu_zero and (torch.is_grad_enabled() and self.fused and not self.cfg.dropout
                         or not torch.is_grad_enabled() and wide and not self.training):
            out = fused_rnn(self.rnn, x, last_only)  # (T, B, H), time-major
            return (self.head(out[-1]) if last_only else self.head(out).transpose(0, 1)), None
        if wide and x.device.type == "cpu":  # a large vocabulary: no one-hot tensor
            out, state = self._lookup_rnn(x, state)
        else:
            onehot = F.one_hot(x, self.vocab_size).float()  # (B, T, vocab_size)
            out, state = self.rnn(onehot, state)  # (B, T, H)
        out = self.drop(out)
        return (self.head(out[:, -1]) if last_only else self.head(out)), state

    def _lookup_rnn(self, x: torch.Tensor, state):
        """The torch layers on the CPU with the one-hot product done as a lookup: the columns
        of W_ih that the characters pick, fed through an identity in its place (generation,
        training with dropout). The output is the one-hot path's to the bit (a product with I
        is exact in fp32); gradients differ by rounding. It pays where the vocabulary is wider
        than the gates: a product of width G instead of vocab_size per character, and no
        one-hot tensor (2 GB for 4,096 windows at 6,310 characters). On CUDA, cuDNN takes the
        one-hot input as before (its flat weight buffer would be rebuilt at every call here;
        unmeasured on a GPU)."""
        params = dict(self.rnn.named_parameters())
        w = params["weight_ih_l0"]
        params["weight_ih_l0"] = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
        if self._shadow is None:  # the same layers with input width G; never trained itself
            with torch.random.fork_rng(devices=[]):  # its initialisation draws no random number
                shadow = RNN_CLASSES[self.cfg.cell](w.shape[0], self.cfg.hidden_size,
                                                    self.cfg.num_layers, batch_first=True,
                                                    dropout=self.rnn.dropout)
            object.__setattr__(self, "_shadow", shadow.requires_grad_(False))  # not a submodule
        self._shadow.train(self.training)  # its dropout follows the model's mode
        return functional_call(self._shadow, params, (F.embedding(x, w.t()), state))


GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def training_flops(vocab_size: int, cfg: ModelConfig, batch_size: int, seq_len: int,
                   objective: str) -> float:
    """Floating-point operations of one training step, as charlm computes it: 2 per multiply-add
    of the forward pass, and backward twice the forward (the usual 3x). The one-hot input is a
    lookup (no products); the head predicts every position (objective "all") or the last."""
    gates = GATES[cfg.cell] * cfg.hidden_size
    recurrent = cfg.num_layers * gates * cfg.hidden_size  # W_hh of every layer
    inputs = (cfg.num_layers - 1) * gates * cfg.hidden_size  # W_ih of the upper layers
    head = vocab_size * cfg.hidden_size * (seq_len if objective == "all" else 1)
    return 6.0 * batch_size * (seq_len * (recurrent + inputs) + head)


def build(vocab_size: int, cfg: ModelConfig, seq_len: int, fused: bool = False) -> CharRNN:
    """The kind's model (seq_len unused: a recurrent cell reads any length)."""
    return CharRNN(vocab_size, cfg, fused=fused)
