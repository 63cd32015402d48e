"""What a whole run does beyond training one model: the comparison, the samples, the search.

`RunConfig` says what is compared (models, seeds, extra pairs, the split per seed);
`GenerationConfig` what the samples are; `SearchConfig` what is searched before training. A field
that the training step reads is declared `trains=True`: the pipeline derives from that which
changes re-run training (charlm.experiment.spec.training_parameters).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass

from charlm import reference
from charlm.config import (
    TUNABLE,
    boolean,
    integer,
    non_empty_list,
    param,
    parse_model_name,
    positive_float,
    positive_int,
    setting_part,
)
from charlm.errors import ParameterError
from charlm.experiment.layout import file_part
from charlm.kinds import kinds, model_label


@dataclass
class RunConfig:
    """What a whole run compares: models, seeds and extra pairs."""

    models: list = param(
        help=f"model names: a kind ({', '.join(kinds())}), optionally "
        "-h<size> and @<split> (gru-h149, lstm@contiguous), or your class "
        "(examples/my_cell.py:MyCell, package.module:Class)",
        factory=lambda: list(reference.MODELS))
    seeds: list = param(help="each model is trained once per seed", factory=lambda: [0],
                        trains=True)
    pairs: list = param(help="[A, B] pairs compared beyond the first two models (a "
                        "profile's pairs follow the models given)", factory=list)
    per_model: dict = param(
        help="training settings of single models, {model: {setting: value}}, e.g. {'lstm': "
        "{'lr': 0.02}}: each model at its own setting without a search (a profile's entries "
        "follow the models given, and -p lr=... replaces its lr entries); a searched setting "
        "(tune_space) replaces it",
        factory=dict, trains=True)
    per_model_source: str = param("", "where per_model's values come from, for the report "
                                  "(e.g. the search that chose them)")
    split_per_seed: bool = param(
        False, "each seed its own random split (split_seed + seed), so that intervals over "
        "seeds cover the choice of test windows too, not only initialisation and data order on "
        "one test set", trains=True)
    tensorboard: bool = param(False, "also write TensorBoard logs (per-epoch scalars, each "
                              "run's parameters) under the run folder's tensorboard/: "
                              "tensorboard --logdir reports overlays every run")

    def __post_init__(self) -> None:
        for key in ("models", "seeds"):
            non_empty_list(key, getattr(self, key))
        if len(self.models) < 2:
            raise ParameterError(f"models={self.models!r} is invalid: a comparison needs two.")
        for name in self.models:
            parse_model_name(name)
        for s in self.seeds:
            integer("seeds", s)
        if len(set(self.seeds)) != len(self.seeds) or len(set(self.models)) != len(self.models):
            raise ParameterError("seeds and models must not repeat.")
        for what, key in (("be printed as", model_label), ("share the folder name", file_part)):
            seen: dict[str, str] = {}
            for name in self.models:
                if key(name) in seen:
                    raise ParameterError(f"models {seen[key(name)]!r} and {name!r} would {what} "
                                         f"{key(name)!r}: rename one class or file.")
                seen[key(name)] = name
        for pair in self.pairs:
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not set(pair) <= set(self.models)):
                raise ParameterError(f"pairs: {pair!r} is invalid: each pair is two of the "
                                     f"models {self.models}.")
        self._check_per_model()
        boolean("split_per_seed", self.split_per_seed)
        boolean("tensorboard", self.tensorboard)
        if self.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise ParameterError("tensorboard=true needs the tensorboard package: pip install "
                                 "'charlm[tensorboard]' (or pip install tensorboard).")


    def _check_per_model(self) -> None:
        if not isinstance(self.per_model, dict) or not all(
                isinstance(v, dict) for v in self.per_model.values()):
            raise ParameterError(f"per_model={self.per_model!r} is invalid: a dict of model -> "
                                 "{setting: value}, e.g. {'lstm': {'lr': 0.02}}.")
        for model, setting in self.per_model.items():
            if model not in self.models:
                raise ParameterError(f"per_model: {model!r} is not one of the models "
                                     f"{self.models}.")
            for key, value in setting.items():
                if key not in TUNABLE:
                    raise ParameterError(f"per_model[{model!r}]: {key!r} cannot be set per "
                                         f"model: choose among {', '.join(TUNABLE)}.")
                setting_part(key)(**{key: value})  # refused as the setting itself would be
        self.per_model = json.loads(json.dumps(self.per_model))  # as the run folder stores it
        if not isinstance(self.per_model_source, str):
            raise ParameterError(f"per_model_source={self.per_model_source!r} is invalid: it "
                                 "must be a string.")


@dataclass
class GenerationConfig:
    """The samples of each model that the report shows."""

    prompts: list = param(help="what the samples start from; the default (the reference's) "
                          "drops what the corpus lacks", factory=lambda: [reference.PROMPT])
    temperatures: list = param(help="of the samples", factory=lambda: [0.5, 0.8, 1.0])
    gen_length: int = param(200, "characters generated per sample")
    gen_seed: int = param(0, "sampling seed of the samples")

    def __post_init__(self) -> None:
        for key in ("prompts", "temperatures"):
            non_empty_list(key, getattr(self, key))
        for t in self.temperatures:
            positive_float("temperatures", t)
        for p in self.prompts:
            if not isinstance(p, str) or not p:
                raise ParameterError(f"prompts: {p!r} is invalid: each is a non-empty string.")
        positive_int("gen_length", self.gen_length)
        integer("gen_seed", self.gen_seed)


@dataclass
class SearchConfig:
    """The search before training: each model at its own best setting, chosen on validation."""

    tune_space: dict = param(
        help="the search before training: {training setting: [values]}; every combination is "
        "tried per model, scored on validation, and each model trains at its best; {} = no "
        "search", factory=dict, trains=True)
    tune_seeds: list = param(help="each combination, once per seed", factory=lambda: [100],
                             trains=True)

    def __post_init__(self) -> None:
        if not isinstance(self.tune_space, dict):
            raise ParameterError(f"tune_space={self.tune_space!r} is invalid: a dict of setting "
                                 "-> list of values, e.g. {'lr': [0.005, 0.01, 0.02]}.")
        for key, values in self.tune_space.items():
            if key not in TUNABLE:
                raise ParameterError(
                    f"tune_space: {key!r} cannot be searched: choose among {', '.join(TUNABLE)} "
                    "(the other settings define what is compared)."
                )
            non_empty_list(f"tune_space[{key!r}]", values)
            if len(set(map(repr, values))) != len(values):
                raise ParameterError(f"tune_space[{key!r}]={values!r} repeats a value.")
            for value in values:
                setting_part(key)(**{key: value})  # refused as the setting itself would be
        # as the run folder stores it (tuples as lists), so that a resolved run equals a stored one
        self.tune_space = json.loads(json.dumps(self.tune_space))
        non_empty_list("tune_seeds", self.tune_seeds)
        self.tune_seeds = list(self.tune_seeds)
        for s in self.tune_seeds:
            integer("tune_seeds", s)
        if len(set(self.tune_seeds)) != len(self.tune_seeds):
            raise ParameterError("tune_seeds must not repeat.")
