"""Dataclass configs, validated in one place, each field declared with what it means.

`DataConfig`, `ModelConfig` and `TrainConfig` hold what changes the numbers of one training run;
`Configs` holds the three (what a checkpoint stores and a resumed run must match).
`ExecutionConfig` holds how and where one run executes (device, kernels, evaluation batches): it
never changes the numbers, so a resumed run may change it. Each field's help text is declared
with the field (`param(default, help)` puts it in the field's metadata), and so is whether the
training step reads a run-level field (`trains=True`, charlm.experiment.options). Every entry
point builds configs through these classes, so a bad value is refused the same way everywhere,
with the parameter's name, its value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from charlm.errors import ParameterError
from charlm.kinds import (
    IMPORT_PATH,
    KIND_NAME,
    RECURRENT,
    fields_read,
    has_width,
    is_import_path,
    kinds,
)

CELLS = RECURRENT  # the reference's cells (the train command's --cell)
OBJECTIVES = ("last", "all")
SPLITS = ("random", "contiguous")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "tf32")  # float32 matrix products on a GPU: IEEE, or TensorFloat-32
# the training settings a search (tune_space) may vary; the others define the comparison
TEST_MODELS = ("last", "best")
TUNABLE = ("lr", "batch_size", "grad_clip", "min_lr", "warmup_steps", "dropout")
LOG_EVERY = 50  # steps between the training loop's looks at the loss (its only CUDA host syncs)


def param(default: Any = dataclasses.MISSING, help: str = "", *, factory=None, **meta: Any):
    """A dataclass field with its help text (and any other declared role) in its metadata."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


def field_help(cls: type) -> dict[str, str]:
    """Each field's description, as declared (what `--help` and `report --show` print)."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def field_names(cls: type, **role: Any) -> set[str]:
    """The names of `cls`'s fields, or of those whose metadata declares `role`
    (e.g. trains=True)."""
    return {f.name for f in dataclasses.fields(cls)
            if all(f.metadata.get(k) == v for k, v in role.items())}


def positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"{name}={value!r} is invalid: it must be a positive integer.")


def positive_float(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name}={value!r} is invalid: it must be a positive number.")


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParameterError(
            f"{name}={value!r} is invalid: allowed values are {', '.join(allowed)}."
        )


def integer(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name}={value!r} is invalid: it must be an integer.")


def non_empty_list(name: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)) or not value:
        raise ParameterError(f"{name}={value!r} is invalid: it must be a non-empty list.")


def boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ParameterError(f"{name}={value!r} is invalid: use true or false (True and False "
                             "work too).")


@dataclass
class DataConfig:
    """Which text, how it is cut into windows and how the windows are split."""

    corpus: str = param("", '"" = Tiny Shakespeare (data/ or $CHARLM_DATA); else a UTF-8 text '
                        "file")
    seq_len: int = param(20, "characters in a window; the model predicts the one after it")
    train_frac: float = param(0.8, "share of the windows for training (the rest: test)")
    val_frac: float = param(0.0, "share of the training windows held out for validation "
                            "(per-epoch curves, every choice); 0 = none, the reference's 80/20")
    split: str = param("random", '"random": seeded shuffle (the reference); "contiguous": '
                       "held-out text")
    split_seed: int = param(0, "seed of the random split")
    max_chars: int | None = param(None, "use only the first max_chars characters (small "
                                  "profiles)")

    def __post_init__(self) -> None:
        if not isinstance(self.corpus, str):
            raise ParameterError(f"corpus={self.corpus!r} is invalid: it must be a path string.")
        positive_int("seq_len", self.seq_len)
        ok = isinstance(self.train_frac, (int, float)) and not isinstance(self.train_frac, bool)
        if not ok or not 0 < self.train_frac < 1:
            raise ParameterError(
                f"train_frac={self.train_frac!r} is invalid: it must lie strictly between 0 and 1."
            )
        ok = isinstance(self.val_frac, (int, float)) and not isinstance(self.val_frac, bool)
        if not ok or not 0 <= self.val_frac < 1:
            raise ParameterError(
                f"val_frac={self.val_frac!r} is invalid: it must be at least 0 and below 1 (the "
                "share of the training windows held out for validation; 0 = no validation set)."
            )
        choice("split", self.split, SPLITS)
        integer("split_seed", self.split_seed)
        positive_int("max_chars", self.max_chars, allow_none=True)


@dataclass
class ModelConfig:
    """The network: its kind and size (vocab_size comes from the data, seq_len too)."""

    cell: str = param("lstm", f"the model's kind: {' | '.join(kinds())}, or your class, "
                      "package.module:Class or file.py:Class (the run's models name their own)")
    hidden_size: int = param(128, "units per recurrent layer (lstm, gru, rnn); the other kinds "
                             "match the parameters of an LSTM of this size unless width is set")
    num_layers: int = param(2, "stacked layers (recurrent layers, Transformer blocks)")
    dropout: float = param(0.0, "dropout on each recurrent layer's output, the top one before "
                           "the head included (char-rnn's); 0 = none (the reference)")
    width: int | None = param(None, "transformer, mingru, minlstm: the model width; None = the "
                              "width whose parameter count is nearest an LSTM's of hidden_size "
                              "x num_layers (-h<width> in a model name sets it)")
    heads: int = param(4, "transformer: attention heads (the width is a multiple of them)")
    model_args: dict = param(help="your class's other keyword arguments, by name (e.g. "
                             "{'kernel': 3}); vocab_size, seq_len and the fields above are "
                             "filled in where its constructor declares them", factory=dict)

    def __post_init__(self) -> None:
        if not is_import_path(self.cell):
            choice("cell", self.cell, kinds())
        positive_int("hidden_size", self.hidden_size)
        positive_int("num_layers", self.num_layers)
        positive_int("width", self.width, allow_none=True)
        positive_int("heads", self.heads)
        if not isinstance(self.model_args, dict) or not all(
                isinstance(k, str) and k.isidentifier() for k in self.model_args):
            raise ParameterError(f"model_args={self.model_args!r} is invalid: a dict of keyword "
                                 "argument name -> value, e.g. {'kernel': 3}.")
        ok = isinstance(self.dropout, (int, float)) and not isinstance(self.dropout, bool)
        if not ok or not 0 <= self.dropout < 1:
            raise ParameterError(f"dropout={self.dropout!r} is invalid: it must be at least 0 "
                                 "and below 1 (the share of units zeroed in training).")


@dataclass
class TrainConfig:
    """How a model is trained: only what changes the numbers; the defaults are the reference's."""

    epochs: int = param(30, "passes over the training windows (or max_steps each)")
    batch_size: int = param(128, "windows per optimizer step")
    lr: float = param(1e-3, "Adam's (peak) learning rate")
    min_lr: float | None = param(None, "None: constant lr (the reference); else cosine decay to "
                                 "min_lr")
    warmup_steps: int = param(0, "steps of linear warm-up to lr")
    objective: str = param("last", '"last": many-to-one (the reference); "all": every position')
    grad_clip: float | None = param(None, "clip the gradient norm to this; None = never")
    seed: int = param(0, "initialisation and data order (the run's seeds set it)")
    max_steps: int | None = param(None, "cap on optimizer steps per epoch (small profiles)")
    eval_windows: int | None = param(None, "per-epoch validation on this many windows; None = "
                                     "all")
    test_model: str = param("last", 'the model the test set scores: "last" (the final epoch\'s, '
                            'the reference) or "best" (the epoch of lowest validation loss)')

    def __post_init__(self) -> None:
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_float("lr", self.lr)
        positive_float("min_lr", self.min_lr, allow_none=True)
        integer("warmup_steps", self.warmup_steps)
        if self.warmup_steps < 0:
            raise ParameterError(
                f"warmup_steps={self.warmup_steps!r} is invalid: it must be an integer >= 0."
            )
        choice("objective", self.objective, OBJECTIVES)
        choice("test_model", self.test_model, TEST_MODELS)
        positive_float("grad_clip", self.grad_clip, allow_none=True)
        integer("seed", self.seed)
        positive_int("max_steps", self.max_steps, allow_none=True)
        positive_int("eval_windows", self.eval_windows, allow_none=True)


@dataclass
class ExecutionConfig:
    """How and where one training run executes: the numbers only as float rounding does, so a
    resumed run may change any of these (precision=tf32 rounds more coarsely, and the run's
    environment record says which precision it ran with)."""

    device: str = param("auto", "auto (CUDA, else MPS, else CPU) | cpu | cuda | mps")
    eval_batch_size: int = param(4096, "windows per evaluation batch (memory, not numbers)")
    fused: bool = param(True, "charlm's fused recurrent kernels on CPU (same numbers, less "
                        "time)")
    deterministic: bool = param(False, "CUDA: ask for deterministic algorithms")
    precision: str = param(
        "fp32", "CUDA float32 products, cuDNN's recurrent kernels included: fp32 (IEEE, the "
        "faithful protocol) | tf32 (TensorFloat-32: faster on recent GPUs, ~3 digits)")
    compile_step: bool = param(
        False, "CUDA, batched: torch.compile the stacked step's forward and loss (fused "
        "elementwise kernels; compile time up front)")

    def __post_init__(self) -> None:
        choice("device", self.device, DEVICES)
        positive_int("eval_batch_size", self.eval_batch_size)
        choice("precision", self.precision, PRECISIONS)
        for name in ("fused", "deterministic", "compile_step"):
            boolean(name, getattr(self, name))


@dataclass(frozen=True)
class Configs:
    """The three configs of one training run: what a checkpoint stores and resumes from."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    CLASSES = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

    @classmethod
    def names(cls) -> set[str]:
        """Every field name of the three configs (they are distinct)."""
        return set().union(*(field_names(c) for c in cls.CLASSES.values()))

    @classmethod
    def from_flat(cls, params: dict[str, Any]) -> Configs:
        """From one flat dict of fields; a name that belongs to no config is refused."""
        unknown = sorted(set(params) - cls.names())
        if unknown:
            raise ParameterError(
                f"unknown parameter(s): {', '.join(unknown)}. "
                f"Known parameters: {', '.join(sorted(cls.names()))}."
            )
        return cls(**{key: c(**{k: v for k, v in params.items() if k in field_names(c)})
                      for key, c in cls.CLASSES.items()})

    @classmethod
    def from_dict(cls, nested: dict[str, dict]) -> Configs:
        """From {"data": {...}, "model": {...}, "train": {...}}, as to_dict() writes it. The
        execution fields that checkpoints of charlm 0.1 stored under "train" are dropped."""
        return cls(**{key: c(**{k: v for k, v in nested[key].items() if k in field_names(c)
                                or k not in field_names(ExecutionConfig)})
                      for key, c in cls.CLASSES.items()})

    def to_dict(self) -> dict[str, dict]:
        return {key: dataclasses.asdict(getattr(self, key)) for key in self.CLASSES}


def setting_part(key: str) -> type:
    """The config a searchable setting (TUNABLE) belongs to."""
    return ModelConfig if key in field_names(ModelConfig) else TrainConfig


def parse_model_name(name: str, base: ModelConfig | None = None):
    """A model name -> (ModelConfig, split or None).

    "lstm": the kind with the run's sizes; "gru-h149": hidden size 149 (for transformer, mingru
    and minlstm, -h sets the width); "lstm@contiguous": trained and tested on that split instead
    of the run's; "examples/my_cell.py:MyCell" or "package.module:MyCell": the user's class.
    """
    base = base or ModelConfig()
    path = re.fullmatch(rf"({IMPORT_PATH.pattern})(?:@([a-z]+))?", str(name))
    m = None if path else re.fullmatch(rf"({KIND_NAME.pattern})(?:-h(\d+))?(?:@([a-z]+))?",
                                       str(name))
    split = path.group(path.lastindex) if path and path.lastindex > 3 else m and m.group(3)
    if (not (path or m) or (m and m.group(1) not in kinds())
            or (split and split not in SPLITS)):
        raise ParameterError(
            f"model name {name!r} is invalid: use a kind ({', '.join(kinds())}), optionally "
            f"followed by -h<size> and @<split> ({', '.join(SPLITS)}), e.g. gru-h149, "
            "lstm@contiguous; or your class as file.py:Class or package.module:Class."
        )
    size = {} if path or not m.group(2) else {
        "width" if has_width(m.group(1)) else "hidden_size": int(m.group(2))}
    cell = path.group(1) if path else m.group(1)
    # the fields a kind never reads keep their defaults, so that changing one (heads, say)
    # leaves the models that ignore it trained (their checkpoints' configs still match)
    reads = fields_read(cell)
    unread = {} if reads is None else {
        f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
        for f in dataclasses.fields(ModelConfig) if f.name != "cell" and f.name not in reads}
    return dataclasses.replace(base, cell=cell, **{**unread, **size}), split or None
