"""The search before training: each model at its own best setting, chosen on validation.

`tune_space` ({setting: [values]}, e.g. {"lr": [0.005, 0.01, 0.02]}) gives settings, every
combination of its values. Each model of the run is trained at each setting once per tune seed
(a trial: the run's budget, scored on the validation windows, never on test). Per model, the
setting with the lowest validation loss (mean over tune seeds) is chosen, and the run's models
train at their chosen settings with the run's seeds. The shared setting, the lowest mean over
the models, is what one setting for all would have been (charlm.report.prose.shared_sentence
says whether the comparison changes between the two). Nothing here reads a file: the trials
come as a table (charlm.experiment.jobs.trial_table).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from charlm.errors import PipelineError
from charlm.stats.intervals import difference_noise

METRIC = "val_loss"  # what the search minimises: the last epoch's loss on every validation window


def settings(space: dict[str, list]) -> list[dict]:
    """Every combination of the space's values, in the order declared."""
    keys = list(space)
    return [dict(zip(keys, values)) for values in itertools.product(*space.values())]


def setting_name(setting: dict) -> str:
    """A setting in a few characters, e.g. "lr=0.02" or "batch_size=64,lr=0.01" (keys sorted:
    the same setting has one name, whatever order the space was written in)."""
    return ",".join(f"{k}={v}" for k, v in sorted(setting.items()))


def choose(table: pd.DataFrame, space: dict[str, list], models: list[str],
           tune_seeds: list[int] | None = None) -> dict:
    """Per model, the setting with the lowest mean validation loss over tune seeds; the shared
    setting (lowest mean over the models); the mean scores and each one's seed variance.

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
    # each setting's own seed variance (None with one seed or a diverged seed): a difference
    # of two settings gets its own standard error from its two variances
    var = table.groupby(["model", "setting"])[METRIC].agg(lambda v: v.var(ddof=1, skipna=False))
    return {
        "metric": METRIC,
        "space": space,
        "tune_seeds": tune_seeds,
        "chosen": {m: by[names.index(best(scores[m], m))] for m in models},
        "shared": by[names.index(best(shared_scores, "the models together"))],
        "scores": scores,
        "seeds_per_setting": int(table.groupby(["model", "setting"]).size().min()),
        "variances": {m: {n: _number(var.get((m, n))) for n in names} for m in models},
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


def expected_best(values, k: int) -> float:
    """The expected best (lowest) of k trials drawn at random, with replacement, from these
    trial results: Dodge et al. 2019, "Show your work". Sorted ascending v_1 <= ... <= v_N, the
    best of k is v_i with probability ((N - i + 1) / N)^k - ((N - i) / N)^k."""
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    above = (n - np.arange(n)) / n  # share of trials at or above v_i
    return float(np.sum(v * (above**k - (above - 1 / n) ** k)))


def expected_best_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Per model, the expected best validation loss of k = 1..N trials of its search (its N
    finished trials; diverged ones left out and counted): how much the search bought, and
    whether more trials would still pay."""
    rows = []
    for model, group in table.groupby("model", sort=False):
        done = group[METRIC].dropna().to_numpy()
        for k in range(1, done.size + 1):
            rows.append({"model": model, "trials": k, "expected_best": expected_best(done, k),
                         "finished": done.size, "diverged": int(group[METRIC].isna().sum())})
    return pd.DataFrame(rows)


def noise_of(choice: dict, a: str, setting_a: str, b: str, setting_b: str):
    """(standard error, 95% half-width) of model a at setting_a minus model b at setting_b in the
    search, from the two settings' own seed variances; None without them."""
    var, n = choice.get("variances"), choice["seeds_per_setting"]
    if not var:
        return None
    return difference_noise(var[a].get(setting_a), n, var[b].get(setting_b), n)


def recheck(choice: dict, histories: pd.DataFrame) -> pd.DataFrame:
    """Each model's chosen setting: its score in the search against the validation loss of the
    run's own seeds trained at it (the same validation windows), the standard error of that gap
    and whether it is larger than the noise (beyond its 95% band). The search's score is the
    lowest of several noisy ones, so it tends to flatter the choice."""
    last = histories[histories.epoch == histories.groupby(["model", "seed"]).epoch.transform(
        "max")]
    rows = []
    for model, setting in choice["chosen"].items():
        runs = last[last.model == model]["val_loss"]
        name = setting_name(setting)
        searched = choice["scores"][model][name]
        gap = runs.mean() - searched
        var = (choice.get("variances") or {}).get(model, {}).get(name)
        noise = difference_noise(var, choice["seeds_per_setting"],
                                 float(runs.var(ddof=1)) if len(runs) > 1 else None, len(runs))
        rows.append({"model": model, "setting": name,
                     "search (mean over tune seeds)": searched,
                     "the run's seeds": runs.mean(), "seeds": len(runs), "difference": gap,
                     "SE": noise[0] if noise else math.nan,
                     "beyond the noise": ("n/a" if noise is None else
                                          "yes" if abs(gap) > noise[1] else "no")})
    return pd.DataFrame(rows)
