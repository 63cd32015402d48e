"""Figures of a run; each function returns a matplotlib Figure (and saves it when given a path).

Every figure that shows several models gives each model the same colour (`model_colors`, in the
run's order), puts its legend outside the axes once there are more than two models, and labels
epochs with whole numbers only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd
import seaborn as sns

from charlm.stats.search import setting_name

WIDTH, HEIGHT = 7.0, 4.0  # inches, the axes of a one-panel figure
LEGEND_INSIDE_UP_TO = 2  # models; beyond this the legend would cover the curves
MARKERS_UP_TO = 12  # points per line; beyond this markers hide the line


def style() -> None:
    """The seaborn theme of every charlm figure (called by the notebooks, not at import)."""
    sns.set_theme(style="whitegrid", context="notebook")


def model_colors(models: Sequence[str]) -> dict[str, tuple]:
    """One colour per model, in the order given (the run's order), the same in every figure."""
    models = list(dict.fromkeys(models))
    colors = sns.color_palette("deep" if len(models) <= 10 else "husl", len(models))
    return dict(zip(models, colors))


def models_and_colors(data: pd.DataFrame, models: Sequence[str] | None) -> tuple[list[str], dict]:
    """The models in `data` (in the order of `models`, else of appearance) and their colours,
    taken from `models` when given (the run's, so that a figure of some of them agrees)."""
    present = list(dict.fromkeys(data["model"]))
    order = list(dict.fromkeys([*(models if models is not None else []), *present]))
    return [m for m in order if m in present], model_colors(order)


def new_figure(models: list[str]):
    """One axes of the same size whatever the models; the figure widens for a legend outside."""
    outside = len(models) > LEGEND_INSIDE_UP_TO
    legend_width = 1.0 + 0.085 * max(map(len, models), default=0) if outside else 0.0
    return plt.subplots(figsize=(WIDTH + legend_width, HEIGHT), layout="constrained")


def legend(ax, models: list[str]) -> None:
    """Outside the axes, to the right, for more than two models; inside, where it covers least,
    otherwise."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if not handles:
        return
    if len(models) > LEGEND_INSIDE_UP_TO:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0.0, frameon=False)
    else:
        ax.legend(handles, labels, loc="best")


def _integer_epochs(axis) -> None:
    axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def _marker(data: pd.DataFrame, x: str) -> str | None:
    return "o" if data[x].nunique() <= MARKERS_UP_TO else None


def save(fig, path: str | Path | None):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


CHARS_SHOWN = 100  # the bars of a large vocabulary (6,310 characters): the most frequent


def char_frequencies(text: str, path=None):
    """Bar chart of character counts, most frequent first (whitespace shown by name); of a
    large vocabulary, the CHARS_SHOWN most frequent (the title says so)."""
    names = {"\n": "\\n", " ": "space"}
    common = Counter(text).most_common()
    counts = pd.DataFrame(common[:CHARS_SHOWN], columns=["char", "count"])
    counts["char"] = counts["char"].map(lambda c: names.get(c, c))
    fig, ax = plt.subplots(figsize=(12, 3.5))
    sns.barplot(data=counts, x="char", y="count", color="#4c72b0", ax=ax)
    title = ("Character frequencies" if len(common) <= CHARS_SHOWN else
             f"Character frequencies: the {CHARS_SHOWN} most frequent of {len(common):,}")
    ax.set(title=title, xlabel="", ylabel="count")
    ax.tick_params(axis="x", labelsize=7)
    return save(fig, path)


def _has(histories: pd.DataFrame, column: str) -> bool:
    return column in histories and histories[column].notna().any()


def _no_validation(ax, title: str) -> None:
    ax.text(0.5, 0.5, "no validation set in this run (val_frac = 0):\nthe test set is read "
            "once, after the last epoch", ha="center", va="center", transform=ax.transAxes)
    ax.set(title=title, xticks=[], yticks=[])


def _lines(data, x, y, models, colors, ax, **kw) -> None:
    """Mean over seeds per model, band = one standard deviation across seeds."""
    sns.lineplot(data=data, x=x, y=y, hue="model", hue_order=models, palette=colors,
                 errorbar="sd", marker=_marker(data, x), ax=ax, **kw)


def loss_curves(histories: pd.DataFrame, path=None, models: Sequence[str] | None = None):
    """Train and validation loss per epoch for every model (mean over seeds, band = one standard
    deviation across seeds). `models`: the run's models, in order, to fix their colours."""
    models, colors = models_and_colors(histories, models)
    sets = ["train_loss", *(["val_loss"] if _has(histories, "val_loss") else [])]
    long = histories.melt(id_vars=["model", "seed", "epoch"], value_vars=sets, var_name="set",
                          value_name="loss")
    long["set"] = long["set"].map({"train_loss": "train", "val_loss": "validation"})
    fig, ax = new_figure(models)
    _lines(long, "epoch", "loss", models, colors, ax, style="set",
           style_order=["train", "validation"])
    _integer_epochs(ax.xaxis)
    ax.set(title="Loss per epoch (next character after the window)", ylabel="cross entropy (nats)")
    legend(ax, models)
    return save(fig, path)


def loss_curves_of_each(histories: pd.DataFrame, path_of, models: Sequence[str]) -> list:
    """`loss_curves` of each model on its own (notebook 03), saved at `path_of(model)`; the
    colours of the run's `models`."""
    return [loss_curves(runs, path_of(name), models=models)
            for name, runs in histories.groupby("model", sort=False)]


def accuracy_curves(histories: pd.DataFrame, path=None, models: Sequence[str] | None = None):
    """Validation accuracy per epoch for every model (the test set is not read per epoch)."""
    models, colors = models_and_colors(histories, models)
    fig, ax = new_figure(models)
    if not _has(histories, "val_accuracy"):
        _no_validation(ax, "Validation accuracy per epoch")
        return save(fig, path)
    _lines(histories, "epoch", "val_accuracy", models, colors, ax)
    _integer_epochs(ax.xaxis)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(title="Validation accuracy per epoch", ylabel="accuracy")
    legend(ax, models)
    return save(fig, path)


def _bars(ax, values: pd.DataFrame, colors: dict, unit: str, spread: bool) -> None:
    """Horizontal bars (long model names stay readable), each labelled with its value."""
    y = range(len(values))
    xerr = values["sd"].fillna(0.0) if spread else None
    bars = ax.barh(y, values["mean"], xerr=xerr, capsize=3, error_kw={"elinewidth": 1},
                   color=[colors[m] for m in values.index])
    decimals = 0 if values["mean"].max() >= 100 else 1 if values["mean"].max() >= 10 else 2
    ax.bar_label(bars, [f"{v:.{decimals}f} {unit}" for v in values["mean"]], padding=5,
                 fontsize="small")
    ax.set_xlim(0, (values["mean"] + (xerr if spread else 0)).max() * 1.3)
    ax.set_yticks(list(y), values.index)
    if not ax.yaxis_inverted():  # the run's first model on top (once: the axes share y)
        ax.invert_yaxis()
    ax.grid(axis="y", visible=False)


def time_and_size(runs: pd.DataFrame, path=None, models: Sequence[str] | None = None):
    """Training time per model (bar = mean over seeds, whisker = one standard deviation) and model
    size, as horizontal bars: the model names never overlap, however many there are."""
    models, colors = models_and_colors(runs, models)
    time = runs.groupby("model")["train_time"].agg(["mean", "std"]).rename(columns={"std": "sd"})
    size = runs.groupby("model")["size_mb"].first().rename("mean").to_frame()
    fig, axes = plt.subplots(1, 2, figsize=(9, max(2.4, 1.2 + 0.4 * len(models))), sharey=True,
                             layout="constrained")
    _bars(axes[0], time.loc[models], colors, "s", spread=time["sd"].notna().any())
    axes[0].set(title="Training time", xlabel="seconds")
    _bars(axes[1], size.loc[models], colors, "MB", spread=False)
    axes[1].set(title="Model size", xlabel="MB (float32)")
    return save(fig, path)


def loss_vs_time(histories: pd.DataFrame, path=None, models: Sequence[str] | None = None):
    """Validation loss against training seconds, every model and seed: who is better at equal
    time."""
    models, colors = models_and_colors(histories, models)
    fig, ax = new_figure(models)
    if not _has(histories, "val_loss"):
        _no_validation(ax, "Validation loss against training time")
        return save(fig, path)
    sns.lineplot(data=histories, x="elapsed_train_seconds", y="val_loss", hue="model",
                 hue_order=models, palette=colors, units="seed", estimator=None,
                 marker=_marker(histories, "epoch"), markersize=5, ax=ax)
    ax.set(title="Validation loss against training time", xlabel="training seconds",
           ylabel="validation loss (nats)")
    legend(ax, models)
    return save(fig, path)


def _epoch_ends(steps: pd.DataFrame, ax) -> None:
    """A faint line, and a tick on a top axis, where epochs end (as `loss_curves` puts epoch e at
    its end), when every model's epochs end at the same steps (another batch size: none)."""
    ends = steps.groupby(["model", "epoch"])["step"].max().unstack("model")
    if len(ends) < 2 or not ends.nunique(axis=1).le(1).all():
        return
    every = next(k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500) if len(ends) / k <= 10)
    ends = ends.iloc[:, 0].loc[lambda e: e.index % every == 0]
    ax.grid(axis="x", visible=False)  # the epoch lines take the place of the step grid
    for end in ends:
        ax.axvline(end, color="0.75", linewidth=0.9, linestyle="--", zorder=0)
    top = ax.secondary_xaxis("top")
    top.set_xticks(ends.to_numpy(), [str(e) for e in ends.index])
    top.tick_params(length=0, labelsize="small", labelcolor="0.4")
    top.set_xlabel("end of epoch", color="0.4", fontsize="small")


def step_curves(steps: pd.DataFrame, path=None, models: Sequence[str] | None = None):
    """Training loss every few optimizer steps, per model (mean over seeds, band = one standard
    deviation across seeds), with epoch boundaries marked.

    `steps`: one row per model, seed and logged step, with columns model, seed, epoch, step (the
    global optimizer step, from 1) and train_loss (the mean over the steps since the last row).
    None without rows (models trained before charlm logged step losses)."""
    if steps.empty:
        return None
    models, colors = models_and_colors(steps, models)
    fig, ax = new_figure(models)
    _lines(steps, "step", "train_loss", models, colors, ax, linewidth=1.2)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _epoch_ends(steps, ax)
    ax.set(title="Training loss per step", xlabel="optimizer step",
           ylabel="cross entropy (nats)")
    legend(ax, models)
    return save(fig, path)


def tuning_curves(trials: pd.DataFrame, choice: dict, path=None,
                  models: Sequence[str] | None = None):
    """Validation loss against the searched values, per model: every trial a dot, the mean over
    tune seeds a line, each model's chosen setting a star (diverged trials: an x at the top)."""
    key = next(iter(choice["space"]))  # the x axis: the first searched setting
    others = [k for k in choice["space"] if k != key]
    df = trials.copy()
    style = ",".join(others) or None  # the other searched settings: one dash per combination
    if style:
        df[style] = df[others].astype(str).agg(",".join, axis=1)
    models, colors = models_and_colors(df, models)
    fig, ax = new_figure(models)
    ok = df[~df["diverged"]]
    sns.lineplot(data=ok, x=key, y="val_loss", hue="model", hue_order=models, palette=colors,
                 style=style, estimator="mean",
                 errorbar=None, marker="o", ax=ax)
    sns.scatterplot(data=ok, x=key, y="val_loss", hue="model", hue_order=models, palette=colors,
                    alpha=0.4, legend=False, ax=ax)
    for model, setting in choice["chosen"].items():
        score = choice["scores"][model][setting_name(setting)]
        if score is not None:
            ax.plot(setting[key], score, marker="*", markersize=16, color="black", zorder=5,
                    markeredgecolor="white", label="_chosen")
    bad = df[df["diverged"]]
    if len(bad):
        top = ok["val_loss"].max() if len(ok) else 1.0
        ax.scatter(bad[key], [top] * len(bad), marker="x", color="red", label="diverged")
    if key in ("lr", "min_lr"):
        ax.set_xscale("log")
        values = sorted(choice["space"][key])
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set(title="Search on validation (★ chosen per model)",
           ylabel="validation loss (nats), last epoch")
    legend(ax, models)
    return save(fig, path)


def runs_overlaid(mean: pd.DataFrame, key: str, words: str, models: list[str],
                  runs: list[str]):
    """Two runs' curves of `key` (mean over seeds), per epoch and against training seconds:
    the first run solid, the second dashed (charlm compare)."""
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, x, xlabel in ((axes[0], "epoch", "epoch"),
                              (axes[1], "elapsed_train_seconds", "training seconds")):
            sns.lineplot(data=mean, x=x, y=key, hue="model", hue_order=models, style="run",
                         style_order=runs, dashes=["", (4, 2)], marker="o", estimator=None,
                         ax=ax, legend=ax is axes[1])
            ax.set(xlabel=xlabel, ylabel=f"{words} (nats)")
        axes[0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        fig.suptitle(f"{words.capitalize()}, mean over seeds: {runs[0]} solid, {runs[1]} dashed")
        fig.tight_layout()
    return fig


def close(fig) -> None:
    plt.close(fig)
