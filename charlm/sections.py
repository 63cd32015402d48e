"""The report's sections as Markdown, written from the run folder's files (05_report)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from charlm.environment import hardware_line
from charlm.profiles import configs
from charlm.report import (
    analysis_sentences,
    differences_table,
    md_table,
    pair_sentence,
    runs_table,
    seeds_table,
)
from charlm.runfolder import read_json
from charlm.stats import Interval

REFERENCE_TABLE = {  # lstm_vs_gru_report.md, for the side-by-side column
    "Final Training Loss": ("1.1892", "1.2705"),
    "Final Test Loss": ("1.3823", "1.3753"),
    "Final Test Accuracy": ("58.16%", "58.08%"),
    "Training Time": ("477.15 s", "455.48 s"),
    "Model Size": ("0.92 MB", "0.70 MB"),
}


REFERENCE_TEST_LOSS = {"lstm": 1.3823, "gru": 1.3753}


def title(run_dir: str | Path) -> str:
    p = read_json(run_dir, "params.json")
    names = " vs ".join(m.upper() for m in p["models"])
    return (
        f"# {names} on Tiny Shakespeare\n\nProfile `{p['profile']}`, run folder "
        f"`{Path(run_dir).name}`. Every number below was measured in this run."
    )


def dataset(run_dir: str | Path) -> str:
    overview = pd.read_csv(Path(run_dir) / "data_overview.csv")
    return "## Dataset\n\n" + md_table(overview)


def architectures(run_dir: str | Path) -> str:
    runs = pd.read_csv(Path(run_dir) / "runs.csv").drop_duplicates("model")
    table = runs[["model", "cell", "hidden_size", "parameters", "size_mb"]].assign(
        layers=configs(read_json(run_dir, "params.json"))["model"].num_layers,
        size_mb=runs.size_mb.map(lambda v: f"{v:.2f}"),
    )
    return (
        "## Model Architectures\n\nOne-hot characters (input size = vocabulary size), a "
        "stacked recurrent layer, a linear layer to the vocabulary.\n\n" + md_table(table)
    )


def training_configuration(run_dir: str | Path) -> str:
    p = read_json(run_dir, "params.json")
    env = read_json(run_dir, "environment.json")
    c = configs(p)
    t, d = c["train"], c["data"]
    schedule = (
        f"constant {t.lr:g}"
        if t.min_lr is None
        else (f"{t.warmup_steps} warmup steps, cosine {t.lr:g} -> {t.min_lr:g}")
    )
    steps = f", at most {t.max_steps} steps per epoch" if t.max_steps else ""
    lines = [
        f"- **Objective**: `{t.objective}` ("
        + (
            "next character after each window, as the reference"
            if t.objective == "last"
            else "every position predicts its next character; targets of test windows are skipped"
        )
        + ")",
        f"- **Split**: `{d.split}` {d.train_frac:.0%}/{1 - d.train_frac:.0%} of the windows"
        + (f", first {d.max_chars:,} characters" if d.max_chars else ""),
        f"- **Optimizer**: Adam, learning rate {schedule}, batch size {t.batch_size}, "
        f"gradient clipping {t.grad_clip or 'none'}",
        f"- **Epochs**: {t.epochs}{steps}; seeds {p['seeds']}",
        f"- **Evaluation**: every epoch on {t.eval_windows or 'all'} test windows, the final "
        "epoch on all of them; loss = cross entropy in nats",
        f"- **Hardware**: {hardware_line(env)}",
    ]
    return "## Training Configuration\n\n" + "\n".join(lines)


def _finals(run_dir) -> pd.DataFrame:
    return pd.DataFrame(read_json(run_dir, "metrics.json")["runs"])


def _pairs(run_dir) -> list:
    p = read_json(run_dir, "params.json")
    return [tuple(p["models"][:2]), *map(tuple, p["pairs"])]


def results(run_dir: str | Path) -> str:
    m = read_json(run_dir, "metrics.json")
    table = pd.DataFrame(m["table"])
    ref = pd.DataFrame([{"Metric": k, "Reference LSTM": a, "Reference GRU": b}
                        for k, (a, b) in REFERENCE_TABLE.items()])
    split = m["runs"][0]["split"]
    note = ("Mean ± standard deviation over seeds where there are several. Winner: only where "
            "the 95% interval of the difference excludes zero; otherwise 'within noise' "
            "(see Analysis for the intervals).")
    return (f"## Results\n\n### Performance Metrics ({split} split)\n\n{md_table(table)}\n\n"
            f"{note}\n\n### The reference report\n\n{md_table(ref)}")


def statistics(run_dir: str | Path) -> str:
    """Seeds summary, differences with intervals, and every individual run."""
    finals = _finals(run_dir)
    diffs = differences_table(finals, run_dir, _pairs(run_dir))
    return (
        "### Over seeds: mean, spread, 95% interval (t distribution)\n\n"
        + md_table(seeds_table(finals))
        + "\n\n### Differences A - B (accuracy in percentage points)\n\nSeveral seeds: paired "
        "differences over matched seeds, 95% t-interval and paired t-test p-value. One seed: a "
        "bootstrap over contiguous blocks of 1,000 test windows (neighbouring windows overlap, so "
        "resampling single windows would understate the spread).\n\n" + md_table(diffs)
        + "\n\n### Every run\n\n" + md_table(runs_table(finals, run_dir))
    )


def samples(run_dir: str | Path) -> str:
    rows = read_json(run_dir, "samples.json")
    out = [f"## Text Generation Examples\n\nSampling seed {rows[0]['seed']}."]
    for r in rows:
        out.append(
            f"**{r['model'].upper()}**, temperature {r['temperature']}, prompt "
            f'"{r["prompt"]}":\n\n```\n{r["text"]}\n```'
        )
    return "\n\n".join(out)


def analysis(run_dir: str | Path) -> str:
    m = read_json(run_dir, "metrics.json")
    finals = _finals(run_dir)
    (a, b), *more = _pairs(run_dir)
    intervals = {k: (Interval(**v) if v else None) for k, v in m["differences"].items()}
    sentences = analysis_sentences(finals, intervals, a, b)
    text = "## Analysis\n\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
    if more:
        text += "\n\n### Further comparisons\n\n" + "\n".join(
            f"- {pair_sentence(finals, run_dir, x, y)}" for x, y in more)
    return text


def conclusion(run_dir: str | Path) -> str:
    m = read_json(run_dir, "metrics.json")
    a, b = (x.upper() for x in read_json(run_dir, "params.json")["models"][:2])
    wins = {row["Metric"]: row["Winner"] for row in m["table"]}
    decided = {k: v for k, v in wins.items() if v != "within noise"}
    noise = [k for k, v in wins.items() if v == "within noise"]
    parts = [f"{k.lower()}: {v}" for k, v in decided.items()]
    text = f"## Conclusion\n\n{a} against {b}. "
    text += (
        f"Measured differences that exceed their noise: {'; '.join(parts)}. "
        if parts
        else "No difference between the models exceeds its noise. "
    )
    if noise:
        text += f"Within noise, so no winner: {', '.join(k.lower() for k in noise)}. "
    runs = pd.DataFrame(m["runs"])
    for model, ref in REFERENCE_TEST_LOSS.items():
        if model in set(runs.model):
            loss = runs.loc[runs.model == model, "test_loss"].mean()
            side = "at or below" if loss <= ref else "above"
            text += (
                f"{model.upper()} reached a test loss of {loss:.4f}, {side} the reference's "
                f"{ref}. "
            )
    return text
