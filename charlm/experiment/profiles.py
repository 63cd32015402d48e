"""Named profiles (flat dicts of literals, each a field of one of the run's configs), and
resolving one with overrides into a validated RunSpec.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from charlm import reference
from charlm.config import field_help
from charlm.device import available_device
from charlm.errors import ParameterError
from charlm.experiment.spec import PARTS, RunSpec

# The fast recipe (tuned for a 2-core CPU, see benchmarks/results/): every position trains, small
# batches, a high peak learning rate with clipping, cosine decay over the whole budget.
_FAST_RECIPE = {
    "val_frac": 0.1, "objective": "all", "batch_size": 128, "lr": 1e-2, "min_lr": 1e-4,
    "warmup_steps": 200, "grad_clip": 1.0,
}

PROFILES: dict[str, dict[str, Any]] = {
    # the whole chain in a couple of minutes on a CPU: a slice of the corpus, a few steps
    "smoke": {
        "max_chars": 40_000, "val_frac": 0.1, "epochs": 2, "max_steps": 15, "batch_size": 128,
        "lr": 1e-2, "objective": "all", "eval_windows": 1000, "seeds": [0, 1], "gen_length": 60,
        "temperatures": [0.8],
        "models": ["lstm", "gru", "gru-h149", "rnn", "lstm@contiguous"],
        "pairs": [["lstm", "rnn"], ["lstm@contiguous", "lstm"]],
        "tune_space": {"lr": [1e-2, 3e-2]}, "tune_seeds": [100],
    },
    # the CPU default: as close to the reference's test loss as about 5 minutes of training
    # per model allow on a 2-core CPU, each model at the learning rate the committed `tune` run
    # chose for it on validation (benchmarks/results/tune/, its choice: the LSTM 2e-2 with mean
    # validation loss 1.3605 over 2 seeds, the GRU 1e-2 with 1.3718)
    "fast": {**_FAST_RECIPE, "epochs": 5, "max_steps": 1000, "eval_windows": 20_000,
             "per_model": {"lstm": {"lr": 2e-2}, "gru": {"lr": 1e-2}},
             "per_model_source": "the `tune` profile's search on validation "
                                 "(benchmarks/results/tune/)"},
    # the reference, faithfully (its 80/20 split, no validation set), with 5 seeds per model so
    # that verdicts rest on seeds: meant for a GPU, where the seeds of a model train as one
    # computation (hours on a CPU)
    "reference": {**reference.SETTING, "eval_windows": 20_000, "seeds": [0, 1, 2, 3, 4]},
    # several seeds and models, the statistics: the fast recipe at the fast budget (where both
    # cells reach the reference's quality, so verdicts are on what they learn, not on how fast),
    # 6 seeds (the fewest for which an exact sign-flip p can go below 0.05)
    "study": {
        **_FAST_RECIPE, "epochs": 5, "max_steps": 1000, "eval_windows": 20_000,
        "models": ["lstm", "gru", "gru-h149", "rnn", "lstm@contiguous", "gru@contiguous"],
        "seeds": [0, 1, 2, 3, 4, 5],
        "pairs": [["lstm", "gru-h149"], ["lstm", "rnn"], ["gru", "rnn"],
                  ["lstm@contiguous", "gru@contiguous"], ["lstm@contiguous", "lstm"],
                  ["gru@contiguous", "gru"]],
    },
    # each architecture at its own best learning rate, chosen on validation (2 seeds per
    # setting), then compared on test with 6 seeds, at the fast budget: 12 trials and 12 runs
    # (benchmarks/results/recipe.md: the GRU's best rate is 1e-2, the LSTM's 2e-2 to 4e-2)
    "tune": {
        **_FAST_RECIPE, "epochs": 5, "max_steps": 1000, "eval_windows": 20_000,
        "models": ["lstm", "gru"], "seeds": [0, 1, 2, 3, 4, 5],
        "tune_space": {"lr": [1e-2, 2e-2, 4e-2]}, "tune_seeds": [100, 101],
    },
    # every kind at the LSTM's parameter count (the GRU as gru-h149), the fast budget, each
    # model at its own learning rate chosen on validation, then 3 seeds each; the n-gram floor
    # is in every report
    "zoo": {
        **_FAST_RECIPE, "epochs": 5, "max_steps": 1000, "eval_windows": 20_000,
        "models": ["lstm", "gru-h149", "transformer", "mingru"], "seeds": [0, 1, 2],
        "pairs": [["lstm", "transformer"], ["lstm", "mingru"], ["transformer", "mingru"]],
        "tune_space": {"lr": [3e-3, 1e-2, 2e-2]}, "tune_seeds": [100],
    },
}
PROFILE_HELP = {  # one line each, for --help and --show
    "smoke": "the whole chain in a couple of minutes: tests and CI",
    "fast": "the CPU default: the reference's quality in minutes, each model at its tuned rate",
    "reference": "the reference, faithfully, 5 seeds: meant for a GPU",
    "study": "6 models x 6 seeds at the fast budget: the statistics (hours on a CPU)",
    "tune": "each model at its own learning rate, chosen on validation, then 6 seeds",
    "zoo": "LSTM, GRU, Transformer, minGRU at equal parameters, each tuned, 3 seeds",
    "auto": "reference on CUDA, else fast",
}
PROFILE_NAMES = (*PROFILES, "auto")


def auto_profile() -> str:
    """`reference` where CUDA is available, else `fast`."""
    return "reference" if available_device() == "cuda" else "fast"


def profile_name(profile: str) -> str:
    """The profile a name stands for: auto resolved, unknown refused."""
    if profile == "auto":
        profile = auto_profile()
    if profile not in PROFILES:
        raise ParameterError(
            f"profile={profile!r} is unknown: choose one of {', '.join(PROFILE_NAMES)}."
        )
    return profile


def resolve(profile: str = "auto", overrides: dict[str, Any] | None = None) -> RunSpec:
    """Profile + overrides -> a validated RunSpec (unknown names and bad values refused)."""
    name, overrides = profile_name(profile), overrides or {}
    params = {**PROFILES[name], **overrides, "profile": name}
    if "models" in overrides and "pairs" not in overrides and "pairs" in PROFILES[name]:
        params["pairs"] = _pairs_within(PROFILES[name]["pairs"], overrides["models"])
    if "per_model" not in overrides and "per_model" in PROFILES[name]:
        params["per_model"] = _per_model_within(PROFILES[name]["per_model"], overrides)
    return RunSpec.from_params(params)


def _per_model_within(per_model: dict, overrides: dict) -> dict:
    """The profile's per-model settings that the user's overrides leave: those of the models
    given (all without `models`), without any setting the user sets for the whole run (`-p
    lr=0.005` trains every model at 0.005)."""
    models = overrides.get("models")
    kept = {m: {k: v for k, v in setting.items() if k not in overrides}
            for m, setting in per_model.items()
            if models is None or (isinstance(models, list | tuple) and m in models)}
    return {m: setting for m, setting in kept.items() if setting}


def _pairs_within(pairs: list, models: Any) -> list:
    """The profile's extra pairs that the user's `models` still hold: the profile's pairs follow
    the models a user gives (a pair the user names is checked as given)."""
    if not isinstance(models, list | tuple):
        return pairs  # refused, with its reason, by RunConfig
    return [pair for pair in pairs if all(m in models for m in pair)]


def show(profile: str = "auto", overrides: dict[str, Any] | None = None,
         from_file: Collection[str] = ()) -> str:
    """A profile's resolved parameters, one line each with its description, without running
    anything: `charlm report --profile fast --show`. A mark says where a value comes from
    (`from_file`: the overrides that a parameters file set)."""
    spec = resolve(profile, overrides)
    name, overrides = spec.profile, overrides or {}
    values, lines = spec.params(), [f"profile {name!r} ({PROFILE_HELP.get(name, '')}); "
                                    "* set by the profile, f by -f, + by -p, else the default"]
    for cls in PARTS.values():
        helps = field_help(cls)
        lines.append(f"\n{cls.__name__}:")
        for key in (f.name for f in dataclasses.fields(cls)):
            mark = ("f" if key in from_file else "+" if key in overrides
                    else "*" if key in PROFILES[name] else " ")
            text = json.dumps(values[key])
            lines.append(f" {mark} {key} = {text}" + (f"  # {helps[key]}" if helps.get(key)
                                                      else ""))
    return "\n".join(lines)


class _Loader(yaml.SafeLoader):
    """YAML as users write numbers: 1e-3 is a float (YAML 1.2, JSON), not YAML 1.1's string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def read_parameters_file(path: str | Path) -> dict[str, Any]:
    """A parameters file (`charlm report -f params.yaml`, as papermill's -f): a YAML or JSON
    mapping of parameter: value. Text values are read as -p reads them ("1e-2" is a number)."""
    path = Path(path)
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a safe loader
    except FileNotFoundError:
        raise ParameterError(f"-f {path}: the parameters file does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"-f {path}: cannot read it ({exc}).") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"-f {path} is not valid YAML or JSON: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ParameterError(f"-f {path} holds a {type(loaded).__name__}: write one "
                             "'parameter: value' per line (YAML) or a JSON object.")
    return {str(k).replace("-", "_"): parse_value(v) if isinstance(v, str) else v
            for k, v in loaded.items()}


WORDS = {"true": True, "false": False, "null": None, "none": None}  # as YAML/JSON write them


def parse_value(raw: str) -> Any:
    """A value as a user types it: true/false/null (YAML, JSON, or as --show prints them) or
    True/False/None, a Python literal, a JSON value ([true, null]), else the text itself."""
    text = raw.strip()
    if text.lower() in WORDS:
        return WORDS[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return json.loads(text)
    except ValueError:
        return raw


def parse_override(text: str) -> tuple[str, Any]:
    """'key=value' from the command line, the value read by parse_value."""
    if "=" not in text:
        raise ParameterError(f"-p {text!r} is invalid: write -p key=value.")
    key, raw = text.split("=", 1)
    return key.strip().replace("-", "_"), parse_value(raw)
