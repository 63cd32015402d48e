"""Dataclass configs, validated in one place: one model's three configs and the run's own.

`DataConfig`, `ModelConfig` and `TrainConfig` describe one training run; `Configs` holds the three
(what a checkpoint stores). `RunConfig` holds what belongs to a whole comparison: the models, the
seeds, the comparisons and the generation settings. Every entry point (command line, pipeline,
notebooks) builds them through these classes, so a bad value is refused the same way everywhere,
with the parameter's name, its value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from charlm import reference
from charlm.errors import ParameterError

CELLS = ("lstm", "gru", "rnn")
OBJECTIVES = ("last", "all")
SPLITS = ("random", "contiguous")
DEVICES = ("auto", "cpu", "cuda", "mps")
EXECUTORS = ("local", "ray")
# the training settings a search (tune_space) may vary; the others define the comparison
TUNABLE = ("lr", "batch_size", "grad_clip", "min_lr", "warmup_steps")


def field_help(cls) -> dict[str, str]:
    """Each field's description: its comment in the class's source, inline, else the comment
    lines right above it (what `charlm report --show` prints beside each value)."""
    import inspect

    helps, above = {}, []
    for line in inspect.getsource(cls).splitlines():
        text = line.strip()
        if text.startswith("#"):
            above.append(text.lstrip("#").strip())
            continue
        match = re.match(r"    (\w+): [^=]+=", line)
        if match:
            inline = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            helps[match.group(1)] = " ".join([*above, inline]).strip()
        above = []
    return helps


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


def _non_empty_list(name: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)) or not value:
        raise ParameterError(f"{name}={value!r} is invalid: it must be a non-empty list.")


@dataclass
class DataConfig:
    """Which text, how it is cut into windows and how the windows are split."""

    corpus: str = ""  # "" = Tiny Shakespeare (data/ or $CHARLM_DATA); else a UTF-8 text file
    seq_len: int = 20  # characters in a window; the model predicts the one after it
    train_frac: float = 0.8  # share of the windows for training (the rest: test)
    # share of the training windows held out for validation (per-epoch curves, every choice);
    # 0 = none, the reference's 80/20
    val_frac: float = 0.0
    split: str = "random"  # "random": seeded shuffle (the reference); "contiguous": held-out text
    split_seed: int = 0  # seed of the random split
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
        ok = isinstance(self.val_frac, (int, float)) and not isinstance(self.val_frac, bool)
        if not ok or not 0 <= self.val_frac < 1:
            raise ParameterError(
                f"val_frac={self.val_frac!r} is invalid: it must be at least 0 and below 1 (the "
                "share of the training windows held out for validation; 0 = no validation set)."
            )
        _choice("split", self.split, SPLITS)
        _integer("split_seed", self.split_seed)
        _positive_int("max_chars", self.max_chars, allow_none=True)


@dataclass
class ModelConfig:
    """The recurrent network: cell type and size (vocab_size comes from the data)."""

    cell: str = "lstm"  # lstm | gru | rnn (the run's models name their own)
    hidden_size: int = 128  # units per recurrent layer
    num_layers: int = 2  # stacked recurrent layers

    def __post_init__(self) -> None:
        _choice("cell", self.cell, CELLS)
        _positive_int("hidden_size", self.hidden_size)
        _positive_int("num_layers", self.num_layers)


@dataclass
class TrainConfig:
    """How a model is trained; the defaults are the reference's setting."""

    epochs: int = 30  # passes over the training windows (or max_steps each)
    batch_size: int = 128  # windows per optimizer step
    lr: float = 1e-3  # Adam's (peak) learning rate
    min_lr: float | None = None  # None: constant lr (the reference); else cosine decay to min_lr
    warmup_steps: int = 0  # steps of linear warm-up to lr
    objective: str = "last"  # "last": many-to-one (the reference); "all": every position
    grad_clip: float | None = None  # clip the gradient norm to this; None = never
    seed: int = 0  # initialisation and data order (the run's seeds set it)
    device: str = "auto"  # auto (CUDA, else MPS, else CPU) | cpu | cuda | mps
    max_steps: int | None = None  # cap on optimizer steps per epoch (small profiles)
    eval_windows: int | None = None  # per-epoch validation on this many windows; None = all
    eval_batch_size: int = 4096  # windows per evaluation batch (memory, not numbers)
    fused: bool = True  # charlm's fused recurrent kernels on CPU (same numbers, less time)
    deterministic: bool = False  # CUDA: ask for deterministic algorithms

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_float("lr", self.lr)
        _positive_float("min_lr", self.min_lr, allow_none=True)
        _integer("warmup_steps", self.warmup_steps)
        if self.warmup_steps < 0:
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


def field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


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
        """From {"data": {...}, "model": {...}, "train": {...}}, as to_dict() writes it."""
        return cls(**{key: c(**nested[key]) for key, c in cls.CLASSES.items()})

    def to_dict(self) -> dict[str, dict]:
        return {key: dataclasses.asdict(getattr(self, key)) for key in self.CLASSES}


def parse_model_name(name: str, base: ModelConfig | None = None):
    """A model name -> (ModelConfig, split or None).

    "lstm": the cell with the run's sizes; "gru-h149": hidden size 149; "lstm@contiguous": trained
    and tested on that split instead of the run's.
    """
    base = base or ModelConfig()
    m = re.fullmatch(r"([a-z]+)(?:-h(\d+))?(?:@([a-z]+))?", str(name))
    if not m or m.group(1) not in CELLS or (m.group(3) and m.group(3) not in SPLITS):
        raise ParameterError(
            f"model name {name!r} is invalid: use a cell ({', '.join(CELLS)}), optionally "
            f"followed by -h<hidden_size> and @<split> ({', '.join(SPLITS)}), e.g. gru-h149, "
            "lstm@contiguous."
        )
    hidden = int(m.group(2)) if m.group(2) else base.hidden_size
    return ModelConfig(cell=m.group(1), hidden_size=hidden, num_layers=base.num_layers), m.group(3)


@dataclass
class RunConfig:
    """What a whole run compares: models, seeds, extra pairs, and what it generates."""

    # model names: a cell, optionally -h<hidden size> and @<split> (gru-h149, lstm@contiguous)
    models: list = field(default_factory=lambda: list(reference.MODELS))
    seeds: list = field(default_factory=lambda: [0])  # each model is trained once per seed
    # seeds trained at the same time, each in a process with its share of the CPU threads: no
    # gain on a 2-core CPU (benchmarks/results/seeds.md); for many cores or a GPU
    jobs: int = 1
    # the seeds of a model trained as one stacked computation (charlm/group.py): None = on CUDA
    # (one small model leaves a GPU idle), off on a CPU (no gain on 2 cores)
    batched: bool | None = None
    # what the samples start from; the default (the reference's) drops what the corpus lacks
    prompts: list = field(default_factory=lambda: [reference.PROMPT])
    temperatures: list = field(default_factory=lambda: [0.5, 0.8, 1.0])  # of the samples
    gen_length: int = 200  # characters generated per sample
    gen_seed: int = 0  # sampling seed of the samples
    pairs: list = field(default_factory=list)  # [A, B] pairs compared beyond the first two models
    # each seed its own random split (split_seed + seed), so that intervals over seeds cover the
    # choice of test windows too, not only initialisation and data order on one test set
    split_per_seed: bool = False
    # where training runs execute: "local" (this process, `jobs` seeds at a time) or "ray"
    # (every run, a trial or one model and seed, a Ray task; see charlm/executor.py)
    executor: str = "local"
    # with executor=ray: "" starts a local Ray instance, "auto" joins the cluster running on
    # this machine (ray start), "ray://host:10001" connects to a remote one
    ray_address: str = ""
    # Ray resources of one training run: CPUs (its torch threads; None: a local run's thread
    # count here, so that its numbers equal a local run's; 1 runs more at once, rounded a
    # little differently) ...
    cpus_per_run: float | None = None
    gpus_per_run: float | None = None  # ... and GPUs; None: 0.25 where the cluster has GPUs
    # the search before training: {training setting: [values]}; every combination is tried per
    # model, scored on validation, and each model trains at its best; {} = no search
    tune_space: dict = field(default_factory=dict)
    tune_seeds: list = field(default_factory=lambda: [100])  # each combination, once per seed

    def __post_init__(self) -> None:
        for key in ("models", "seeds", "prompts", "temperatures", "tune_seeds"):
            _non_empty_list(key, getattr(self, key))
        if len(self.models) < 2:
            raise ParameterError(f"models={self.models!r} is invalid: a comparison needs two.")
        for name in self.models:
            parse_model_name(name)
        for s in self.seeds:
            _integer("seeds", s)
        if len(set(self.seeds)) != len(self.seeds) or len(set(self.models)) != len(self.models):
            raise ParameterError("seeds and models must not repeat.")
        _positive_int("jobs", self.jobs)
        if self.batched not in (None, True, False):
            raise ParameterError(f"batched={self.batched!r} is invalid: use true, false or None "
                                 "(on CUDA only).")
        for pair in self.pairs:
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not set(pair) <= set(self.models)):
                raise ParameterError(f"pairs: {pair!r} is invalid: each pair is two of the "
                                     f"models {self.models}.")
        for t in self.temperatures:
            _positive_float("temperatures", t)
        for p in self.prompts:
            if not isinstance(p, str) or not p:
                raise ParameterError(f"prompts: {p!r} is invalid: each is a non-empty string.")
        if not isinstance(self.split_per_seed, bool):
            raise ParameterError(f"split_per_seed={self.split_per_seed!r} is invalid: use true or "
                                 "false.")
        if self.split_per_seed and self.batched:
            raise ParameterError("batched=true trains the seeds of a model on one split, "
                                 "split_per_seed=true gives each seed its own: drop one of them.")
        _positive_int("gen_length", self.gen_length)
        _integer("gen_seed", self.gen_seed)
        self._check_executor()
        self._check_tuning()

    def _check_executor(self) -> None:
        _choice("executor", self.executor, EXECUTORS)
        address = self.ray_address
        if not isinstance(address, str) or not (
                address in ("", "auto") or address.startswith("ray://")
                or re.fullmatch(r"[\w.-]+:\d+", address)):
            raise ParameterError(
                f"ray_address={address!r} is invalid: use \"\" (a local Ray instance), \"auto\" "
                "(the cluster started on this machine with ray start), ray://host:10001 (a "
                "remote cluster) or the head's host:port."
            )
        _positive_float("cpus_per_run", self.cpus_per_run, allow_none=True)
        gpus = self.gpus_per_run
        if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, (int, float))
                                 or not 0 <= gpus or not math.isfinite(gpus)):
            raise ParameterError(f"gpus_per_run={gpus!r} is invalid: a number >= 0 (a fraction "
                                 "lets several runs share a GPU), or None.")
        for name in ("cpus_per_run", "gpus_per_run"):  # Ray's rule for resources
            value = getattr(self, name)
            if value is not None and value > 1 and value != int(value):
                raise ParameterError(f"{name}={value!r} is invalid: above 1 it must be a whole "
                                     "number (Ray splits only single CPUs and GPUs).")
        if self.executor == "ray" and self.jobs != 1:
            raise ParameterError(
                f"jobs={self.jobs} is the local executor's: with executor=ray, Ray runs as many "
                "training runs at once as the cluster has resources for (cpus_per_run, "
                "gpus_per_run each). Drop jobs."
            )
        if self.executor == "ray" and self.batched:
            raise ParameterError(
                "batched=true trains the seeds of a model as one computation in this process; "
                "executor=ray makes each seed its own Ray task. Drop one of them."
            )

    def _check_tuning(self) -> None:
        if self.split_per_seed and self.tune_space:
            raise ParameterError(
                "tune_space chooses on one split's validation windows; with split_per_seed=true "
                "some of them are other seeds' test windows. Drop one of them."
            )
        if not isinstance(self.tune_space, dict):
            raise ParameterError(f"tune_space={self.tune_space!r} is invalid: a dict of setting "
                                 "-> list of values, e.g. {'lr': [0.005, 0.01, 0.02]}.")
        for key, values in self.tune_space.items():
            if key not in TUNABLE:
                raise ParameterError(
                    f"tune_space: {key!r} cannot be searched: choose among {', '.join(TUNABLE)} "
                    "(the other settings define what is compared)."
                )
            _non_empty_list(f"tune_space[{key!r}]", values)
            if len(set(map(repr, values))) != len(values):
                raise ParameterError(f"tune_space[{key!r}]={values!r} repeats a value.")
            for value in values:
                TrainConfig(**{key: value})  # refused as the setting itself would be
        # as the run folder stores it (tuples as lists), so that a resolved run equals a stored one
        self.tune_space = json.loads(json.dumps(self.tune_space))
        self.tune_seeds = list(self.tune_seeds)
        for s in self.tune_seeds:
            _integer("tune_seeds", s)
        if len(set(self.tune_seeds)) != len(self.tune_seeds):
            raise ParameterError("tune_seeds must not repeat.")
