"""Every comparison of a run, computed once (by notebook 04) from tables and arrays.

Nothing here reads a file. Inputs:
- `runs`: one row per model and seed (columns model, seed, split and the METRICS keys);
- `per_window`: {(model, seed): {"starts", "losses", "correct"}}, numpy arrays in text order.
The report formats what these functions return; it never recomputes them.

How a comparison becomes a verdict (every rule is here, and every rule is tested):
- model size is exact: the smaller model wins;
- test loss, accuracy and training loss: a winner only with at least MIN_SEEDS matched seeds whose
  paired differences vary, and a p-value below ALPHA after correcting within its family:
  - the primary endpoint, declared before any run: the main pair's test loss, at ALPHA as it is;
  - the other pairs' test loss: one family, Holm-corrected;
  - the secondary metrics (accuracy, training loss) of every pair: one family, Holm-corrected.
  Adding a pair never changes the primary verdict. Fewer seeds: "not established", with the
  reason; the difference and its interval are still shown (for one seed, a block bootstrap over
  test windows, which covers test-set noise only). Beside every paired t-test p stands an exact
  sign-flip p, which assumes no distribution (its smallest value with n seeds is 2 / 2^n);
- training time: decided by its floor alone: more than TIME_FLOOR apart (models train one after
  another, so the machine's drift lands on one model and seeds do not cover it);
- two arms tested on different windows (a pair across splits) differ between test sets, which no
  winner can be named for: the difference is shown, not decided.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from charlm.kinds import model_label
from charlm.stats.intervals import (
    ALPHA,
    MIN_SEEDS,
    TIME_FLOOR,
    Interval,
    against_reference,
    block_bootstrap,
    block_bootstrap_unpaired,
    cluster_bootstrap,
    holm,
    iid_interval,
    mean_ci,
    paired_t,
    sign_flip_p,
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


POPULATIONS = {  # what a single run's test-set interval generalises to, by its split
    "random": "another random split of this corpus",
    "contiguous": "new text like this held-out text",
}


def test_set_interval(values, split: str, test_share: float | None,
                      scenes=None) -> Interval:
    """One run's test-set interval for the population its split stands for: a random split
    is a sample of this corpus's windows (iid, finite-population corrected); a contiguous one
    stands for new text, whose windows are dependent: a bootstrap over the scenes of the test
    text (`scenes`: each window's scene, charlm.scenes), else, where a text has too few, over
    blocks of 1,000 windows (a length that is a choice: the spread grows with it)."""
    if split == "random":
        return iid_interval(values, test_share)
    return (scenes is not None and cluster_bootstrap(values, scenes)) or block_bootstrap(values)


def with_test_loss_intervals(runs: pd.DataFrame, per_window: dict,
                             test_share: float | None = None) -> pd.DataFrame:
    """`runs` plus each run's test-loss 95% interval (test-set noise only) and the population
    it is for (POPULATIONS)."""
    intervals = [test_set_interval(per_window[(r.model, r.seed)]["losses"], r.split, test_share,
                                   per_window[(r.model, r.seed)].get("scenes"))
                 for r in runs.itertuples()]
    return runs.assign(test_loss_low=[iv.low for iv in intervals],
                       test_loss_high=[iv.high for iv in intervals],
                       test_loss_population=[POPULATIONS.get(r.split, r.split)
                                             for r in runs.itertuples()])


COVERS = {  # what an interval accounts for, in the report's words
    "seeds": "seed noise (initialisation, data order) on fixed test windows",
    "seeds, two test sets": "seed noise (initialisation, data order); the two were tested on "
                            "different windows",
    "seeds and splits": "seed noise and the choice of test windows (a split per seed)",
    "test set": "test-set noise of one seed, for new text like this test text (a bootstrap over "
                "its scenes, or blocks of 1,000 windows), not seed-to-seed variation",
    "test set, random split": "test-set noise of one seed, for another random split of this "
                              "corpus (iid windows), not seed-to-seed variation",
    "exact": "nothing: exact",
}


def _covers(kind: str | None, key: str) -> str | None:
    """What an interval of kind `kind` covers for metric `key`, in words."""
    if kind is None:
        return None
    if key in ("train_loss", "train_time") and kind.startswith("seeds"):
        text = "seed noise (initialisation, data order)"
        return text + (", not the machine's drift between models" if key == "train_time"
                       else "")
    return COVERS[kind]


def _rule(key: str, n: int, iv: Interval | None, varies: bool) -> tuple[str, str | None]:
    """How this comparison is decided ("exact", "holm", "floor", "floor+holm", "none") and, for
    "none", why no verdict is possible."""
    if key == "size_mb":
        return "exact", None
    holm_ok = n >= MIN_SEEDS and iv is not None and iv.p_value is not None
    if key == "train_time":
        return "floor", None
    if holm_ok:
        return "holm", None
    if n >= 2 and not varies:
        return "none", "the differences do not vary over seeds"
    return "none", f"{n} seed{'s' * (n != 1)}, a verdict needs {MIN_SEEDS}"


def compare(runs: pd.DataFrame, a: str, b: str, per_window: dict,
            split_per_seed: bool = False, test_share: float | None = None) -> dict[str, dict]:
    """Per metric, the difference a - b: its interval (or None), what the interval covers, and the
    rule that decides the verdict (see the module docstring).

    Several matched seeds: paired t over seeds (no interval where the differences do not vary).
    One seed: test metrics by a block bootstrap over the test windows; size is exact; training
    loss and time get no interval.
    """
    fa = runs[runs.model == a].set_index("seed")
    fb = runs[runs.model == b].set_index("seed")
    seeds = sorted(set(fa.index) & set(fb.index))
    both_random = (fa.split == "random").all() and (fb.split == "random").all()
    same_windows = set(fa.split) == set(fb.split)  # a split pair: two test sets
    over_seeds = ("seeds and splits" if split_per_seed and both_random
                  else "seeds" if same_windows else "seeds, two test sets")
    out: dict[str, dict] = {}
    for key in METRICS:
        x, y = fa.loc[seeds, key].to_numpy(), fb.loc[seeds, key].to_numpy()
        varies, iv, covers = len(seeds) >= 2 and np.ptp(x - y) > 0, None, None
        if key == "size_mb":
            d = float(x.mean() - y.mean())
            iv, covers = Interval(d, d, d, "exact", len(seeds)), "exact"
        elif varies:
            iv, covers = paired_t(x, y), over_seeds
        elif len(seeds) == 1 and key in WINDOW_COLUMNS:
            iv = _window_interval(per_window[(a, seeds[0])], per_window[(b, seeds[0])],
                                  WINDOW_COLUMNS[key], both_random, test_share)
            covers = "test set, random split" if iv.method.startswith("iid") else "test set"
        rule, reason = _rule(key, len(seeds), iv, varies)
        if key in WINDOW_COLUMNS and not same_windows:
            rule, reason = "none", "a difference between test sets (tested on different windows)"
        out[key] = {"interval": iv, "covers": _covers(covers, key), "rule": rule,
                    "reason": reason, "n_seeds": len(seeds),
                    "p_signflip": sign_flip_p(x - y) if varies and key != "size_mb" else None}
    return out


def _window_interval(wa: dict, wb: dict, column: str, random_split: bool,
                     test_share: float | None) -> Interval:
    """One run each, paired when both were tested on the same windows: for another random split
    (iid) on a random split, else for new text (over its scenes, test_set_interval)."""
    xa, xb = wa[column].astype(float), wb[column].astype(float)
    if wa["starts"].shape == wb["starts"].shape and bool((wa["starts"] == wb["starts"]).all()):
        return test_set_interval(xa - xb, "random" if random_split else "contiguous",
                                 test_share, wa.get("scenes"))
    return block_bootstrap_unpaired(xa, xb)


FAMILIES = {  # the family of each kind of test, in the report's words
    "primary": "the primary endpoint (the main pair's test loss), uncorrected",
    "pairs": "test loss of the other pairs",
    "secondary": "secondary metrics (accuracy, training loss)",
}


FAMILY_METRICS = ("test_loss", "test_accuracy", "train_loss")  # decided by a corrected test


def _family(main: bool, metric: str) -> str:
    if metric == "test_loss":
        return "primary" if main else "pairs"
    return "secondary"


def _decide(row: dict, higher_is_better: bool, family_size: int) -> tuple[str | None, str]:
    """(winner or None, the verdict in words) of one comparison row with its corrected p."""
    a, b, d = row["a"], row["b"], row["mean_a"] - row["mean_b"]
    better = a if (d > 0) == higher_is_better else b
    rule, p = row["rule"], row["p_holm"]
    if rule == "exact":
        return (better, model_label(better)) if d != 0 else (None, "equal")
    if rule == "none":
        return None, f"not established: {row['reason']}"
    if rule == "floor":
        apart = abs(d) / max(abs(row["mean_a"]), abs(row["mean_b"]), 1e-12)
        if apart <= TIME_FLOOR:
            return None, f"within the {TIME_FLOOR:.0%} floor for times ({apart:.0%} apart)"
    if rule == "holm" and not p < ALPHA:
        if row["family"] == "primary":
            return None, f"not established (p = {p:.2g}, the primary endpoint)"
        return None, (f"not established after correcting for {family_size} test"
                      f"{'s' * (family_size != 1)} (Holm p = {p:.2g})")
    return better, model_label(better)


def comparisons(runs: pd.DataFrame, pairs: list[tuple[str, str]], per_window: dict,
                split_per_seed: bool = False, test_share: float | None = None) -> pd.DataFrame:
    """Every pair (the main pair first) and metric: means, difference, interval, what it covers,
    t-test and sign-flip p-values, the family the test belongs to and its p corrected within
    that family (see the module docstring), winner and verdict.

    One row per pair and metric; `winner` is a model name or None, `verdict` says it in words
    ("GRU", "not established: 1 seed, a verdict needs 3", "not established after correcting
    for 4 tests (Holm p = ...)").
    """
    rows = []
    for i, (a, b) in enumerate(pairs):
        for key, c in compare(runs, a, b, per_window, split_per_seed, test_share).items():
            iv = c.pop("interval")
            mean_a = float(runs.loc[runs.model == a, key].mean())
            mean_b = float(runs.loc[runs.model == b, key].mean())
            interval = asdict(iv) if iv is not None else {"estimate": mean_a - mean_b}
            rows.append({"a": a, "b": b, "main": i == 0, "metric": key, "mean_a": mean_a,
                         "mean_b": mean_b, **interval, **c})
    df = pd.DataFrame(rows).reindex(columns=COLUMNS[:-4])
    tested = (df["rule"] == "holm") & df["p_value"].notna()
    df["family"] = [_family(m, k) if k in FAMILY_METRICS else None
                    for m, k in zip(df["main"], df["metric"])]
    df["p_holm"] = np.nan
    sizes = df.loc[tested, "family"].value_counts().to_dict()
    for name in sizes:  # each family corrected on its own; the primary is a family of one
        rows_of = tested & (df["family"] == name)
        df.loc[rows_of, "p_holm"] = holm(df.loc[rows_of, "p_value"].astype(float))
    decided = [_decide(r, METRICS[r["metric"]].higher_is_better, sizes.get(r["family"], 0))
               for r in df.to_dict("records")]
    df["winner"] = [w for w, _ in decided]
    df["verdict"] = [v for _, v in decided]
    return df.reindex(columns=COLUMNS)


COLUMNS = ["a", "b", "main", "metric", "mean_a", "mean_b", "estimate", "low", "high", "method",
           "covers", "n", "p_value", "rule", "reason", "n_seeds", "p_signflip", "family", "p_holm",
           "winner", "verdict"]


def interval_of(row) -> Interval | None:
    """The Interval of one comparison row (None where a single run has no interval)."""
    if not isinstance(row.method, str):
        return None
    p = row.p_value if row.p_value is not None and np.isfinite(row.p_value) else None
    return Interval(row.estimate, row.low, row.high, row.method, int(row.n), p)


def budget_differences(histories: pd.DataFrame, a: str, b: str,
                       key: str = "val_loss") -> pd.DataFrame:
    """The main pair's difference a - b of `key` (validation loss) at every epoch the run passes
    through, paired over the seeds both have, with its t-interval: the verdict at every budget.
    Each epoch is placed at its optimizer steps and at the mean training seconds of the two."""
    h = histories.dropna(subset=[key]).copy()
    h["steps_done"] = h.groupby(["model", "seed"]).steps.cumsum()
    rows = []
    for epoch, e in h[h.model.isin([a, b])].groupby("epoch"):
        x, y = e[e.model == a].set_index("seed"), e[e.model == b].set_index("seed")
        seeds = sorted(set(x.index) & set(y.index))
        if not seeds:
            continue
        d = x.loc[seeds, key].to_numpy() - y.loc[seeds, key].to_numpy()
        ci = mean_ci(d)
        rows.append({"epoch": int(epoch), "steps": int(x.loc[seeds, "steps_done"].max()),
                     "seconds": float(pd.concat([x.loc[seeds], y.loc[seeds]])
                                      .elapsed_train_seconds.mean()),
                     "estimate": ci["mean"], "low": ci["ci_low"], "high": ci["ci_high"],
                     "n": len(seeds)})
    return pd.DataFrame(rows)


def reference_fits(runs: pd.DataFrame, reference_losses: dict[str, float]) -> pd.DataFrame:
    """Per reference model the run has on the random split: its test losses over seeds against
    the reference's one number (intervals.against_reference: a prediction interval for one run,
    TOST for "matches"). reference_losses: {model: the reference's test loss}, empty where the
    run is not comparable (another corpus, a cut of it). Each run's test-set standard error is
    taken from its 95% interval over test windows."""
    rows = []
    for model, ref in reference_losses.items():
        r = runs[runs.model == model]
        if r.empty or (r.split != "random").any():
            continue
        test_se = float(((r.test_loss_high - r.test_loss_low) / (2 * 1.96)).mean())
        rows.append({"model": model, "reference": ref,
                     **against_reference(r.test_loss, test_se, ref)})
    return pd.DataFrame(rows)
