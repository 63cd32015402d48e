"""The jobs of a run, in one place: every training run it holds, its name and its folder.

A run trains each of its models once per seed (`{model}-s{seed}`, in the run's order), after the
search's trials where it searches (`{model} {setting} s{seed}`: each model at each setting of
`tune_space`, once per tune seed). Everything that loops over a run's trainings (the notebooks,
the pipeline's checks, the progress lines, the Ray driver) asks this module for them.
"""

from __future__ import annotations

import math

import pandas as pd

from charlm.checkpoint import history_so_far
from charlm.errors import PipelineError
from charlm.experiment.layout import run_name
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.job import Job, train_job
from charlm.scale.ray_executor import run_on_ray
from charlm.stats.search import METRIC, setting_name, settings


def model_seeds(spec: RunSpec, models: list[str] | None = None) -> list[tuple[str, int]]:
    """Every (model, seed) of the run, in its order (or of `models` only)."""
    return [(m, s) for m in (models or spec.run.models) for s in spec.run.seeds]


def model_configs(run: Run, spec: RunSpec, model: str, seed: int):
    """The configs a model and seed of the run train with: at its chosen setting where the run
    searches one (tune_space)."""
    if not spec.search.tune_space:
        return spec.configs(model, seed)
    choice = run.read_choice()
    if (choice is None or choice["space"] != spec.search.tune_space
            or choice.get("tune_seeds", spec.search.tune_seeds) != spec.search.tune_seeds
            or model not in choice["chosen"]):
        raise PipelineError(
            f"This run searches tune_space={spec.search.tune_space} before training, and "
            f"{run.tuning_dir} holds no choice of it for {model}: run the tuning notebook "
            "(02_tune) first; python -m charlm report does."
        )
    return spec.configs(model, seed, choice["chosen"][model])


def training_jobs(run: Run, spec: RunSpec, models: list[str] | None = None) -> list[Job]:
    """One job per model and seed, at the model's chosen setting where the run searches."""
    return [Job(run_name(m, s), model_configs(run, spec, m, s), run.model(m, s),
                execution=spec.execution) for m, s in model_seeds(spec, models)]


def combinations(spec: RunSpec) -> list[tuple[str, dict, int]]:
    """Every (model, setting, tune seed) of the search, in the order the trials run."""
    return [(m, s, seed) for m in spec.run.models for s in settings(spec.search.tune_space)
            for seed in spec.search.tune_seeds]


def trials(run: Run, spec: RunSpec) -> list[Job]:
    """Every trial of the search: each model at each setting, once per tune seed."""
    return [Job(f"{model} {setting_name(s)} s{seed}", spec.configs(model, seed, s),
                run.trial(model, setting_name(s), seed), trial=True, execution=spec.execution)
            for model, s, seed in combinations(spec)]


def all_jobs(run: Run, spec: RunSpec) -> list[Job]:
    """Every training run of the run, for its name, folder and epochs (what the progress lines
    need): the trials first (where it searches), then each model and seed. The models are
    given the run's own setting, not the search's choice, which may not exist yet (a new
    search, a model added): the search never changes names, folders or epochs."""
    searched = trials(run, spec) if spec.search.tune_space else []
    return searched + [Job(run_name(m, s), spec.configs(m, s), run.model(m, s))
                       for m, s in model_seeds(spec)]


def run_jobs(jobs: list[Job], spec: RunSpec, progress: bool = True) -> list[list[dict]]:
    """Train every job (each resuming after its last finished epoch), here one after another
    or as Ray tasks (executor=ray); their histories."""
    if spec.scale.executor == "ray":
        return run_on_ray(jobs, spec.scale, progress)
    return [train_job(job, progress) for job in jobs]


def choice_of(run: Run, spec: RunSpec) -> dict | None:
    """The run's choice, where this run searches and the search has finished."""
    return run.read_choice() if spec.search.tune_space else None


def trial_table(run: Run, spec: RunSpec) -> pd.DataFrame:
    """One row per trial, from its folder: its setting, seed and validation scores (NaN where
    it diverged)."""
    rows = []
    for job, (model, setting, seed) in zip(trials(run, spec), combinations(spec)):
        history, diverged = history_so_far(job.folder), job.folder.diverged.exists()
        last = {} if diverged or not history else history[-1]
        rows.append({"model": model, "setting": setting_name(setting), **setting, "seed": seed,
                     METRIC: last.get(METRIC, math.nan),
                     "val_accuracy": last.get("val_accuracy", math.nan),
                     "train_loss": last.get("train_loss", math.nan),
                     "epochs": len(history), "diverged": diverged,
                     "train_time": sum(r["train_seconds"] for r in history)})
    return pd.DataFrame(rows)


def trial_histories(run: Run, spec: RunSpec) -> pd.DataFrame:
    """Every trial's per-epoch records, from the trial folders."""
    frames = [pd.DataFrame(history_so_far(job.folder)).assign(
        model=model, setting=setting_name(setting), seed=seed)
        for job, (model, setting, seed) in zip(trials(run, spec), combinations(spec))]
    return pd.concat(frames, ignore_index=True)
