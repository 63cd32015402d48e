"""Every comparison of a run, computed once (by notebook 03) from tables and arrays.

Nothing here reads a file. Inputs:
- `runs`: one row per model and seed (columns model, seed, split and the METRICS keys);
- `per_window`: {(model, seed): {"starts", "losses", "correct"}}, numpy arrays in text order.
The report formats what these functions return; it never recomputes them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from charlm.stats import (
    Interval,
    block_bootstrap,
    block_bootstrap_unpaired,
    mean_ci,
    paired_t,
    verdict,
)


@dataclass(frozen=True)
class Metric:
    label: str  # the row label of the reference's table
    higher_is_better: bool
    fmt: str


METRICS = {
    "train_loss": Metric("Final Training Loss", False, "{:.4f}"),
    "test_loss": Metric("Final Test Loss", False, "{:.4f}"),
    "test_accuracy": Metric("Final Test Accuracy", True, "{:.2%}"),
    "train_time": Metric("Training Time", False, "{:.1f} s"),
    "size_mb": Metric("Model Size", False, "{:.2f} MB"),
}
WINDOW_COLUMNS = {"test_loss": "losses", "test_accuracy": "correct"}  # per-window results


def summary_over_seeds(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model and metric: mean, std, 95% t-interval over seeds, n."""
    rows = []
    for model, group in runs.groupby("model", sort=False):  # keeps the run's model order
        for key in METRICS:
            rows.append({"model": model, "metric": key, **mean_ci(group[key].to_numpy())})
    return pd.DataFrame(rows)


def with_test_loss_intervals(runs: pd.DataFrame, per_window: dict) -> pd.DataFrame:
    """`runs` plus each run's test-loss 95% block-bootstrap interval (test-set noise only)."""
    intervals = [block_bootstrap(per_window[(r.model, r.seed)]["losses"])
                 for r in runs.itertuples()]
    return runs.assign(test_loss_low=[iv.low for iv in intervals],
                       test_loss_high=[iv.high for iv in intervals])


def compare(runs: pd.DataFrame, a: str, b: str, per_window: dict) -> dict[str, Interval | None]:
    """Interval of the difference a - b for every metric.

    Several matched seeds: paired t over seeds (no interval where the differences do not vary).
    One seed: test metrics by a block bootstrap over the test windows; size is exact; training
    loss and time get no interval.
    """
    fa = runs[runs.model == a].set_index("seed")
    fb = runs[runs.model == b].set_index("seed")
    seeds = sorted(set(fa.index) & set(fb.index))
    out: dict[str, Interval | None] = {}
    for key in METRICS:
        x, y = fa.loc[seeds, key].to_numpy(), fb.loc[seeds, key].to_numpy()
        if key == "size_mb":
            d = float(x.mean() - y.mean())
            out[key] = Interval(d, d, d, "exact", len(seeds))
        elif len(seeds) >= 2 and np.ptp(x - y) > 0:
            out[key] = paired_t(x, y)
        elif len(seeds) >= 2:  # identical differences (a time shared by seeds trained together):
            out[key] = None  # a zero-width interval would call any difference real
        elif key in WINDOW_COLUMNS:
            out[key] = _window_interval(per_window[(a, seeds[0])], per_window[(b, seeds[0])],
                                        WINDOW_COLUMNS[key])
        else:
            out[key] = None
    return out


def _window_interval(wa: dict, wb: dict, column: str) -> Interval:
    """One run each: block bootstrap, paired when both were tested on the same windows."""
    xa, xb = wa[column].astype(float), wb[column].astype(float)
    if wa["starts"].shape == wb["starts"].shape and bool((wa["starts"] == wb["starts"]).all()):
        return block_bootstrap(xa - xb)
    return block_bootstrap_unpaired(xa, xb)


def comparisons(runs: pd.DataFrame, pairs: list[tuple[str, str]],
                per_window: dict) -> pd.DataFrame:
    """Every pair (the main pair first) and metric: means, difference, interval, winner.

    One row per pair and metric; `winner` is a model name, or None within noise.
    """
    rows = []
    for i, (a, b) in enumerate(pairs):
        for key, iv in compare(runs, a, b, per_window).items():
            mean_a = float(runs.loc[runs.model == a, key].mean())
            mean_b = float(runs.loc[runs.model == b, key].mean())
            win = verdict(a, b, mean_a, mean_b, METRICS[key].higher_is_better, iv)
            interval = asdict(iv) if iv is not None else {"estimate": mean_a - mean_b}
            rows.append({"a": a, "b": b, "main": i == 0, "metric": key, "mean_a": mean_a,
                         "mean_b": mean_b, **interval, "winner": win})
    columns = ["a", "b", "main", "metric", "mean_a", "mean_b", "estimate", "low", "high",
               "method", "n", "p_value", "winner"]
    return pd.DataFrame(rows).reindex(columns=columns)


def interval_of(row) -> Interval | None:
    """The Interval of one comparison row (None where a single run has no interval)."""
    if not isinstance(row.method, str):
        return None
    p = row.p_value if row.p_value is not None and np.isfinite(row.p_value) else None
    return Interval(row.estimate, row.low, row.high, row.method, int(row.n), p)
