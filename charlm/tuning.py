"""The search before training: each model at its own best setting, chosen on validation.

`tune_space` ({setting: [values]}, e.g. {"lr": [0.005, 0.01, 0.02]}) gives settings, every
combination of its values. Each model of the run is trained at each setting once per tune seed
(a trial: the run's budget, scored on the validation windows, never on test). Per model, the
setting with the lowest validation loss (mean over tune seeds) is chosen, and the run's models
train at their chosen settings with the run's seeds. The shared setting, the lowest mean over
the models, is what one setting for all would have been: `shared_sentence` says whether the
comparison changes between the two.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from charlm.errors import PipelineError
from charlm.executor import Job
from charlm.run import Run
from charlm.spec import RunSpec

METRIC = "val_loss"  # what the search minimises: the last epoch's loss on every validation window


def settings(space: dict[str, list]) -> list[dict]:
    """Every combination of the space's values, in the order declared."""
    keys = list(space)
    return [dict(zip(keys, values)) for values in itertools.product(*space.values())]


def setting_name(setting: dict) -> str:
    """A setting in a few characters, e.g. "lr=0.02" or "batch_size=64,lr=0.01" (keys sorted:
    the same setting has one name, whatever order the space was written in)."""
    return ",".join(f"{k}={v}" for k, v in sorted(setting.items()))


def trials(run: Run, spec: RunSpec) -> list[Job]:
    """Every trial of the search: each model at each setting, once per tune seed."""
    return [Job(f"{model} {setting_name(s)} s{seed}", spec.configs(model, seed, s),
                run.trial(model, setting_name(s), seed), trial=True)
            for model, s, seed in _combinations(spec)]


def choice_of(run: Run, spec: RunSpec) -> dict | None:
    """The run's choice, where this run searches and the search has finished."""
    return run.read_choice() if spec.run.tune_space else None


def trial_table(run: Run, spec: RunSpec) -> pd.DataFrame:
    """One row per trial, from its folder: its setting, seed and validation scores (NaN where
    it diverged)."""
    rows = []
    for job, (model, setting, seed) in zip(trials(run, spec), _combinations(spec)):
        history, diverged = job.folder.history_so_far(), job.folder.diverged.exists()
        last = {} if diverged or not history else history[-1]
        rows.append({"model": model, "setting": setting_name(setting), **setting, "seed": seed,
                     METRIC: last.get(METRIC, math.nan),
                     "val_accuracy": last.get("val_accuracy", math.nan),
                     "train_loss": last.get("train_loss", math.nan),
                     "epochs": len(history), "diverged": diverged,
                     "train_time": sum(r["train_seconds"] for r in history)})
    return pd.DataFrame(rows)


def _combinations(spec: RunSpec) -> list[tuple[str, dict, int]]:
    return [(m, s, seed) for m in spec.run.models for s in settings(spec.run.tune_space)
            for seed in spec.run.tune_seeds]


def trial_histories(run: Run, spec: RunSpec) -> pd.DataFrame:
    """Every trial's per-epoch records, from the trial folders."""
    frames = [pd.DataFrame(job.folder.history_so_far()).assign(
        model=model, setting=setting_name(setting), seed=seed)
        for job, (model, setting, seed) in zip(trials(run, spec), _combinations(spec))]
    return pd.concat(frames, ignore_index=True)


def choose(table: pd.DataFrame, space: dict[str, list], models: list[str],
           tune_seeds: list[int] | None = None) -> dict:
    """Per model, the setting with the lowest mean validation loss over tune seeds; the shared
    setting (lowest mean over the models); the mean scores and the seed spread behind them.

    A setting whose trial diverged (NaN) is never chosen."""
    by = settings(space)
    names = [setting_name(s) for s in by]
    # a setting that diverged for any seed has no mean: it is never chosen
    means = table.groupby(["model", "setting"])[METRIC].agg(lambda v: v.mean(skipna=False))
    scores = {m: {n: _number(means.get((m, n))) for n in names} for m in models}

    def best(values: dict, who: str) -> str:
        finite = {n: v for n, v in values.items() if v is not None}
        if not finite:
            raise PipelineError(
                f"every setting of the search diverged for {who}: nothing to choose. Search "
                "smaller values (e.g. of lr) or set grad_clip, then run again (the diverged "
                "trials are kept as results)."
            )
        return min(finite, key=finite.get)

    shared_scores = {n: None if any(scores[m][n] is None for m in models)
                     else float(np.mean([scores[m][n] for m in models])) for n in names}
    spread = table.groupby(["model", "setting"])[METRIC].std(ddof=1).dropna()
    return {
        "metric": METRIC,
        "space": space,
        "tune_seeds": tune_seeds,
        "chosen": {m: by[names.index(best(scores[m], m))] for m in models},
        "shared": by[names.index(best(shared_scores, "the models together"))],
        "scores": scores,
        "seeds_per_setting": int(table.groupby(["model", "setting"]).size().min()),
        "seed_spread": float(spread.mean()) if len(spread) else None,
    }


def _number(value) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def choice_table(choice: dict) -> pd.DataFrame:
    """Mean validation loss per setting (rows) and model (columns), the choices marked."""
    df = pd.DataFrame(choice["scores"])
    df.index.name = "setting"
    chosen = {m: setting_name(s) for m, s in choice["chosen"].items()}
    df["chosen by"] = [", ".join(m for m, n in chosen.items() if n == name) for name in df.index]
    df["shared"] = ["yes" if name == setting_name(choice["shared"]) else "" for name in df.index]
    return df


def base_setting(spec: RunSpec) -> dict:
    """The run's own values of the searched settings: what every model would train at without
    the search."""
    return {k: getattr(spec.train, k) for k in spec.run.tune_space}


def _noise_of_difference(choice: dict) -> float | None:
    """How much a difference of two settings' means over the tune seeds varies: about
    sd * sqrt(2 / n), sd the seed-to-seed standard deviation of one trial."""
    spread, n = choice["seed_spread"], choice["seeds_per_setting"]
    return None if spread is None else spread * math.sqrt(2 / n)


def _difference(d: float, noise: float | None) -> str:
    return f"{d:+.4f}" + (" (within the seed noise)" if noise is not None and abs(d) < noise
                          else "")


def shared_sentence(choice: dict, pair: tuple[str, str], base: dict | None = None) -> str:
    """Whether the comparison of `pair` on validation changes between one shared setting (the
    best for all models together, and the run's own where the search tried it) and each model at
    its own best, with the trials' seed noise."""
    a, b = pair
    scores, shared = choice["scores"], setting_name(choice["shared"])
    own = {m: setting_name(choice["chosen"][m]) for m in pair}
    n, spread = choice["seeds_per_setting"], choice["seed_spread"]
    noise = _noise_of_difference(choice)
    noise_text = (f"Each setting ran {n} seeds; one trial's validation loss varies by "
                  f"{spread:.4f} nats between seeds (standard deviation), so a difference of two "
                  f"means varies by about {noise:.4f}." if noise is not None else
                  "Each setting ran one seed, so these differences carry no estimate of their "
                  "noise.")
    base_name = setting_name(base) if base else None
    base_text = ""
    if (base_name and base_name in scores[a] and base_name != shared
            and None not in (scores[a][base_name], scores[b][base_name])):
        base_text = (f" At the run's own setting without a search ({base_name}), {a} minus {b} "
                     f"is {_difference(scores[a][base_name] - scores[b][base_name], noise)}.")
    if own[a] == own[b] == shared:
        return (f"{a} and {b} both do best at {shared}, the shared setting: tuning each on its "
                f"own changes nothing in this comparison.{base_text} {noise_text}")
    if None in (scores[a][shared], scores[b][shared], scores[a][own[a]], scores[b][own[b]]):
        return (f"Some trials diverged, so the shared and the tuned comparisons cannot be set "
                f"side by side. {noise_text}")
    d_shared = scores[a][shared] - scores[b][shared]
    d_own = scores[a][own[a]] - scores[b][own[b]]
    verdict = ("The sign is the same either way" if np.sign(d_shared) == np.sign(d_own) else
               "The ranking flips: at one shared setting the comparison says more about the "
               "setting than about the models")
    return (f"At the shared setting ({shared}, the best one for all models together), {a} minus "
            f"{b} is {_difference(d_shared, noise)} nats on validation; each at its own best "
            f"({a} {own[a]}, {b} {own[b]}), {_difference(d_own, noise)}. {verdict}."
            f"{base_text} {noise_text} The test-set verdict, over the run's seeds, is in the "
            "results.")


def recheck(choice: dict, histories: pd.DataFrame) -> pd.DataFrame:
    """Each model's chosen setting: its score in the search against the validation loss of the
    run's own seeds trained at it (the same validation windows). The search's score is the
    lowest of several noisy ones, so it tends to flatter the choice."""
    last = histories[histories.epoch == histories.groupby(["model", "seed"]).epoch.transform(
        "max")]
    rows = []
    for model, setting in choice["chosen"].items():
        runs = last[last.model == model]["val_loss"]
        searched = choice["scores"][model][setting_name(setting)]
        rows.append({"model": model, "setting": setting_name(setting),
                     "search (mean over tune seeds)": searched,
                     "the run's seeds": runs.mean(), "seeds": len(runs),
                     "difference": runs.mean() - searched})
    return pd.DataFrame(rows)
