"""The report's sections, as Markdown, formatted from what the run folder holds (05_report).

Every number comes from the files that notebooks 01-04 wrote; nothing is recomputed here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from charlm import reference
from charlm.analysis import METRICS, interval_of
from charlm.environment import hardware_line
from charlm.run import Run
from charlm.stats import Interval

WORDS = {"train_time": "faster", "size_mb": "smaller"}


def fmt(key: str, value: float) -> str:
    return METRICS[key].fmt.format(value) if np.isfinite(value) else "n/a"


def md_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _mean_and_spread(key: str, values: np.ndarray) -> str:
    """One model's entry in the table: the value, or mean ± std over seeds."""
    if len(values) == 1 or key == "size_mb":
        return fmt(key, values[0])
    return f"{fmt(key, values.mean())} ± {fmt(key, values.std(ddof=1))}"


def _main(comparisons: pd.DataFrame) -> pd.DataFrame:
    return comparisons[comparisons["main"].astype(bool)]


def comparison_table(runs: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
    """The reference's table: a row per metric, a column per model, Winner of the main pair."""
    main = _main(comparisons).set_index("metric")
    a, b = main.iloc[0][["a", "b"]]
    models = list(dict.fromkeys([a, b, *runs.model]))
    rows = []
    for key, metric in METRICS.items():
        row = {"Metric": metric.label}
        for m in models:
            row[m.upper()] = _mean_and_spread(key, runs.loc[runs.model == m, key].to_numpy())
        winner = main.loc[key, "winner"]
        row["Winner"] = winner.upper() if isinstance(winner, str) else "within noise"
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
        rows.append({"Model": s.model.upper(), "Metric": METRICS[s.metric].label,
                     "Mean": show(s.mean), "Std": "n/a" if s.n < 2 else show(s.std),
                     "95% CI": ci, "Seeds": s.n})
    return pd.DataFrame(rows)


def differences_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Test loss and accuracy differences (A - B) with intervals, for every pair compared."""
    rows = []
    for c in comparisons[comparisons.metric.isin(["test_loss", "test_accuracy"])].itertuples():
        d, scale = interval_of(c), 100 if c.metric == "test_accuracy" else 1
        if d is None:  # several seeds whose differences do not vary: no interval to give
            d = Interval(c.estimate, float("nan"), float("nan"), "none: the differences do not "
                         "vary over seeds", 0)
        rows.append({"A - B": f"{c.a.upper()} - {c.b.upper()}", "Metric": METRICS[c.metric].label,
                     "Difference": f"{d.estimate * scale:+.4f}",
                     "95% CI": f"[{d.low * scale:+.4f}, {d.high * scale:+.4f}]",
                     "p": "n/a" if d.p_value is None else f"{d.p_value:.3g}",
                     "Method": d.method,
                     "Verdict": "real" if isinstance(c.winner, str) else "within noise"})
    return pd.DataFrame(rows)


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table: every model and seed, with its test loss's interval (test-set noise)."""
    return pd.DataFrame([{
        "Model": r.model.upper(), "Seed": r.seed, "Split": r.split,
        "Train loss": f"{r.train_loss:.4f}",
        "Test loss [95% CI, test windows]":
            f"{r.test_loss:.4f} [{r.test_loss_low:.4f}, {r.test_loss_high:.4f}]",
        "Accuracy": f"{r.test_accuracy:.2%}", "Time": f"{r.train_time:.1f} s",
    } for r in runs.itertuples()])


def _diff_text(key: str, iv: Interval) -> str:
    scale, unit = (100, " pp") if key == "test_accuracy" else (1, "")
    if key == "train_time":
        unit = " s"
    lo, hi = iv.low * scale, iv.high * scale
    text = f"95% CI of the difference [{lo:+.4g}, {hi:+.4g}]{unit}, {iv.method}, n={iv.n}"
    if "bootstrap" in iv.method:
        text += "; it covers test-set noise only, not seed-to-seed variation: run several seeds"
    return text


def analysis_sentences(comparisons: pd.DataFrame) -> list[str]:
    """One sentence per metric of the main pair, written from its numbers and intervals."""
    out = []
    for c in _main(comparisons).itertuples():
        metric, iv = METRICS[c.metric], interval_of(c)
        a, b = c.a.upper(), c.b.upper()
        win = c.winner.upper() if isinstance(c.winner, str) else None
        pair = f"{fmt(c.metric, c.mean_a)} for {a} vs {fmt(c.metric, c.mean_b)} for {b}"
        rel = abs(c.mean_a - c.mean_b) / max(abs(c.mean_a), abs(c.mean_b), 1e-12)
        ci = f" ({_diff_text(c.metric, iv)})" if iv is not None and iv.method != "exact" else ""
        if win is None:
            why = ("no interval from a single run, and under 5% apart" if iv is None
                   else "the interval includes zero")
            out.append(f"{metric.label}: {pair}; the difference is within noise ({why}){ci}.")
        else:
            loser = b if win == a else a
            word = WORDS.get(c.metric, "higher" if metric.higher_is_better else "lower")
            single = "" if iv is not None else " (one run each: a winner needs a 5% difference)"
            out.append(f"{metric.label}: {win} is {word} than {loser} by {rel:.1%} ({pair}){ci}"
                       f"{single}.")
    return out


def pair_sentence(c, runs: pd.DataFrame) -> str:
    """One sentence on the test loss of a further pair (a comparison row of test_loss)."""
    iv, a, b = interval_of(c), c.a.upper(), c.b.upper()
    head = f"Test loss {a} {c.mean_a:.4f} vs {b} {c.mean_b:.4f}: "
    if isinstance(c.winner, str):
        head += f"{c.winner.upper()} is lower by {abs(c.estimate):.4f} nats"
    else:
        head += "within noise"
    head += f" ({_diff_text('test_loss', iv)})." if iv is not None else "."
    split = runs.drop_duplicates("model").set_index("model")["split"]
    if split[c.a] != split[c.b]:
        head += (" The two splits differ: with the random split every test window's characters "
                 "also appear as inputs of neighbouring training windows, so it measures "
                 "prediction inside text the model has seen; the contiguous split tests on the "
                 "last 20% of the text, which the model never saw.")
    return head


# -- the sections, in the order of the report
def title(run: Run) -> str:
    spec = run.read_spec()
    names = " vs ".join(m.upper() for m in spec.run.models)
    return (f"# {names} on Tiny Shakespeare\n\nProfile `{spec.profile}`, run folder "
            f"`{run.root.name}`. Every number below was measured in this run.")


def dataset(run: Run) -> str:
    return "## Dataset\n\n" + md_table(run.read_data_overview())


def architectures(run: Run) -> str:
    runs = run.read_metrics()["runs"].drop_duplicates("model")
    table = runs[["model", "cell", "hidden_size", "parameters", "size_mb"]].assign(
        layers=run.read_spec().model.num_layers, size_mb=runs.size_mb.map(lambda v: f"{v:.2f}"))
    return ("## Model Architectures\n\nOne-hot characters (input size = vocabulary size), a "
            "stacked recurrent layer, a linear layer to the vocabulary.\n\n" + md_table(table))


def training_configuration(run: Run) -> str:
    spec = run.read_spec()
    t, d = spec.train, spec.data
    schedule = (f"constant {t.lr:g}" if t.min_lr is None
                else f"{t.warmup_steps} warmup steps, cosine {t.lr:g} -> {t.min_lr:g}")
    steps = f", at most {t.max_steps} steps per epoch" if t.max_steps else ""
    objective = ("next character after each window, as the reference" if t.objective == "last"
                 else "every position predicts its next character; targets of test windows are "
                      "skipped")
    lines = [
        f"- **Objective**: `{t.objective}` ({objective})",
        f"- **Split**: `{d.split}` {d.train_frac:.0%}/{1 - d.train_frac:.0%} of the windows"
        + (f", first {d.max_chars:,} characters" if d.max_chars else ""),
        f"- **Optimizer**: Adam, learning rate {schedule}, batch size {t.batch_size}, "
        f"gradient clipping {t.grad_clip or 'none'}",
        f"- **Epochs**: {t.epochs}{steps}; seeds {spec.run.seeds}" + _together(run),
        f"- **Evaluation**: every epoch on {t.eval_windows or 'all'} test windows, the final "
        "epoch on all of them; loss = cross entropy in nats",
        f"- **Hardware**: {hardware_line(run.read_environment())}",
    ]
    return "## Training Configuration\n\n" + "\n".join(lines)


def _together(run: Run) -> str:
    k = int(run.read_metrics()["runs"].get("trained_with", pd.Series([1])).max())
    return ("" if k <= 1 else f", the seeds of each model trained together as one computation "
            f"({k} at a time; a model's training time is the group's time divided by {k})")


def results(run: Run) -> str:
    m = run.read_metrics()
    table = comparison_table(m["runs"], m["comparisons"])
    ref = pd.DataFrame([{"Metric": metric.label,
                         **{f"Reference {name.upper()}": reference.as_printed(key, name)
                            for name in reference.MODELS}}
                        for key, metric in METRICS.items()])
    note = ("Mean ± standard deviation over seeds where there are several. Winner: only where "
            "the 95% interval of the difference excludes zero; otherwise 'within noise' "
            "(see Analysis for the intervals).")
    return (f"## Results\n\n### Performance Metrics ({m['runs'].split.iloc[0]} split)\n\n"
            f"{md_table(table)}\n\n{note}\n\n### The reference report ({reference.HARDWARE})"
            f"\n\n{md_table(ref)}")


def statistics(run: Run) -> str:
    """Seeds summary, differences with intervals, and the runs table."""
    m = run.read_metrics()
    return (
        "### Over seeds: mean, spread, 95% interval (t distribution)\n\n"
        + md_table(seeds_table(m["summary"]))
        + "\n\n### Differences A - B (accuracy in percentage points)\n\nSeveral seeds: paired "
        "differences over matched seeds, 95% t-interval and paired t-test p-value. One seed: a "
        "bootstrap over contiguous blocks of 1,000 test windows (neighbouring windows overlap, so "
        "resampling single windows would understate the spread).\n\n"
        + md_table(differences_table(m["comparisons"]))
        + "\n\n### Runs: every model and seed\n\n" + md_table(runs_table(m["runs"]))
    )


def samples(run: Run) -> str:
    rows = run.read_samples()
    out = [f"## Text Generation Examples\n\nSampling seed {rows.seed.iloc[0]}."]
    for r in rows.itertuples():
        out.append(f"**{r.model.upper()}**, temperature {r.temperature}, prompt "
                   f'"{r.prompt}":\n\n```\n{r.text}\n```')
    return "\n\n".join(out)


def analysis(run: Run) -> str:
    m = run.read_metrics()
    comparisons = m["comparisons"]
    text = "## Analysis\n\n" + "\n".join(
        f"{i}. {s}" for i, s in enumerate(analysis_sentences(comparisons), 1))
    more = comparisons[~comparisons["main"].astype(bool) & (comparisons.metric == "test_loss")]
    if len(more):
        text += "\n\n### Further comparisons\n\n" + "\n".join(
            f"- {pair_sentence(c, m['runs'])}" for c in more.itertuples())
    return text


def conclusion(run: Run) -> str:
    m = run.read_metrics()
    main = _main(m["comparisons"])
    a, b = (x.upper() for x in main.iloc[0][["a", "b"]])
    decided = [f"{METRICS[c.metric].label.lower()}: {c.winner.upper()}"
               for c in main.itertuples() if isinstance(c.winner, str)]
    noise = [METRICS[c.metric].label.lower() for c in main.itertuples()
             if not isinstance(c.winner, str)]
    text = f"## Conclusion\n\n{a} against {b}. "
    text += (f"Measured differences that exceed their noise: {'; '.join(decided)}. " if decided
             else "No difference between the models exceeds its noise. ")
    if noise:
        text += f"Within noise, so no winner: {', '.join(noise)}. "
    runs = m["runs"]
    for model in reference.MODELS:
        if model in set(runs.model):
            loss, ref = runs.loc[runs.model == model, "test_loss"].mean(), reference.number(
                "test_loss", model)
            side = "at or below" if loss <= ref else "above"
            text += (f"{model.upper()} reached a test loss of {loss:.4f}, {side} the reference's "
                     f"{ref}. ")
    return text

