"""Dataclass configs for data, model and training, validated in one place.

Every entry point (command line, pipeline, notebooks) builds its configs through these classes,
so a bad value is refused the same way everywhere, with the parameter's name, its value and what
is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from charlm.errors import ParameterError

CELLS = ("lstm", "gru", "rnn")
OBJECTIVES = ("last", "all")
SPLITS = ("random", "contiguous")
DEVICES = ("auto", "cpu", "cuda")


def _positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"{name}={value!r} is invalid: it must be a positive integer.")


def _positive_float(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name}={value!r} is invalid: it must be a positive number.")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParameterError(
            f"{name}={value!r} is invalid: allowed values are {', '.join(allowed)}."
        )


def _integer(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name}={value!r} is invalid: it must be an integer.")


@dataclass
class DataConfig:
    """Which text, how it is cut into windows and how the windows are split."""

    corpus: str = ""  # "" = Tiny Shakespeare (data/ or $CHARLM_DATA); else a UTF-8 text file
    seq_len: int = 20
    train_frac: float = 0.8
    split: str = "random"  # "random": seeded shuffle (the reference); "contiguous": held-out text
    split_seed: int = 0
    max_chars: int | None = None  # use only the first max_chars characters (small profiles)

    def __post_init__(self) -> None:
        if not isinstance(self.corpus, str):
            raise ParameterError(f"corpus={self.corpus!r} is invalid: it must be a path string.")
        _positive_int("seq_len", self.seq_len)
        ok = isinstance(self.train_frac, (int, float)) and not isinstance(self.train_frac, bool)
        if not ok or not 0 < self.train_frac < 1:
            raise ParameterError(
                f"train_frac={self.train_frac!r} is invalid: it must lie strictly between 0 and 1."
            )
        _choice("split", self.split, SPLITS)
        _integer("split_seed", self.split_seed)
        _positive_int("max_chars", self.max_chars, allow_none=True)


@dataclass
class ModelConfig:
    """The recurrent network: cell type and size (vocab_size comes from the data)."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 2

    def __post_init__(self) -> None:
        _choice("cell", self.cell, CELLS)
        _positive_int("hidden_size", self.hidden_size)
        _positive_int("num_layers", self.num_layers)


@dataclass
class TrainConfig:
    """How a model is trained; the defaults are the reference's setting."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    min_lr: float | None = None  # None: constant lr (the reference); else cosine decay to min_lr
    warmup_steps: int = 0
    objective: str = "last"  # "last": many-to-one (the reference); "all": every position
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    max_steps: int | None = None  # cap on optimizer steps per epoch (small profiles)
    eval_windows: int | None = None  # per-epoch evaluation on this many test windows; None = all
    eval_batch_size: int = 4096
    fused: bool = True  # charlm's fused recurrent kernels on CPU (same numbers, less time)
    deterministic: bool = False  # CUDA: ask for deterministic algorithms

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_float("lr", self.lr)
        _positive_float("min_lr", self.min_lr, allow_none=True)
        if (
            isinstance(self.warmup_steps, bool)
            or not isinstance(self.warmup_steps, int)
            or (self.warmup_steps < 0)
        ):
            raise ParameterError(
                f"warmup_steps={self.warmup_steps!r} is invalid: it must be an integer >= 0."
            )
        _choice("objective", self.objective, OBJECTIVES)
        _positive_float("grad_clip", self.grad_clip, allow_none=True)
        _integer("seed", self.seed)
        _choice("device", self.device, DEVICES)
        _positive_int("max_steps", self.max_steps, allow_none=True)
        _positive_int("eval_windows", self.eval_windows, allow_none=True)
        _positive_int("eval_batch_size", self.eval_batch_size)
        for name in ("fused", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(
                    f"{name}={getattr(self, name)!r} is invalid: use true or false."
                )


CONFIG_CLASSES = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def split_params(params: dict[str, Any], extra: set[str] = frozenset()) -> dict[str, Any]:
    """Build the three configs from one flat dict of parameters.

    Returns {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, **extras}.
    Names that belong to no config and are not in `extra` are refused.
    """
    known = set(extra)
    for cls in CONFIG_CLASSES.values():
        known |= field_names(cls)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(
            f"unknown parameter(s): {', '.join(unknown)}. "
            f"Known parameters: {', '.join(sorted(known))}."
        )
    out: dict[str, Any] = {k: v for k, v in params.items() if k in extra}
    for key, cls in CONFIG_CLASSES.items():
        names = field_names(cls)
        out[key] = cls(**{k: v for k, v in params.items() if k in names})
    return out
