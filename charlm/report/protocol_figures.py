"""Figures of the protocol behind the verdicts: the verdict at every budget the run passes
through (notebook 04), and what the search bought, the expected best of k trials (notebook 02)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd
import seaborn as sns

from charlm.kinds import model_label
from charlm.report.figures import legend, models_and_colors, new_figure, save


def budget_verdict(diffs: pd.DataFrame, pair: tuple[str, str], path=None):
    """The main pair's validation-loss difference at every epoch, against optimizer steps and
    against training seconds, with its 95% interval over seeds: is the verdict the same at every
    budget the run passed through?"""
    a, b = (model_label(m) for m in pair)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, x, label in zip(axes, ("steps", "seconds"), ("optimizer steps", "training seconds")):
        ax.axhline(0, color="grey", lw=1)
        if len(diffs):
            ax.plot(diffs[x], diffs["estimate"], marker="o", color="black")
            if diffs["low"].notna().any():
                ax.fill_between(diffs[x], diffs["low"], diffs["high"], alpha=0.2, color="black")
        ax.set(xlabel=label, title=f"{a} - {b} against {label}")
    axes[0].set_ylabel("validation loss difference (nats)")
    fig.suptitle("The verdict at every budget (95% interval over seeds; below 0: "
                 f"{a} lower)", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def expected_best_curves(curve: pd.DataFrame, path=None, models: Sequence[str] | None = None):
    """Expected best validation loss against the number of trials, per model (Dodge et al.
    2019): where the line is still falling at the right, more trials would still pay."""
    models, colors = models_and_colors(curve, models)
    fig, ax = new_figure(models)
    sns.lineplot(data=curve, x="trials", y="expected_best", hue="model", hue_order=models,
                 palette=colors, marker="o", ax=ax)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set(title="Expected best of k trials (Dodge et al. 2019)", xlabel="trials (k)",
           ylabel="expected best validation loss (nats)")
    legend(ax, models)
    return save(fig, path)
