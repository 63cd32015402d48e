"""The verdict words follow the intervals: no winner where the interval includes zero."""

import numpy as np
import pandas as pd
import pytest

from charlm.analysis import compare, comparisons, with_test_loss_intervals
from charlm.report import analysis_sentences, comparison_table, differences_table, md_table
from charlm.stats import Interval, block_bootstrap, mean_ci, paired_t, verdict


def runs(lstm_losses, gru_losses, time=(300.0, 240.0)):
    rows = []
    for model, losses, t, size in (("lstm", lstm_losses, time[0], 0.917),
                                   ("gru", gru_losses, time[1], 0.696)):
        for seed, loss in enumerate(losses):
            rows.append({"model": model, "seed": seed, "train_loss": loss - 0.05,
                         "test_loss": loss, "test_accuracy": 0.9 - loss / 4,
                         "train_time": t + seed, "size_mb": size, "split": "random"})
    return pd.DataFrame(rows)


def test_separated_intervals_crown_a_winner():
    f = runs([1.40, 1.41, 1.42], [1.35, 1.37, 1.36])
    iv = compare(f, "lstm", "gru", per_window={})
    assert iv["test_loss"].excludes_zero and iv["test_loss"].method == "paired t over seeds"
    c = comparisons(f, [("lstm", "gru")], per_window={})
    table = comparison_table(f, c).set_index("Metric")
    assert table.loc["Final Test Loss", "Winner"] == "GRU"
    assert table.loc["Final Test Accuracy", "Winner"] == "GRU"
    text = analysis_sentences(c)[1]
    assert text.startswith("Final Test Loss: GRU is lower than LSTM by")
    assert "95% CI of the difference" in text


def test_overlapping_intervals_say_within_noise():
    f = runs([1.40, 1.35, 1.42], [1.39, 1.41, 1.36])
    c = comparisons(f, [("lstm", "gru")], per_window={})
    assert pd.isna(c.set_index("metric").loc["test_loss", "winner"])
    table = comparison_table(f, c).set_index("Metric")
    assert table.loc["Final Test Loss", "Winner"] == "within noise"
    text = analysis_sentences(c)[1]
    assert "within noise (the interval includes zero)" in text
    assert "GRU is lower" not in text and "LSTM is lower" not in text
    assert table.loc["Model Size", "Winner"] == "GRU"  # exact, always decided


def _windows(losses, starts=None):
    losses = np.asarray(losses, dtype=float)
    starts = np.arange(losses.size) if starts is None else starts
    return {"starts": starts, "losses": losses, "correct": (losses < 1.4).astype(float)}


def test_one_seed_compares_on_the_test_windows_paired_or_not():
    rng = np.random.default_rng(0)
    base = rng.normal(1.4, 0.3, 5000)
    f = runs([1.40], [1.35]).assign(test_loss=[base.mean(), base.mean() - 0.05])
    per_window = {("lstm", 0): _windows(base), ("gru", 0): _windows(base - 0.05)}
    c = comparisons(f, [("lstm", "gru")], per_window).set_index("metric")
    assert c.loc["test_loss", "method"].startswith("block bootstrap over test windows")
    assert c.loc["test_loss", "winner"] == "gru"
    assert pd.isna(c.loc["train_loss", "low"])  # one run: no interval for the training loss
    # other windows (another split): an unpaired bootstrap
    per_window[("gru", 0)] = _windows(base - 0.05, starts=np.arange(5000) + 7)
    c = comparisons(f, [("lstm", "gru")], per_window).set_index("metric")
    assert c.loc["test_loss", "method"] == "block bootstrap of each test set (independent)"
    rows = with_test_loss_intervals(f, per_window)
    assert (rows.test_loss_low < rows.test_loss).all() and (rows.test_loss < rows.test_loss_high
                                                            ).all()


def test_differences_table_holds_every_pair():
    f = pd.concat([runs([1.40, 1.41], [1.35, 1.37]),
                   runs([1.50, 1.52], [1.0, 1.0]).query("model == 'lstm'").assign(model="rnn")])
    c = comparisons(f, [("lstm", "gru"), ("lstm", "rnn")], per_window={})
    table = differences_table(c)
    assert list(table["A - B"].unique()) == ["LSTM - GRU", "LSTM - RNN"]
    assert c["main"].tolist() == [True] * 5 + [False] * 5


def test_single_run_without_interval_needs_five_percent():
    assert verdict("A", "B", 1.00, 1.03, False, None) is None
    assert verdict("A", "B", 1.00, 1.10, False, None) == "A"
    assert verdict("A", "B", 0.5, 0.6, True, Interval(-0.1, -0.2, 0.01, "x", 3)) is None


def test_block_bootstrap_is_wider_for_correlated_windows():
    rng = np.random.default_rng(0)
    smooth = np.repeat(rng.normal(size=200), 500)  # neighbours share their value
    iv_blocks = block_bootstrap(smooth, block=1000)
    iv_single = block_bootstrap(smooth, block=1)
    assert (iv_blocks.high - iv_blocks.low) > 3 * (iv_single.high - iv_single.low)


def test_mean_ci_and_paired_t():
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci["mean"] == 2.0 and ci["std"] == 1.0
    assert ci["ci_low"] == pytest.approx(2 - 4.303 / np.sqrt(3), abs=1e-3)
    d = paired_t([1.0, 2.0, 3.0], [0.9, 1.8, 2.9])
    assert d.estimate == pytest.approx(0.4 / 3) and d.low < d.estimate < d.high


def test_md_table():
    assert md_table(pd.DataFrame({"a": [1], "b": ["x"]})) == "| a | b |\n|---|---|\n| 1 | x |"


def test_differences_that_do_not_vary_over_seeds_get_no_interval():
    f = runs([1.40, 1.41], [1.35, 1.36], time=(300.0, 297.0))  # time shared: same differences
    iv = compare(f, "lstm", "gru", per_window={})
    assert iv["train_time"] is None  # not a zero-width interval that calls 1% "real"
    c = comparisons(f, [("lstm", "gru")], per_window={}).set_index("metric")
    assert pd.isna(c.loc["train_time", "winner"])  # 1% apart: under the single-run floor
