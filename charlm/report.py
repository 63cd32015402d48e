"""Tables, verdicts and analysis sentences of a run, computed from the files in its folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from charlm.runfolder import per_window
from charlm.stats import (
    Interval,
    block_bootstrap,
    block_bootstrap_unpaired,
    mean_ci,
    paired_t,
    verdict,
)

# metric key -> (row label of the reference's table, higher is better, format)
METRICS = {
    "train_loss": ("Final Training Loss", False, "{:.4f}"),
    "test_loss": ("Final Test Loss", False, "{:.4f}"),
    "test_accuracy": ("Final Test Accuracy", True, "{:.2%}"),
    "train_time": ("Training Time", False, "{:.1f} s"),
    "size_mb": ("Model Size", False, "{:.2f} MB"),
}
WORDS = {"train_time": "faster", "size_mb": "smaller"}


def summary_over_seeds(finals: pd.DataFrame) -> pd.DataFrame:
    """Per model and metric: mean, std, 95% CI over seeds, n."""
    rows = []
    for model, group in finals.groupby("model", sort=False):  # keeps the run's model order
        for key in METRICS:
            rows.append({"model": model, "metric": key, **mean_ci(group[key].to_numpy())})
    return pd.DataFrame(rows)


def compare(finals: pd.DataFrame, run_dir: str | Path, a: str, b: str) -> dict[str, Interval]:
    """Interval of the difference a - b for every metric.

    Several matched seeds: paired t over seeds. One seed: test metrics by a block bootstrap over
    the same test windows; size is exact; training loss and time get no interval.
    """
    fa = finals[finals.model == a].set_index("seed")
    fb = finals[finals.model == b].set_index("seed")
    seeds = sorted(set(fa.index) & set(fb.index))
    out: dict[str, Interval | None] = {}
    for key in METRICS:
        x, y = fa.loc[seeds, key].to_numpy(), fb.loc[seeds, key].to_numpy()
        if key == "size_mb":
            d = float(x.mean() - y.mean())
            out[key] = Interval(d, d, d, "exact", len(seeds))
        elif len(seeds) >= 2:
            out[key] = paired_t(x, y)
        elif key in ("test_loss", "test_accuracy"):
            out[key] = _window_interval(run_dir, a, b, seeds[0], key)
        else:
            out[key] = None
    return out


def _window_interval(run_dir, a: str, b: str, seed: int, key: str) -> Interval:
    """One run each: block bootstrap, paired when both were tested on the same windows."""
    col = "losses" if key == "test_loss" else "correct"
    wa, wb = per_window(run_dir, a, seed), per_window(run_dir, b, seed)
    xa, xb = wa[col].double().numpy(), wb[col].double().numpy()
    if wa["starts"].shape == wb["starts"].shape and bool((wa["starts"] == wb["starts"]).all()):
        return block_bootstrap(xa - xb)
    return block_bootstrap_unpaired(xa, xb)


def fmt(key: str, value: float) -> str:
    return METRICS[key][2].format(value) if np.isfinite(value) else "n/a"


def _cell(key: str, values: np.ndarray) -> str:
    if len(values) == 1 or key == "size_mb":
        return fmt(key, values[0])
    return f"{fmt(key, values.mean())} ± {fmt(key, values.std(ddof=1))}"


def comparison_table(finals: pd.DataFrame, intervals: dict, a: str, b: str) -> pd.DataFrame:
    """The reference's table: one row per metric, a column per model, Winner from intervals."""
    models = list(dict.fromkeys([a, b, *finals.model]))
    rows = []
    for key, (label, higher, _) in METRICS.items():
        row = {"Metric": label}
        for m in models:
            row[m.upper()] = _cell(key, finals.loc[finals.model == m, key].to_numpy())
        ma, mb = (
            finals.loc[finals.model == a, key].mean(),
            finals.loc[finals.model == b, key].mean(),
        )
        win = verdict(a.upper(), b.upper(), ma, mb, higher, intervals.get(key))
        row["Winner"] = win or "within noise"
        rows.append(row)
    return pd.DataFrame(rows)


def _diff_text(key: str, iv: Interval) -> str:
    scale, unit = (100, " pp") if key == "test_accuracy" else (1, "")
    if key == "train_time":
        unit = " s"
    lo, hi = iv.low * scale, iv.high * scale
    text = f"95% CI of the difference [{lo:+.4g}, {hi:+.4g}]{unit}, {iv.method}, n={iv.n}"
    if "bootstrap" in iv.method:
        text += "; it covers test-set noise only, not seed-to-seed variation: run several seeds"
    return text


def analysis_sentences(finals: pd.DataFrame, intervals: dict, a: str, b: str) -> list[str]:
    """One sentence per metric, written from the numbers and their intervals."""
    out = []
    for key, (label, higher, _) in METRICS.items():
        va, vb = (
            finals.loc[finals.model == a, key].mean(),
            finals.loc[finals.model == b, key].mean(),
        )
        iv = intervals.get(key)
        win = verdict(a.upper(), b.upper(), va, vb, higher, iv)
        pair = f"{fmt(key, va)} for {a.upper()} vs {fmt(key, vb)} for {b.upper()}"
        rel = abs(va - vb) / max(abs(va), abs(vb), 1e-12)
        ci = f" ({_diff_text(key, iv)})" if iv is not None and iv.method != "exact" else ""
        if win is None:
            why = (
                "no interval from a single run, and under 5% apart"
                if iv is None
                else ("the interval includes zero")
            )
            out.append(f"{label}: {pair}; the difference is within noise ({why}){ci}.")
        else:
            loser = b.upper() if win == a.upper() else a.upper()
            word = WORDS.get(key, "higher" if higher else "lower")
            single = "" if iv is not None else " (one run each: a winner needs a 5% difference)"
            out.append(f"{label}: {win} is {word} than {loser} by {rel:.1%} ({pair}){ci}{single}.")
    return out


def md_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def runs_table(finals: pd.DataFrame, run_dir: str | Path) -> pd.DataFrame:
    """Every individual run, with its test loss's 95% block-bootstrap interval (test-set noise)."""
    rows = []
    for r in finals.itertuples():
        losses = per_window(run_dir, r.model, r.seed)["losses"].double().numpy()
        iv = block_bootstrap(losses)
        rows.append({"Model": r.model.upper(), "Seed": r.seed, "Split": r.split,
                     "Train loss": f"{r.train_loss:.4f}",
                     "Test loss [95% CI, test windows]": f"{r.test_loss:.4f} "
                                                         f"[{iv.low:.4f}, {iv.high:.4f}]",
                     "Accuracy": f"{r.test_accuracy:.2%}", "Time": f"{r.train_time:.1f} s"})
    return pd.DataFrame(rows)


def seeds_table(finals: pd.DataFrame) -> pd.DataFrame:
    """Per model and metric: mean, standard deviation and 95% t-interval over seeds."""
    rows = []
    for s in summary_over_seeds(finals).itertuples():
        if s.metric == "size_mb":
            continue
        show = lambda v, k=s.metric: fmt(k, v)  # noqa: E731
        ci = "n/a" if s.n < 2 else f"[{show(s.ci_low)}, {show(s.ci_high)}]"
        rows.append({"Model": s.model.upper(), "Metric": METRICS[s.metric][0],
                     "Mean": show(s.mean), "Std": "n/a" if s.n < 2 else show(s.std),
                     "95% CI": ci, "Seeds": s.n})
    return pd.DataFrame(rows)


def differences_table(finals: pd.DataFrame, run_dir, pairs: list) -> pd.DataFrame:
    """Test loss and accuracy differences (A - B) with intervals for every pair compared."""
    rows = []
    for a, b in pairs:
        iv = compare(finals, run_dir, a, b)
        for key in ("test_loss", "test_accuracy"):
            d = iv[key]
            scale = 100 if key == "test_accuracy" else 1
            rows.append({"A - B": f"{a.upper()} - {b.upper()}", "Metric": METRICS[key][0],
                         "Difference": f"{d.estimate * scale:+.4f}",
                         "95% CI": f"[{d.low * scale:+.4f}, {d.high * scale:+.4f}]",
                         "p": "n/a" if d.p_value is None else f"{d.p_value:.3g}",
                         "Method": d.method,
                         "Verdict": "real" if d.excludes_zero else "within noise"})
    return pd.DataFrame(rows)


def pair_sentence(finals: pd.DataFrame, run_dir, a: str, b: str) -> str:
    """One sentence on the test loss of A against B, with what the pair is about."""
    iv = compare(finals, run_dir, a, b)["test_loss"]
    va = finals.loc[finals.model == a, "test_loss"].mean()
    vb = finals.loc[finals.model == b, "test_loss"].mean()
    split_a = finals.loc[finals.model == a, "split"].iloc[0]
    split_b = finals.loc[finals.model == b, "split"].iloc[0]
    head = f"Test loss {a.upper()} {va:.4f} vs {b.upper()} {vb:.4f}: "
    if iv.excludes_zero:
        head += f"{a.upper() if va < vb else b.upper()} is lower by {abs(va - vb):.4f} nats"
    else:
        head += "within noise"
    head += f" ({_diff_text('test_loss', iv)})."
    if split_a != split_b:
        head += (" The two splits differ: with the random split every test window's characters "
                 "also appear as inputs of neighbouring training windows, so it measures "
                 "prediction inside text the model has seen; the contiguous split tests on the "
                 "last 20% of the text, which the model never saw.")
    return head
