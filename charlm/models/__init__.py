"""Every model charlm trains, one module per kind, and what charlm asks of any of them.

- `rnn`: the reference's cells, lstm, gru and rnn (`CharRNN`);
- `transformer`: a small causal Transformer decoder;
- `minrnn`: minGRU and minLSTM, trained as a parallel scan;
- `imported`: the user's own class, named by an import path (file.py:Class, module:Class).

Each kind's module declares the names it builds (`KINDS`) and a `build(vocab_size, cfg,
seq_len, fused)`; a new kind is a new module here (charlm.kinds finds it). Every model charlm
builds is driven the same way: `forward(x, state=None, last_only=False)` on (B, T) character ids
returns (logits (B, T, V), or (B, V) for the last position only, and a state or None), and its
ModelConfig is its `cfg`. A kind whose READS name `width` (transformer, mingru, minlstm) is
sized, unless `width` is set, to the parameter count nearest an LSTM's of hidden_size x
num_layers.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from functools import cache

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from charlm.config import ModelConfig
from charlm.kinds import RECURRENT, has_width, is_import_path, kind_modules
from charlm.models import imported
from charlm.models.rnn import GATES, CharRNN
from charlm.models.rnn import training_flops as rnn_training_flops

__all__ = ["CharRNN", "GATES", "build", "check", "describe", "num_parameters", "resolved",
           "size_mb", "training_flops"]


def kind_module(cell: str):
    """The module that builds a kind (imported for an import path)."""
    if is_import_path(cell):
        return imported
    return importlib.import_module(f"charlm.models.{kind_modules()[cell]}")


@cache
def matched_width(cell: str, vocab_size: int, seq_len: int, hidden_size: int, num_layers: int,
                  heads: int) -> int:
    """The width of a kind whose parameter count is nearest an LSTM's of hidden_size x
    num_layers (counted on the meta device: nothing is allocated)."""
    target = num_parameters(_meta(vocab_size, ModelConfig("lstm", hidden_size, num_layers), 0))
    module = kind_module(cell)
    step = heads if getattr(module, "WIDTH_STEP", None) == "heads" else 1
    base = ModelConfig(cell, hidden_size, num_layers, heads=heads)

    def count(width: int) -> int:
        return num_parameters(_meta(vocab_size, dataclasses.replace(base, width=width), seq_len))

    lo, hi, at_hi = 1, 1, count(step)
    while at_hi < target:  # double the width until the count passes the LSTM's, then bisect
        at_double = count(2 * hi * step)
        if at_double <= at_hi:
            raise ValueError(f"{cell}: its parameter count does not grow with its width "
                             f"({at_hi:,} at width {hi * step} and at {2 * hi * step}), so no "
                             f"width matches the LSTM's {target:,}: build the width into the "
                             "model, or drop 'width' from its READS.")
        lo, hi, at_hi = hi, 2 * hi, at_double
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid * step) < target else (lo, mid)
    return min((lo * step, hi * step), key=lambda w: abs(count(w) - target))


def _meta(vocab_size: int, cfg: ModelConfig, seq_len: int) -> nn.Module:
    with torch.device("meta"):
        return kind_module(cfg.cell).build(vocab_size, cfg, seq_len)


def resolved(cfg: ModelConfig, vocab_size: int, seq_len: int) -> ModelConfig:
    """cfg with its width filled in where its kind has one and cfg leaves it to matching."""
    if cfg.width is not None or not has_width(cfg.cell):
        return cfg
    return dataclasses.replace(cfg, width=matched_width(cfg.cell, vocab_size, seq_len,
                                                        cfg.hidden_size, cfg.num_layers,
                                                        cfg.heads))


def build(vocab_size: int, cfg: ModelConfig, seq_len: int = 20, fused: bool = False):
    """The model a config describes, driven as every charlm model is (module docstring).
    fused: the recurrent cells' fused CPU training layers (the other kinds have none). Its
    `cfg` is the config given (a matched width stays None there: the checkpoint's config)."""
    model = kind_module(cfg.cell).build(vocab_size, resolved(cfg, vocab_size, seq_len), seq_len,
                                        fused)
    model.cfg = cfg
    return model


def check(vocab_size: int, cfg: ModelConfig, seq_len: int) -> None:
    """Refuse, before any training, a model that cannot be built: the user's class is found,
    built from the run's parameters and run on one window (its logits' shape checked)."""
    if not is_import_path(cfg.cell):
        _meta(vocab_size, resolved(cfg, vocab_size, seq_len), seq_len)
        return
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        build(vocab_size, cfg, seq_len)(torch.zeros(1, seq_len, dtype=torch.long))


def training_flops(vocab_size: int, cfg: ModelConfig, batch_size: int, seq_len: int,
                   objective: str) -> float:
    """FLOPs of one training step: 2 per multiply-add of the forward pass, backward twice the
    forward. The recurrent cells are counted by formula (charlm.models.rnn); every other kind
    by torch's FlopCounterMode over one forward pass (its matrix products and attention; the
    character lookup and elementwise work are not counted, as in the formula)."""
    if cfg.cell in RECURRENT:
        return rnn_training_flops(vocab_size, cfg, batch_size, seq_len, objective)
    return 3.0 * batch_size * forward_flops(vocab_size, cfg, seq_len, objective == "last")


def _cpu_attention_flops(query, key, value, *args, out_val=None, **kwargs) -> int:
    """Attention's two products, QK^T and AV, as torch counts them on a GPU (the whole square,
    the causal half included): torch's counter has no formula for the CPU's attention kernel."""
    b, h, t, d = query.shape
    return 2 * 2 * b * h * t * key.shape[-2] * d


_cpu_attention_flops._get_raw = True  # FlopCounterMode passes it the tensors, not their shapes
CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
                 _cpu_attention_flops}


def forward_flops(vocab_size: int, cfg: ModelConfig, seq_len: int, last_only: bool) -> float:
    """FLOPs of one window's forward pass on the CPU, counted by FlopCounterMode."""
    with torch.random.fork_rng(devices=[]):
        model = build(vocab_size, cfg, seq_len).eval()
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as counter, \
            torch.no_grad():
        model(torch.zeros(1, seq_len, dtype=torch.long), last_only=last_only)
    return float(counter.get_total_flops())


def describe(vocab_size: int, cfg: ModelConfig, seq_len: int) -> dict:
    """A model's kind, width, layers, parameters and forward FLOPs per character (every
    position predicted), for the architectures table."""
    with torch.random.fork_rng(devices=[]):
        model = build(vocab_size, cfg, seq_len)
    per_window = (rnn_training_flops(vocab_size, cfg, 1, seq_len, "all") / 3
                  if cfg.cell in RECURRENT else forward_flops(vocab_size, cfg, seq_len, False))
    net = getattr(model, "net", model)  # the user's own module, where charlm adapted one
    user = is_import_path(cfg.cell)  # its width and layers are what it says of itself
    return {"kind": cfg.cell,
            "width": getattr(net, "width", getattr(net, "hidden_size", None if user else
                                                    cfg.hidden_size)),
            "layers": getattr(net, "num_layers", None if user else cfg.num_layers),
            "parameters": num_parameters(model),
            "kFLOPs per char": round(per_window / seq_len / 1e3, 1)}


def _tensors(model: nn.Module | Mapping[str, torch.Tensor]):
    return model.parameters() if isinstance(model, nn.Module) else model.values()


def num_parameters(model: nn.Module | Mapping[str, torch.Tensor]) -> int:
    """Number of parameters of a model, or of its state_dict (CharRNN has no buffers)."""
    return sum(p.numel() for p in _tensors(model))


def size_mb(model: nn.Module | Mapping[str, torch.Tensor]) -> float:
    """Size of the parameters in MB (bytes / 2**20), as the reference reports it."""
    return sum(p.numel() * p.element_size() for p in _tensors(model)) / 2**20

