"""Figures with many models and few or many epochs: legends clear of the data, whole-number epoch
ticks, bar labels apart, one colour per model everywhere, and the per-step training loss."""

import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from charlm.report import figures  # noqa: E402

MODELS = ["lstm", "gru", "rnn", "gru-h149", "lstm@contiguous"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def histories(models=MODELS, seeds=3, epochs=3) -> pd.DataFrame:
    """Like reports/*/histories.csv: falling losses, a little seed noise, slower later models."""
    rng = np.random.default_rng(0)
    rows = []
    for i, model in enumerate(models):
        for seed, epoch in itertools.product(range(seeds), range(1, epochs + 1)):
            loss = (1.4 + 0.05 * i) + 0.9 / epoch + rng.normal(0, 0.01)
            rows.append({"model": model, "seed": seed, "epoch": epoch, "train_loss": loss + 0.1,
                         "val_loss": loss, "val_accuracy": 0.7 - loss / 5,
                         "elapsed_train_seconds": epoch * 60 * (1 + 0.3 * i)})
    return pd.DataFrame(rows)


def runs(models=MODELS, seeds=3) -> pd.DataFrame:
    """Like reports/*/runs.csv: one row per model and seed."""
    rng = np.random.default_rng(1)
    return pd.DataFrame([{"model": m, "seed": s, "size_mb": 0.9167 - 0.1 * i,
                          "train_time": 110 * (1 + 0.3 * i) + rng.normal(0, 5)}
                         for i, m in enumerate(models) for s in range(seeds)])


def steps(models=MODELS, seeds=3, epochs=5, per_epoch=400, every=25) -> pd.DataFrame:
    """The training loss logged every `every` steps: a decaying, noisy curve."""
    rng = np.random.default_rng(2)
    logged = np.arange(every, epochs * per_epoch + 1, every)
    return pd.DataFrame([
        {"model": m, "seed": s, "epoch": (step - 1) // per_epoch + 1, "step": step,
         "train_loss": 1.3 + 0.05 * i + 3 * np.exp(-step / 150) + rng.normal(0, 0.03),
         "seconds": step * 0.06}
        for i, m in enumerate(models) for s in range(seeds) for step in logged])


def trials(models=MODELS):
    """A search over lr with two tune seeds, and the choice it made."""
    lrs = [0.005, 0.01, 0.02, 0.04]
    rows = [{"model": m, "setting": f"lr={lr}", "lr": lr, "seed": 100 + s, "diverged": False,
             "val_loss": 1.5 + 0.03 * i + (np.log10(lr) + 1.7) ** 2 + 0.01 * s}
            for i, m in enumerate(models) for lr in lrs for s in range(2)]
    df = pd.DataFrame(rows)
    scores = {m: {f"lr={lr}": g["val_loss"].mean() for lr, g in d.groupby("lr")}
              for m, d in df.groupby("model")}
    choice = {"space": {"lr": lrs}, "chosen": {m: {"lr": 0.02} for m in models},
              "scores": scores}
    return df, choice


def draw_all(models=MODELS, epochs=3):
    """Every figure of a run with these models, by name."""
    h, t = histories(models, epochs=epochs), trials(models)
    return {"loss_curves": figures.loss_curves(h), "accuracy_curves": figures.accuracy_curves(h),
            "loss_vs_time": figures.loss_vs_time(h), "step_curves": figures.step_curves(
                steps(models)), "tuning_curves": figures.tuning_curves(*t),
            "time_and_size": figures.time_and_size(runs(models))}


def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def test_every_figure_returns_a_figure_and_saves_a_png(tmp_path):
    h = histories()
    made = {"loss": figures.loss_curves(h, tmp_path / "loss.png"),
            "acc": figures.accuracy_curves(h, tmp_path / "acc.png"),
            "time": figures.loss_vs_time(h, tmp_path / "time.png"),
            "steps": figures.step_curves(steps(), tmp_path / "steps.png"),
            "bars": figures.time_and_size(runs(), tmp_path / "bars.png"),
            "tune": figures.tuning_curves(*trials(), tmp_path / "tune.png")}
    for name, fig in made.items():
        assert isinstance(fig, matplotlib.figure.Figure)
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("epochs", [3, 30])
def test_with_five_models_the_legend_is_outside_the_data_and_names_every_model(epochs):
    for name, fig in draw_all(epochs=epochs).items():
        if name == "time_and_size":
            continue  # no legend: the models name the bars
        renderer = _drawn(fig)
        ax = fig.axes[0]
        legend = ax.get_legend()
        assert legend is not None, name
        assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), \
            name
        assert set(MODELS) <= {t.get_text() for t in legend.get_texts()}, name


def test_with_two_models_the_legend_stays_inside():
    fig = figures.loss_curves(histories(MODELS[:2]))
    renderer = _drawn(fig)
    ax = fig.axes[0]
    box, legend = ax.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    assert box.contains(legend.x0, legend.y0) and box.contains(legend.x1, legend.y1)


def _tick_texts(axis, renderer) -> list[str]:
    """The labels of the ticks shown (inside the axis' view), as drawn."""
    low, high = sorted(axis.get_view_interval())
    return [label.get_text() for t in axis.get_major_ticks() if low <= t.get_loc() <= high
            for label in (t.label1, t.label2) if label.get_visible()]


@pytest.mark.parametrize("epochs", [2, 3, 5, 30])
@pytest.mark.parametrize("draw", [figures.loss_curves, figures.accuracy_curves])
def test_epoch_ticks_are_whole_numbers(draw, epochs):
    fig = draw(histories(seeds=2, epochs=epochs))
    texts = _tick_texts(fig.axes[0].xaxis, _drawn(fig))
    assert len(texts) >= 2 and all(re.fullmatch(r"\d+", t) for t in texts), texts


def _overlapping(texts, renderer) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts
             if t.get_text() and t.get_visible()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
            if box_a.overlaps(box_b)]


@pytest.mark.parametrize("models", [MODELS, MODELS + ["gru-h149@contiguous", "rnn-h300", "lstm2"]])
def test_bar_labels_do_not_overlap(models):
    fig = figures.time_and_size(runs(models))
    renderer = _drawn(fig)
    for ax in fig.axes:
        names = [t.label1 for t in ax.yaxis.get_major_ticks()]
        ticks = [t.label1 for t in ax.xaxis.get_major_ticks()]
        assert not _overlapping(names, renderer)
        assert not _overlapping(ticks, renderer)
        assert not _overlapping(ax.texts, renderer)  # the values at the bars' ends
        assert len(ax.texts) == len(models)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == models  # the run's order


def _legend_colors(fig) -> dict[str, str]:
    legend = fig.axes[0].get_legend()
    return {t.get_text(): matplotlib.colors.to_hex(h.get_color())
            for t, h in zip(legend.get_texts(), legend.legend_handles) if t.get_text() in MODELS}


def test_each_model_has_one_colour_in_every_figure():
    expected = {m: matplotlib.colors.to_hex(c) for m, c in figures.model_colors(MODELS).items()}
    assert len(set(expected.values())) == len(MODELS)
    made = draw_all()
    for name in ("loss_curves", "accuracy_curves", "loss_vs_time", "step_curves",
                 "tuning_curves"):
        assert _legend_colors(made[name]) == expected, name
    bars = made["time_and_size"].axes[0].patches
    assert [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars] == list(expected.values())


def test_a_figure_of_some_models_keeps_the_run_colours_when_given_the_run_models():
    fig = figures.loss_curves(histories(["rnn"]), models=MODELS)
    assert _legend_colors(fig) == {"rnn": matplotlib.colors.to_hex(
        figures.model_colors(MODELS)["rnn"])}


def _step_lines(fig) -> list:
    return [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) > 2]


@pytest.mark.parametrize("models,seeds", [(MODELS[:1], 3), (MODELS, 3), (MODELS, 1),
                                          (MODELS[:1], 1)])
def test_step_curves_plot_the_mean_over_seeds_per_model(models, seeds, tmp_path):
    data = steps(models, seeds=seeds)
    fig = figures.step_curves(data, tmp_path / "steps.png")
    assert (tmp_path / "steps.png").exists()
    lines = _step_lines(fig)
    assert len(lines) == len(models)
    mean = data[data["model"] == models[-1]].groupby("step")["train_loss"].mean()
    np.testing.assert_allclose(lines[-1].get_xdata(), mean.index)
    np.testing.assert_allclose(lines[-1].get_ydata(), mean.to_numpy())
    assert fig.axes[0].get_xlabel() == "optimizer step"


def test_step_curves_mark_where_epochs_end():
    fig = figures.step_curves(steps(epochs=5, per_epoch=400))
    renderer = _drawn(fig)
    top = next(child for child in fig.axes[0].child_axes)
    assert _tick_texts(top.xaxis, renderer) == ["1", "2", "3", "4", "5"]
    np.testing.assert_allclose(top.get_xticks(), [400, 800, 1200, 1600, 2000])
    many = figures.step_curves(steps(MODELS[:2], seeds=1, epochs=30, per_epoch=100, every=50))
    top = next(child for child in many.axes[0].child_axes)
    assert len(top.get_xticks()) <= 10  # thinned: every fifth epoch


def test_step_curves_mark_no_epochs_when_models_end_them_at_different_steps():
    data = steps(MODELS[:2], seeds=1)
    gru = data["model"] == "gru"
    data.loc[gru, "epoch"] = (data.loc[gru, "step"] - 1) // 200 + 1  # a larger batch size
    assert not figures.step_curves(data).axes[0].child_axes


def test_the_runs_first_model_is_the_top_bar():
    runs = pd.DataFrame({"model": ["lstm", "gru", "rnn"], "seed": [0, 0, 0],
                         "train_time": [3.0, 2.0, 1.0], "size_mb": [0.9, 0.7, 0.2]})
    fig = figures.time_and_size(runs, models=["lstm", "gru", "rnn"])
    fig.canvas.draw()  # the two panels share the y axis: the names are on the first
    labels = sorted(fig.axes[0].get_yticklabels(), key=lambda t: -t.get_window_extent().y0)
    assert [t.get_text() for t in labels] == ["lstm", "gru", "rnn"]
