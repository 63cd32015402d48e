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


def loss_curves(histories: pd.DataFrame, path=None):
    """Train and test loss per epoch for every model (mean over seeds, band = spread)."""
    long = histories.melt(
        id_vars=["model", "seed", "epoch"],
        value_vars=["train_loss", "test_loss"],
        var_name="set",
        value_name="loss",
    )
    long["set"] = long["set"].str.replace("_loss", "")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=long, x="epoch", y="loss", hue="model", style="set", marker="o", ax=ax)
    ax.set(title="Loss per epoch (next character after the window)", ylabel="cross entropy (nats)")
    return _save(fig, path)


def accuracy_curves(histories: pd.DataFrame, path=None):
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=histories, x="epoch", y="test_accuracy", hue="model", marker="o", ax=ax)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(title="Test accuracy per epoch", ylabel="accuracy")
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
    """Test loss against training seconds for every model and seed: who is better at equal time."""
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(
        data=histories,
        x="elapsed_train_seconds",
        y="test_loss",
        hue="model",
        units="seed",
        estimator=None,
        marker="o",
        ax=ax,
    )
    ax.set(
        title="Test loss against training time",
        xlabel="training seconds",
        ylabel="test loss (nats)",
    )
    return _save(fig, path)
