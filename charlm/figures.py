"""Figures of a run; each function returns a matplotlib Figure (and saves it when given a path)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd
import seaborn as sns


def style() -> None:
    """The seaborn theme of every charlm figure (called by the notebooks, not at import)."""
    sns.set_theme(style="whitegrid", context="notebook")


def _save(fig, path: str | Path | None):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def char_frequencies(text: str, path=None):
    """Bar chart of character counts, most frequent first (whitespace shown by name)."""
    names = {"\n": "\\n", " ": "space"}
    counts = pd.DataFrame(Counter(text).most_common(), columns=["char", "count"])
    counts["char"] = counts["char"].map(lambda c: names.get(c, c))
    fig, ax = plt.subplots(figsize=(12, 3.5))
    sns.barplot(data=counts, x="char", y="count", color="#4c72b0", ax=ax)
    ax.set(title="Character frequencies", xlabel="", ylabel="count")
    ax.tick_params(axis="x", labelsize=7)
    return _save(fig, path)


def _has(histories: pd.DataFrame, column: str) -> bool:
    return column in histories and histories[column].notna().any()


def _no_validation(ax, title: str) -> None:
    ax.text(0.5, 0.5, "no validation set in this run (val_frac = 0):\nthe test set is read "
            "once, after the last epoch", ha="center", va="center", transform=ax.transAxes)
    ax.set(title=title, xticks=[], yticks=[])


def loss_curves(histories: pd.DataFrame, path=None):
    """Train and validation loss per epoch for every model (mean over seeds, band = spread)."""
    sets = ["train_loss", *(["val_loss"] if _has(histories, "val_loss") else [])]
    long = histories.melt(id_vars=["model", "seed", "epoch"], value_vars=sets, var_name="set",
                          value_name="loss")
    long["set"] = long["set"].map({"train_loss": "train", "val_loss": "validation"})
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=long, x="epoch", y="loss", hue="model", style="set", marker="o", ax=ax)
    ax.set(title="Loss per epoch (next character after the window)", ylabel="cross entropy (nats)")
    return _save(fig, path)


def accuracy_curves(histories: pd.DataFrame, path=None):
    """Validation accuracy per epoch for every model (the test set is not read per epoch)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    if not _has(histories, "val_accuracy"):
        _no_validation(ax, "Validation accuracy per epoch")
        return _save(fig, path)
    sns.lineplot(data=histories, x="epoch", y="val_accuracy", hue="model", marker="o", ax=ax)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(title="Validation accuracy per epoch", ylabel="accuracy")
    return _save(fig, path)


def time_and_size(runs: pd.DataFrame, path=None):
    """Training time per model (bar = mean over seeds, whisker = spread) and model size."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    sns.barplot(data=runs, x="model", y="train_time", hue="model", ax=axes[0], errorbar="sd")
    axes[0].set(title="Training time", ylabel="seconds", xlabel="")
    sizes = runs.drop_duplicates("model")
    sns.barplot(data=sizes, x="model", y="size_mb", hue="model", ax=axes[1])
    axes[1].set(title="Model size", ylabel="MB (float32)", xlabel="")
    fig.tight_layout()
    return _save(fig, path)


def loss_vs_time(histories: pd.DataFrame, path=None):
    """Validation loss against training seconds, every model and seed: who is better at equal
    time."""
    fig, ax = plt.subplots(figsize=(7, 4))
    if not _has(histories, "val_loss"):
        _no_validation(ax, "Validation loss against training time")
        return _save(fig, path)
    sns.lineplot(data=histories, x="elapsed_train_seconds", y="val_loss", hue="model",
                 units="seed", estimator=None, marker="o", ax=ax)
    ax.set(title="Validation loss against training time", xlabel="training seconds",
           ylabel="validation loss (nats)")
    return _save(fig, path)


def tuning_curves(trials: pd.DataFrame, choice: dict, path=None):
    """Validation loss against the searched values, per model: every trial a dot, the mean over
    tune seeds a line, each model's chosen setting a star (diverged trials: an x at the top)."""
    from charlm.tuning import setting_name

    key = next(iter(choice["space"]))  # the x axis: the first searched setting
    others = [k for k in choice["space"] if k != key]
    df = trials.copy()
    df["line"] = df["model"] + ("" if not others else
                                " " + df[others].astype(str).agg(",".join, axis=1))
    fig, ax = plt.subplots(figsize=(7, 4))
    ok = df[~df["diverged"]]
    sns.lineplot(data=ok, x=key, y="val_loss", hue="line", estimator="mean", errorbar=None,
                 marker="o", ax=ax)
    sns.scatterplot(data=ok, x=key, y="val_loss", hue="line", alpha=0.4, legend=False, ax=ax)
    for model, setting in choice["chosen"].items():
        score = choice["scores"][model][setting_name(setting)]
        if score is not None:
            ax.plot(setting[key], score, marker="*", markersize=16, color="black", zorder=5)
    bad = df[df["diverged"]]
    if len(bad):
        top = ok["val_loss"].max() if len(ok) else 1.0
        ax.scatter(bad[key], [top] * len(bad), marker="x", color="red", label="diverged")
        ax.legend()
    if key in ("lr", "min_lr"):
        ax.set_xscale("log")
    ax.set(title="Search on validation (★ chosen per model)",
           ylabel="validation loss (nats), last epoch")
    return _save(fig, path)
