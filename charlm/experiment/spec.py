"""One typed description of a run: its configs, each of one concern, and its comparisons.

The run folder stores it as flat parameters (`RunSpec.params()`: every field name is distinct),
and `RunSpec.from_params` reads them back; `charlm.experiment.profiles.resolve` builds it from a
profile and overrides.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from charlm.config import (
    Configs,
    DataConfig,
    ExecutionConfig,
    ModelConfig,
    TrainConfig,
    field_names,
    parse_model_name,
    setting_part,
)
from charlm.errors import ParameterError
from charlm.experiment.options import GenerationConfig, RunConfig, SearchConfig
from charlm.scale.config import ScaleConfig

# each part of a run, by concern: (attribute, class); the order of `--show`
PARTS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "run": RunConfig,
         "search": SearchConfig, "generation": GenerationConfig, "execution": ExecutionConfig,
         "scale": ScaleConfig}
# parameters of earlier versions: a run folder that stored one still reads; given anew, the
# message says what replaces it
REMOVED = {"jobs": "several runs at once are executor=ray (a local Ray instance by default, "
                   "cpus_per_run each)"}
# parameters added since: a run folder stored before one was added ran at this value
ADDED = {"dropout": 0.0, "test_model": "last", "tensorboard": False, "per_model": {},
         "per_model_source": "", "width": None, "heads": 4, "model_args": {}}


def known_parameters() -> set[str]:
    return set().union(*(field_names(cls) for cls in PARTS.values()))


def training_parameters() -> frozenset[str]:
    """What training reads, from the declarations: every field of the configs a checkpoint
    stores, and the run-level fields declared trains=True."""
    return frozenset(Configs.names() | field_names(RunConfig, trains=True)
                     | field_names(SearchConfig, trains=True))


@dataclass(frozen=True)
class RunSpec:
    """A resolved run: the profile's name and one config per concern."""

    profile: str
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    run: RunConfig
    search: SearchConfig
    generation: GenerationConfig
    execution: ExecutionConfig
    scale: ScaleConfig

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RunSpec:
        """From flat parameters (profile + every part's fields); unknown or removed names
        refused (a run folder's own removed names are left out where it is read: Run)."""
        params = dict(params)
        profile = params.pop("profile", "custom")
        for name in REMOVED.keys() & params.keys():
            raise ParameterError(f"{name} was removed: {REMOVED[name]}.")
        unknown = sorted(set(params) - known_parameters())
        if unknown:
            raise ParameterError(
                f"unknown parameter(s): {', '.join(unknown)}. "
                f"Known parameters: {', '.join(sorted(known_parameters()))}."
            )
        parts = {key: part(**{k: v for k, v in params.items() if k in field_names(part)})
                 for key, part in PARTS.items()}
        spec = cls(profile, **parts)
        spec._check_together()
        return spec

    def uses_dropout(self) -> bool:
        """Whether a model of the run trains with dropout (set, or searched)."""
        return bool(self.model.dropout or any(self.search.tune_space.get("dropout", []))
                    or any(s.get("dropout") for s in self.run.per_model.values()))

    def _check_together(self) -> None:
        """Settings of different parts that cannot go together."""
        if self.train.test_model == "best" and not self.data.val_frac:
            raise ParameterError("test_model=best tests the epoch of lowest validation loss, "
                                 "and val_frac is 0 (no validation set): set val_frac (e.g. "
                                 "0.1), or test_model=last.")
        if self.scale.batched and self.uses_dropout():
            raise ParameterError("batched=true stacks the seeds of a model in layers without "
                                 "dropout, and this run trains with dropout: drop one of them "
                                 "(batched unset trains one by one).")
        if self.run.split_per_seed and self.scale.batched:
            raise ParameterError("batched=true trains the seeds of a model on one split, "
                                 "split_per_seed=true gives each seed its own: drop one of them.")
        if self.run.split_per_seed and self.search.tune_space:
            raise ParameterError(
                "tune_space chooses on one split's validation windows; with split_per_seed=true "
                "some of them are other seeds' test windows. Drop one of them."
            )
        if self.search.tune_space and not self.data.val_frac:
            raise ParameterError(
                f"tune_space={self.search.tune_space} needs validation windows to score the "
                "trials on, and val_frac is 0: set val_frac (e.g. 0.1), or drop tune_space. The "
                "test set never chooses anything."
            )

    def params(self) -> dict[str, Any]:
        """Flat parameters as JSON gives them back (tuples as lists): what the run folder stores
        and what the steps read, so a stored run compares equal to a resolved one."""
        out: dict[str, Any] = {}
        for key in PARTS:
            out.update(dataclasses.asdict(getattr(self, key)))
        return json.loads(json.dumps({**out, "profile": self.profile}))

    def configs(self, model: str | None = None, seed: int | None = None,
                setting: dict[str, Any] | None = None) -> Configs:
        """The three configs of one model (a name such as gru-h149) and seed of this run: at its
        own settings (per_model), and at a training setting of its search (tune_space) if
        given, which replaces them."""
        data, model_cfg, train = self.data, self.model, self.train
        if model is not None:
            model_cfg, split = parse_model_name(model, self.model)
            if split:
                data = dataclasses.replace(data, split=split)
            setting = {**self.run.per_model.get(model, {}), **(setting or {})}
        if setting:  # each searched setting in its part: dropout the model's, the rest training's
            of = {part: {k: v for k, v in setting.items() if setting_part(k) is part}
                  for part in (ModelConfig, TrainConfig)}
            model_cfg = dataclasses.replace(model_cfg, **of[ModelConfig])
            train = dataclasses.replace(train, **of[TrainConfig])
        if seed is not None:
            train = dataclasses.replace(train, seed=seed)
            if self.run.split_per_seed:
                data = dataclasses.replace(data, split_seed=data.split_seed + seed)
        return Configs(data, model_cfg, train)

    def base_setting(self) -> dict[str, Any]:
        """The run's own values of the searched settings: what every model would train at
        without the search."""
        return {k: getattr(self.model if setting_part(k) is ModelConfig else self.train, k)
                for k in self.search.tune_space}

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
