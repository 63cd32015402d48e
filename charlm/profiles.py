"""Named profiles of parameters, and the one place where a run's parameters are resolved.

A profile is a flat dict of literals: the fields of DataConfig, ModelConfig and TrainConfig plus
the run-level parameters below. Any single parameter can be overridden (`-p key=value`).
"""

from __future__ import annotations

import ast
import dataclasses
import re
import types
from typing import Any

import torch

from charlm.config import CELLS, SPLITS, ModelConfig, split_params
from charlm.errors import ParameterError

# Run-level parameters (not part of one model's configs).
RUN_PARAMS = {
    "models": ["lstm", "gru"],  # model names: a cell, optionally "-h<hidden_size>" (gru-h149)
    "seeds": [0],  # each model is trained once per seed
    # seeds trained at the same time, each in a process with its share of the CPU threads: no
    # gain on a 2-core CPU (benchmarks/results/seeds.md); for many cores or a GPU
    "jobs": 1,
    "prompts": ["The quick brown fox jumps over the lazy dog"],
    "temperatures": [0.5, 0.8, 1.0],
    "gen_length": 200,
    "gen_seed": 0,
    "pairs": [],  # further [A, B] model pairs to compare beyond the first two models
}

REFERENCE = {  # the reference report's setting (DataConfig/TrainConfig defaults are the same)
    "objective": "last",
    "split": "random",
    "epochs": 30,
    "batch_size": 128,
    "lr": 1e-3,
}

PROFILES: dict[str, dict[str, Any]] = {
    # the whole chain in about a minute on a CPU: a slice of the corpus, a few steps
    "smoke": {
        "max_chars": 40_000, "epochs": 2, "max_steps": 15, "batch_size": 128, "lr": 1e-2,
        "objective": "all", "eval_windows": 1000, "seeds": [0, 1], "gen_length": 60,
        "temperatures": [0.8],
        "models": ["lstm", "gru", "gru-h149", "rnn", "lstm@contiguous"],
        "pairs": [["lstm", "rnn"], ["lstm@contiguous", "lstm"]],
    },
    # the CPU default: the reference's test loss in minutes (see benchmarks/results/)
    "fast": {
        # the CPU default: as close to the reference's test loss as about 5 minutes of training
        # per model allow on a 2-core CPU (benchmarks/results/): every position trains, small
        # batches, a high peak learning rate with clipping, cosine decay over the whole budget
        "objective": "all", "batch_size": 128, "lr": 1e-2, "min_lr": 1e-4, "warmup_steps": 200,
        "grad_clip": 1.0, "epochs": 5, "max_steps": 1000, "eval_windows": 20_000,
    },
    # the reference, faithfully: meant for a GPU (hours on a CPU)
    "seed": {**REFERENCE, "eval_windows": 20_000},
    # several seeds and models: the statistics
    "study": {
        # the fast recipe on a shorter budget (2,000 steps), for 6 models x 3 seeds
        "objective": "all", "batch_size": 128, "lr": 1e-2, "min_lr": 1e-4, "warmup_steps": 200,
        "grad_clip": 1.0, "epochs": 4, "max_steps": 500, "eval_windows": 10_000,
        "models": ["lstm", "gru", "gru-h149", "rnn", "lstm@contiguous", "gru@contiguous"],
        "seeds": [0, 1, 2],
        "pairs": [["lstm", "gru-h149"], ["lstm", "rnn"], ["gru", "rnn"],
                  ["lstm@contiguous", "gru@contiguous"], ["lstm@contiguous", "lstm"],
                  ["gru@contiguous", "gru"]],
    },
}
PROFILE_NAMES = (*PROFILES, "auto")


def auto_profile() -> str:
    return "seed" if torch.cuda.is_available() else "fast"


def profile_params(profile: str) -> dict[str, Any]:
    """The parameters of a named profile (auto: seed on CUDA, else fast), run-level included."""
    if profile == "auto":
        profile = auto_profile()
    if profile not in PROFILES:
        raise ParameterError(
            f"profile={profile!r} is unknown: choose one of {', '.join(PROFILE_NAMES)}."
        )
    return {**RUN_PARAMS, **PROFILES[profile]}


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


def _check_run_params(p: dict[str, Any]) -> None:
    for key in ("models", "seeds", "prompts", "temperatures"):
        if not isinstance(p[key], (list, tuple)) or not p[key]:
            raise ParameterError(f"{key}={p[key]!r} is invalid: it must be a non-empty list.")
    if len(p["models"]) < 2:
        raise ParameterError(f"models={p['models']!r} is invalid: a comparison needs two or more.")
    for name in p["models"]:
        parse_model_name(name)
    for s in p["seeds"]:
        if isinstance(s, bool) or not isinstance(s, int):
            raise ParameterError(f"seeds={p['seeds']!r} is invalid: seeds must be integers.")
    if len(set(p["seeds"])) != len(p["seeds"]) or len(set(p["models"])) != len(p["models"]):
        raise ParameterError("seeds and models must not repeat.")
    if isinstance(p["jobs"], bool) or not isinstance(p["jobs"], int) or p["jobs"] < 1:
        raise ParameterError(f"jobs={p['jobs']!r} is invalid: use a whole number >= 1.")
    for pair in p["pairs"]:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not set(pair) <= set(
            p["models"]
        ):
            raise ParameterError(f"pairs: {pair!r} is invalid: each pair is two of the models "
                                 f"{p['models']}.")
    for t in p["temperatures"]:
        if not isinstance(t, (int, float)) or t <= 0:
            raise ParameterError(f"temperatures={p['temperatures']!r}: each must be > 0.")


def resolve(profile: str = "auto", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Profile + overrides -> validated flat parameters (unknown names are refused).

    Returns the flat dict, with "profile" set to the resolved profile name.
    """
    resolved = auto_profile() if profile == "auto" else profile
    params = {**profile_params(profile), **(overrides or {})}
    split_params(params, extra=set(RUN_PARAMS))  # validates every config field and name
    _check_run_params(params)
    return {**params, "profile": resolved}


def configs(params: dict[str, Any], model: str | None = None, seed: int | None = None) -> dict:
    """DataConfig/ModelConfig/TrainConfig for one model and seed of a resolved run."""
    params = {k: v for k, v in params.items() if k != "profile"}
    out = split_params(params, extra=set(RUN_PARAMS))
    if model is not None:
        out["model"], split = parse_model_name(model, out["model"])
        if split:
            out["data"] = dataclasses.replace(out["data"], split=split)
    if seed is not None:
        out["train"] = dataclasses.replace(out["train"], seed=seed)
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """'key=value' from the command line; the value is read as a Python literal if it is one."""
    if "=" not in text:
        raise ParameterError(f"-p {text!r} is invalid: write -p key=value.")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip().replace("-", "_"), value


def notebook_params(namespace: dict[str, Any], declared: list[str]) -> dict[str, Any]:
    """Resolve a notebook's run parameters from its globals().

    papermill only warns about a parameter the notebook does not declare (`-p epochs 3` would
    be silently ignored); this refuses it, naming what the notebook takes instead.
    """
    unknown = sorted(
        k for k, v in namespace.items()
        if not k.startswith("_") and k not in declared and k not in ("In", "Out")
        and not isinstance(v, types.ModuleType) and not callable(v)
    )
    if unknown:
        raise ParameterError(
            f"unknown notebook parameter(s): {', '.join(unknown)}. This notebook takes "
            f"{', '.join(declared)}; pass any other parameter inside overrides, e.g. "
            f"-p overrides '{{\"{unknown[0]}\": ...}}'."
        )
    return resolve(namespace["profile"], namespace["overrides"])
