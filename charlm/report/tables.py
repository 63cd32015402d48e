"""The report's tables: DataFrames formatted for reading, and Markdown from them.

Each function takes tables as notebook 04 wrote them (charlm.experiment.run) and formats them;
nothing is computed again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from charlm.kinds import model_label
from charlm.stats.verdicts import METRICS, interval_of


def fmt(key: str, value: float) -> str:
    return METRICS[key].fmt.format(value) if np.isfinite(value) else "n/a"


def md_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no extra dependency), `|` in cells escaped."""
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    head = "| " + " | ".join(map(cell, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(map(cell, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _mean_and_spread(key: str, values: np.ndarray) -> str:
    """One model's entry in the table: the value, or mean ± std over seeds."""
    if len(values) == 1 or key == "size_mb":
        return fmt(key, values[0])
    return f"{fmt(key, values.mean())} ± {fmt(key, values.std(ddof=1))}"


def main_rows(comparisons: pd.DataFrame) -> pd.DataFrame:
    return comparisons[comparisons["main"].astype(bool)]


def comparison_table(runs: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
    """The reference's table: a row per metric, a column per model, the main pair's verdict."""
    main = main_rows(comparisons).set_index("metric")
    a, b = main.iloc[0][["a", "b"]]
    models = list(dict.fromkeys([a, b, *runs.model]))
    rows = []
    for key, metric in METRICS.items():
        row = {"Metric": metric.label}
        for m in models:
            row[model_label(m)] = _mean_and_spread(key, runs.loc[runs.model == m, key].to_numpy())
        row[f"Verdict, {model_label(a)} vs {model_label(b)}"] = main.loc[key, "verdict"]
        rows.append(row)
    return pd.DataFrame(rows)


def seeds_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per model and metric: mean, standard deviation and 95% t-interval over seeds."""
    rows = []
    for s in summary.itertuples():
        if s.metric == "size_mb":
            continue
        show = lambda v, k=s.metric: fmt(k, v)  # noqa: E731
        ci = "n/a" if s.n < 2 else f"[{show(s.ci_low)}, {show(s.ci_high)}]"
        rows.append({"Model": model_label(s.model), "Metric": METRICS[s.metric].label,
                     "Mean": show(s.mean), "Std": "n/a" if s.n < 2 else show(s.std),
                     "95% CI over seeds": ci, "Seeds": s.n})
    return pd.DataFrame(rows)


def scale_of(key: str) -> tuple[float, str]:
    """Differences of accuracy in percentage points, of time in seconds."""
    return {"test_accuracy": (100, " pp"), "train_time": (1, " s")}.get(key, (1, ""))


def _p(value) -> str:
    return f"{value:.3g}" if value is not None and pd.notna(value) else "n/a"


def differences_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Every difference A - B but size (exact), with its interval, what the interval covers, the
    paired t-test p and the exact sign-flip p beside it, the test's family (the primary endpoint
    marked) and the p corrected within that family, which decides the verdict. Training time
    has no p: its floor decides it."""
    rows = []
    for c in comparisons[comparisons.metric != "size_mb"].itertuples():
        d, (scale, unit) = interval_of(c), scale_of(c.metric)
        ci = "none" if d is None else f"[{d.low * scale:+.4g}, {d.high * scale:+.4g}]{unit}"
        floor = c.rule == "floor"
        rows.append({"A - B": f"{model_label(c.a)} - {model_label(c.b)}",
                     "Metric": METRICS[c.metric].label,
                     "Difference": f"{c.estimate * scale:+.4g}{unit}", "95% CI": ci,
                     "Covers": c.covers if isinstance(c.covers, str) else "n/a",
                     "t-test p": "n/a (floor)" if floor else _p(None if d is None
                                                                else d.p_value),
                     "sign-flip p": "n/a (floor)" if floor else _p(c.p_signflip),
                     "Family": ("primary endpoint" if c.family == "primary" else c.family
                                if isinstance(c.family, str) else "n/a"),
                     "Corrected p": _p(c.p_holm), "Verdict": c.verdict})
    return pd.DataFrame(rows)


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table: every model and seed, with its test loss's interval (test-set noise)."""
    return pd.DataFrame([{
        "Model": model_label(r.model), "Seed": r.seed, "Split": r.split,
        "Train loss": f"{r.train_loss:.4f}",
        "Test loss [95% CI, test-set noise]":
            f"{r.test_loss:.4f} [{r.test_loss_low:.4f}, {r.test_loss_high:.4f}]",
        "The interval is for": getattr(r, "test_loss_population", "n/a"),
        "Accuracy": f"{r.test_accuracy:.2%}", "Time": f"{r.train_time:.1f} s",
    } for r in runs.itertuples()])


def held_out_table(held_out: pd.DataFrame, train_frac: float) -> pd.DataFrame:
    """Every model's and the n-gram's test loss, inside the late text (the last 1 - train_frac
    of it, the contiguous split's test text) and elsewhere."""
    shown = lambda v: "n/a" if not np.isfinite(v) else f"{v:.4f}"  # noqa: E731
    table = held_out.astype({"n_late": int, "n_early": int})
    table = table.assign(scorer=table.scorer.map(lambda s: s if "gram" in s else model_label(s)),
                         **{col: table[col].map(shown)
                            for col in ("test_loss", "late_loss", "early_loss")})
    return table.rename(columns={
        "scorer": "Model", "split": "Split", "test_loss": "Test loss",
        "late_loss": f"in the last {1 - train_frac:.0%} of the text",
        "early_loss": "elsewhere", "n_late": "windows there", "n_early": "windows elsewhere"})


def architectures_table(runs: pd.DataFrame, num_layers: int) -> pd.DataFrame:
    """A row per model: its kind, width (a recurrent cell's hidden size), layers, parameters,
    size and forward FLOPs per character (older run folders lack the last)."""
    runs = runs.drop_duplicates("model")
    table = runs.assign(size_mb=runs.size_mb.map(lambda v: f"{v:.2f}"))
    if "layers" not in table:
        table = table.assign(layers=num_layers)
    table = table.assign(layers=table["layers"].map(  # a user's class may not say
        lambda v: "n/a" if pd.isna(v) else f"{int(v)}"))
    columns = ["model", "cell", "hidden_size", "layers", "parameters", "size_mb",
               *(["kflops_per_char"] if "kflops_per_char" in table else [])]
    return table[columns].rename(columns={
        "cell": "kind", "hidden_size": "width", "kflops_per_char": "kFLOPs per char"})


def reference_table(reference) -> pd.DataFrame:
    """The reference report's table, as it printed it."""
    return pd.DataFrame([{"Metric": metric.label,
                          **{f"Reference {model_label(name)}": reference.as_printed(key, name)
                             for name in reference.MODELS}}
                         for key, metric in METRICS.items()])


def corpus_name(corpus: str, max_chars: int | None, chars: int | None = None) -> str:
    """The text the run used, in words: Tiny Shakespeare or the file's name, and any cut
    (`chars`: the characters it really had; a text shorter than max_chars was not cut)."""
    name = "Tiny Shakespeare" if not corpus else f"`{Path(corpus).name}`"
    if chars is not None and max_chars and chars < max_chars:
        return name + f" (all {chars:,} characters)"
    return name + (f" (first {max_chars:,} characters)" if max_chars else "")


def hardware_line(env: dict) -> str:
    """One line for the report: what this run ran on."""
    where = env["gpu"] if env.get("gpu") else f"{env['cpu']} ({env['cpu_cores']} cores)"
    return f"{where}, device {env['device']}, torch {env['torch_version']}"
