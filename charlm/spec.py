"""One typed description of a run: the profile resolved, its configs, its comparisons.

`resolve(profile, overrides)` is the one function that builds it; the run folder stores it as
flat parameters (`RunSpec.params()`), and `RunSpec.from_params` reads them back.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from charlm.config import (
    Configs,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    field_help,
    field_names,
    parse_model_name,
)
from charlm.errors import ParameterError
from charlm.profiles import PROFILE_HELP, PROFILES, profile_name

RUN_FIELDS = field_names(RunConfig)


@dataclass(frozen=True)
class RunSpec:
    """A resolved run: the profile's name, the base configs and the run-level parameters."""

    profile: str
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    run: RunConfig

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RunSpec:
        """From flat parameters (profile + config fields + run fields); unknown names refused."""
        params = dict(params)
        profile = params.pop("profile", "custom")
        known = Configs.names() | RUN_FIELDS
        unknown = sorted(set(params) - known)
        if unknown:
            raise ParameterError(
                f"unknown parameter(s): {', '.join(unknown)}. "
                f"Known parameters: {', '.join(sorted(known))}."
            )
        configs = Configs.from_flat({k: v for k, v in params.items() if k not in RUN_FIELDS})
        run = RunConfig(**{k: v for k, v in params.items() if k in RUN_FIELDS})
        if run.tune_space and not configs.data.val_frac:
            raise ParameterError(
                f"tune_space={run.tune_space} needs validation windows to score the trials on, "
                "and val_frac is 0: set val_frac (e.g. 0.1), or drop tune_space. The test set "
                "never chooses anything."
            )
        return cls(profile, configs.data, configs.model, configs.train, run)

    def params(self) -> dict[str, Any]:
        """Flat parameters as JSON gives them back (tuples as lists): what the run folder stores
        and what the steps read, so a stored run compares equal to a resolved one."""
        out: dict[str, Any] = {}
        for part in (self.data, self.model, self.train, self.run):
            out.update(dataclasses.asdict(part))
        return json.loads(json.dumps({**out, "profile": self.profile}))

    def configs(self, model: str | None = None, seed: int | None = None,
                setting: dict[str, Any] | None = None) -> Configs:
        """The three configs of one model (a name such as gru-h149) and seed of this run, at a
        training setting of its search (tune_space) if given."""
        data, model_cfg, train = self.data, self.model, self.train
        if setting:
            train = dataclasses.replace(train, **setting)
        if model is not None:
            model_cfg, split = parse_model_name(model, self.model)
            if split:
                data = dataclasses.replace(data, split=split)
        if seed is not None:
            train = dataclasses.replace(train, seed=seed)
            if self.run.split_per_seed:
                data = dataclasses.replace(data, split_seed=data.split_seed + seed)
        return Configs(data, model_cfg, train)

    @property
    def main_pair(self) -> tuple[str, str]:
        """The main comparison: the run's first two models (LSTM against GRU by default)."""
        return self.run.models[0], self.run.models[1]

    def comparisons(self) -> list[tuple[str, str]]:
        """Every pair this run compares, the main pair first, each once."""
        pairs, seen = [], set()
        for pair in [self.main_pair, *(tuple(p) for p in self.run.pairs)]:
            if frozenset(pair) not in seen:  # [a, b] and [b, a] are one comparison (one test)
                seen.add(frozenset(pair))
                pairs.append(pair)
        return pairs


def resolve(profile: str = "auto", overrides: dict[str, Any] | None = None) -> RunSpec:
    """Profile + overrides -> a validated RunSpec (unknown names and bad values refused)."""
    name = profile_name(profile)
    return RunSpec.from_params({**PROFILES[name], **(overrides or {}), "profile": name})


def show(profile: str = "auto", overrides: dict[str, Any] | None = None) -> str:
    """A profile's resolved parameters, one line each with its description, without running
    anything: `charlm report --profile fast --show`. A mark says where a value comes from."""
    spec = resolve(profile, overrides)
    name, overrides = spec.profile, overrides or {}
    values, lines = spec.params(), [f"profile {name!r} ({PROFILE_HELP.get(name, '')}); "
                                    "* set by the profile, + by -p, else the default"]
    for cls in (DataConfig, ModelConfig, TrainConfig, RunConfig):
        helps = field_help(cls)
        lines.append(f"\n{cls.__name__}:")
        for key in (f.name for f in dataclasses.fields(cls)):
            mark = "+" if key in overrides else "*" if key in PROFILES[name] else " "
            text = json.dumps(values[key])
            lines.append(f" {mark} {key} = {text}" + (f"  # {helps[key]}" if helps.get(key)
                                                      else ""))
    return "\n".join(lines)


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
