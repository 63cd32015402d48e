"""Verdicts follow the rules of charlm/stats/verdicts.py, fed with made-up numbers: one seed,
two seeds, zero spread, many comparisons (Holm), training time within and beyond its floor."""

import numpy as np
import pandas as pd
import pytest

from charlm.report.prose import analysis_sentences
from charlm.report.tables import comparison_table, differences_table, md_table
from charlm.stats.intervals import TIME_FLOOR, block_bootstrap, holm, mean_ci, paired_t
from charlm.stats.verdicts import compare, comparisons, with_test_loss_intervals


def runs(lstm_losses, gru_losses, time=(300.0, 240.0), model_b="gru"):
    rows = []
    for model, losses, t, size in (("lstm", lstm_losses, time[0], 0.917),
                                   (model_b, gru_losses, time[1], 0.696)):
        for seed, loss in enumerate(losses):
            rows.append({"model": model, "seed": seed, "train_loss": loss - 0.05 + 0.001 * seed,
                         "test_loss": loss, "test_accuracy": 0.9 - loss / 4,
                         "train_time": t + 3 * seed * (model == "lstm"), "size_mb": size,
                         "split": "random"})
    return pd.DataFrame(rows)


def test_three_separated_seeds_crown_a_winner_after_holm():
    f = runs([1.40, 1.41, 1.42], [1.35, 1.37, 1.36])
    c = comparisons(f, [("lstm", "gru")], per_window={}).set_index("metric")
    assert c.loc["test_loss", "method"] == "paired t over seeds"
    assert c.loc["test_loss", "p_holm"] >= c.loc["test_loss", "p_value"]
    assert c.loc["test_loss", "p_holm"] < 0.05 and c.loc["test_loss", "winner"] == "gru"
    assert "seed noise" in c.loc["test_loss", "covers"]
    table = comparison_table(f, c.reset_index()).set_index("Metric")
    assert table.loc["Final Test Loss", "Verdict, LSTM vs GRU"] == "GRU"
    text = analysis_sentences(c.reset_index())[1]
    assert text.startswith("Final Test Loss (the primary endpoint): GRU is lower than LSTM by")
    assert "it covers seed noise" in text
    # beside the t-test, the exact sign-flip p: with 3 seeds never below 0.25
    assert "sign-flip p = 0.25" in text and c.loc["test_loss", "p_signflip"] == 0.25
    assert c.loc["test_loss", "family"] == "primary"


def test_accuracy_differences_are_percentage_points():
    f = runs([1.40, 1.41, 1.42], [1.35, 1.37, 1.36])
    text = analysis_sentences(comparisons(f, [("lstm", "gru")], per_window={}))[2]
    assert "percentage points" in text and "pp" in text


def test_one_seed_is_not_established_but_shows_its_test_set_interval():
    rng = np.random.default_rng(0)
    base = rng.normal(1.4, 0.3, 5000)
    f = runs([1.40], [1.35]).assign(test_loss=[base.mean(), base.mean() - 0.05])
    per_window = {("lstm", 0): _windows(base), ("gru", 0): _windows(base - 0.05)}
    c = comparisons(f, [("lstm", "gru")], per_window).set_index("metric")
    # the interval excludes zero, but covers the test set only: no winner. A random split's
    # test windows sample this corpus: iid windows, for another random split of it
    assert c.loc["test_loss", "low"] > 0
    assert c.loc["test_loss", "method"] == "iid windows"
    assert c.loc["test_loss", "covers"].startswith(
        "test-set noise of one seed, for another random split of this corpus")
    assert pd.isna(c.loc["test_loss", "winner"])
    assert c.loc["test_loss", "verdict"] == "not established: 1 seed, a verdict needs 3"
    assert pd.isna(c.loc["train_loss", "low"])  # one run: no interval for the training loss
    assert c.loc["size_mb", "winner"] == "gru"  # exact, always decided
    row = differences_table(c.reset_index()).set_index("Metric").loc["Final Test Loss"]
    assert row["95% CI"] != "none" and row["Verdict"].startswith("not established")
    # other windows (another split): an unpaired bootstrap
    per_window[("gru", 0)] = _windows(base - 0.05, starts=np.arange(5000) + 7)
    c = comparisons(f, [("lstm", "gru")], per_window).set_index("metric")
    assert c.loc["test_loss", "method"] == "block bootstrap of each test set (independent)"
    rows = with_test_loss_intervals(f, per_window, test_share=0.2)
    assert (rows.test_loss_low < rows.test_loss).all() and (rows.test_loss < rows.test_loss_high
                                                            ).all()
    assert (rows.test_loss_population == "another random split of this corpus").all()
    # the finite-population correction: sqrt(1 - 0.2) of the iid standard error
    se = base.std(ddof=1) / np.sqrt(base.size) * np.sqrt(0.8)
    assert rows.test_loss_high.iloc[0] - rows.test_loss_low.iloc[0] == pytest.approx(
        2 * 1.959964 * se, rel=1e-5)
    # a contiguous split stands for new text: a block bootstrap, and it says so
    contiguous = with_test_loss_intervals(f.assign(split="contiguous"), per_window)
    assert (contiguous.test_loss_population == "new text like this held-out text").all()


def test_two_seeds_are_not_established_even_when_p_is_small():
    f = runs([1.40, 1.50], [1.30, 1.39])
    c = comparisons(f, [("lstm", "gru")], per_window={}).set_index("metric")
    assert c.loc["test_loss", "p_value"] < 0.05  # the paired t-test alone would call it
    assert pd.isna(c.loc["test_loss", "winner"]) and pd.isna(c.loc["test_loss", "p_holm"])
    assert c.loc["test_loss", "verdict"] == "not established: 2 seeds, a verdict needs 3"


def test_zero_spread_is_never_real():
    f = runs([1.40, 1.41, 1.42], [1.35, 1.36, 1.37])  # identical differences over seeds
    iv = compare(f, "lstm", "gru", per_window={})
    assert iv["test_loss"]["interval"] is None  # not a zero-width interval
    c = comparisons(f, [("lstm", "gru")], per_window={}).set_index("metric")
    assert pd.isna(c.loc["test_loss", "winner"])
    assert c.loc["test_loss", "verdict"] == (
        "not established: the differences do not vary over seeds")


def test_families_the_primary_endpoint_stands_alone():
    """The main pair's test loss is the primary endpoint: adding pairs never changes it. The
    other pairs' test loss is one Holm family, the secondary metrics another; training time is
    in none (its floor decides it)."""
    f = runs([1.40, 1.43, 1.41], [1.38, 1.405, 1.388])
    alone = comparisons(f, [("lstm", "gru")], per_window={}).set_index("metric")
    p = alone.loc["test_loss", "p_value"]
    assert p < 0.05 and alone.loc["test_loss", "winner"] == "gru"
    others = [runs([1.40, 1.43, 1.41], [1.40 + 0.01 * i, 1.41, 1.43], model_b=f"rnn-h{i}").query(
        "model != 'lstm'") for i in range(8)]
    many = pd.concat([f, *others])
    pairs = [("lstm", "gru"), *[("lstm", f"rnn-h{i}") for i in range(8)]]
    c = comparisons(many, pairs, per_window={})
    main = c[c.main].set_index("metric")
    assert main.loc["test_loss", "p_holm"] == pytest.approx(p)  # a family of one
    assert main.loc["test_loss", "winner"] == "gru"  # the same verdict among nine pairs
    pair_family = c[c.family == "pairs"]
    assert len(pair_family) == 8 and set(pair_family.metric) == {"test_loss"}
    assert np.allclose(pair_family.p_holm, holm(pair_family.p_value))
    secondary = c[c.family == "secondary"]
    assert set(secondary.metric) == {"test_accuracy", "train_loss"} and len(secondary) == 18
    assert np.allclose(secondary.p_holm, holm(secondary.p_value))
    times = c[c.metric == "train_time"]
    assert times.family.isna().all() and times.p_holm.isna().all()
    weak = pair_family[pair_family.winner.isna()].iloc[0]
    assert weak.verdict.startswith("not established after correcting for 8 tests (Holm p = ")
    table = differences_table(c)
    assert (table[table.Metric == "Training Time"]["t-test p"] == "n/a (floor)").all()
    assert (table[table.Family == "primary endpoint"].Metric == "Final Test Loss").all()


def test_sign_flip_p_is_exact():
    from charlm.stats.intervals import sign_flip_p

    assert sign_flip_p([0.1, 0.2, 0.3]) == 0.25  # 2 of 8 sign assignments as extreme
    assert sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5]) == 0.0625
    assert sign_flip_p([0.1] * 6) == pytest.approx(2 / 64)
    assert sign_flip_p([0.3, -0.1, 0.2]) == pytest.approx(4 / 8)  # |mean| >= 0.1333: 4 of 8
    assert sign_flip_p([0.0, 0.0]) is None and sign_flip_p([0.2]) is None


def test_the_reference_is_judged_by_a_prediction_interval_and_tost():
    """One reference run on other test windows: a prediction interval for one new run (about
    twice the mean's interval at 3 seeds), "consistent" when it holds the reference, "matches"
    only by equivalence within the stated margin, never with one seed."""
    from charlm.stats.intervals import EQUIVALENCE_MARGIN, against_reference

    values = [1.400, 1.402, 1.398]
    fit = against_reference(values, 0.0, 1.3823)
    ci = mean_ci(values)
    assert fit["high"] - fit["low"] == pytest.approx(
        np.sqrt(1 + 3) * (ci["ci_high"] - ci["ci_low"]))  # sqrt(1 + 1/n) / sqrt(1/n) = 2
    assert fit["verdict"] == "below" and "new run" in fit["covers"]  # 1.3823 below [1.390, ...]
    assert fit["tost_p"] > 0.05  # 0.0177 from the reference: not within 0.02 with confidence
    wide = against_reference([1.390, 1.392, 1.388], 0.004, 1.3823)
    assert wide["verdict"] == "consistent" and wide["tost_p"] > 0.05
    tight = against_reference([1.3830, 1.3825, 1.3820, 1.3828, 1.3822, 1.3826], 0.002, 1.3823)
    assert tight["verdict"] == "matches" and tight["margin"] == EQUIVALENCE_MARGIN
    one = against_reference([1.3824], 0.0001, 1.3823)
    assert one["verdict"] == "consistent" and "not covered" in one["covers"]


def test_a_pair_across_splits_names_no_winner():
    f = runs([1.40, 1.41, 1.42], [1.35, 1.37, 1.36])
    f.loc[f.model == "gru", "split"] = "contiguous"
    c = comparisons(f, [("lstm", "gru")], per_window={}).set_index("metric")
    assert pd.isna(c.loc["test_loss", "winner"]) and pd.isna(c.loc["test_accuracy", "winner"])
    assert "different windows" in c.loc["test_loss", "verdict"]
    assert "different windows" in c.loc["test_loss", "covers"]
    assert "fixed test windows" not in c.loc["test_loss", "covers"]


def test_holm_adjusts_as_the_textbook_says():
    adjusted = holm([0.01, 0.04, 0.03, np.nan])
    assert np.allclose(adjusted[:3], [0.03, 0.06, 0.06]) and np.isnan(adjusted[3])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def test_training_time_needs_the_floor():
    one = {("lstm", 0): _windows([1.4] * 10), ("gru", 0): _windows([1.39] * 10)}
    close = runs([1.40], [1.39], time=(300.0, 300.0 * (1 - TIME_FLOOR / 2)))
    c = comparisons(close, [("lstm", "gru")], per_window=one).set_index("metric")
    assert pd.isna(c.loc["train_time", "winner"])
    assert c.loc["train_time", "verdict"].startswith(f"within the {TIME_FLOOR:.0%} floor")
    far = runs([1.40], [1.39], time=(300.0, 300.0 * (1 - 2 * TIME_FLOOR)))
    c = comparisons(far, [("lstm", "gru")], per_window=one).set_index("metric")
    assert c.loc["train_time", "winner"] == "gru"
    # with seeds, the floor alone decides (the seeds do not cover the machine's drift)
    noisy = runs([1.40, 1.41, 1.42], [1.35, 1.37, 1.36], time=(300.0, 160.0))
    noisy.loc[noisy.model == "gru", "train_time"] = [100.0, 300.0, 80.0]
    c = comparisons(noisy, [("lstm", "gru")], per_window={}).set_index("metric")
    assert c.loc["train_time", "winner"] == "gru" and pd.isna(c.loc["train_time", "p_holm"])


def _windows(losses, starts=None):
    losses = np.asarray(losses, dtype=float)
    starts = np.arange(losses.size) if starts is None else starts
    return {"starts": starts, "losses": losses, "correct": (losses < 1.4).astype(float)}


def test_differences_table_holds_every_pair():
    f = pd.concat([runs([1.40, 1.41], [1.35, 1.37]),
                   runs([1.50, 1.52], [1.0, 1.0]).query("model == 'lstm'").assign(model="rnn")])
    c = comparisons(f, [("lstm", "gru"), ("lstm", "rnn")], per_window={})
    table = differences_table(c)
    assert list(table["A - B"].unique()) == ["LSTM - GRU", "LSTM - RNN"]
    assert {"Covers", "t-test p", "sign-flip p", "Corrected p", "Verdict"} <= set(table.columns)
    assert c["main"].tolist() == [True] * 5 + [False] * 5


def test_split_per_seed_intervals_cover_the_split():
    f = runs([1.40, 1.41, 1.43], [1.35, 1.37, 1.36])
    c = comparisons(f, [("lstm", "gru")], per_window={}, split_per_seed=True).set_index("metric")
    assert "choice of test windows" in c.loc["test_loss", "covers"]


@pytest.mark.slow
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


def test_figures_without_a_validation_set_say_so(tmp_path):
    from charlm.report import figures

    h = pd.DataFrame({"model": ["lstm"] * 2, "seed": [0, 0], "epoch": [1, 2],
                      "train_loss": [2.0, 1.5], "elapsed_train_seconds": [1.0, 2.0],
                      "test_loss": [np.nan, 1.6]})  # the reference profile: no val columns
    fig = figures.accuracy_curves(h, tmp_path / "acc.png")
    assert "no validation set" in fig.axes[0].texts[0].get_text()
    assert (tmp_path / "acc.png").exists()
    figures.loss_curves(h, tmp_path / "loss.png")  # the training loss alone
    assert "no validation set" in figures.loss_vs_time(h).axes[0].texts[0].get_text()


def test_a_small_test_set_gets_a_bootstrap_at_its_own_scale():
    iv = block_bootstrap(np.full(500, 0.3) + np.random.default_rng(0).normal(0, 0.1, 500))
    assert iv.low < 0.3 < iv.high and iv.estimate == pytest.approx(0.3, abs=0.02)


def test_notebook_04_judges_the_reference_and_the_report_only_words_it():
    from charlm.report.prose import reference_sentence
    from charlm.stats.verdicts import reference_fits

    f = runs([1.400, 1.402, 1.398], [1.380, 1.372, 1.375]).assign(
        test_loss_low=lambda r: r.test_loss - 0.001, test_loss_high=lambda r: r.test_loss + 0.001)
    fits = reference_fits(f, {"lstm": 1.3823, "gru": 1.3753})
    assert list(fits.model) == ["lstm", "gru"] and set(fits.verdict) <= {
        "matches", "consistent", "below", "above"}
    text = reference_sentence(fits, comparable=True)
    assert "prediction interval for one run" in text and "TOST p" in text
    assert "within noise" not in text
    # the LSTM's 1.400 lies above the reference's 1.3823: "higher", never "lower"
    assert fits.set_index("model").loc["lstm", "verdict"] == "below"
    assert "LSTM's test loss 1.4000 differs from the reference's 1.3823: it is higher" in text
    one = reference_fits(f[f.seed == 0].assign(test_loss=1.3760), {"gru": 1.3753})
    assert "one seed cannot show equivalence" in reference_sentence(one, comparable=True)
    contiguous = reference_fits(f.assign(split="contiguous"), {"lstm": 1.3823})
    assert contiguous.empty  # the reference's number is for a random split
    assert "not comparable" in reference_sentence(fits, comparable=False)


def test_the_verdict_at_every_budget():
    from charlm.report.protocol_figures import budget_verdict
    from charlm.stats.verdicts import budget_differences

    rows = [{"model": m, "seed": s, "epoch": e, "steps": 100, "val_loss": 2.0 / e + off + 0.01 * s,
             "elapsed_train_seconds": 10.0 * e}
            for m, off in (("lstm", 0.05), ("gru", 0.0)) for s in range(3) for e in (1, 2, 3)]
    h = pd.DataFrame(rows)
    h.loc[(h.model == "gru") & (h.seed == 2), "val_loss"] += 0.02  # the differences vary
    d = budget_differences(h, "lstm", "gru")
    assert list(d.epoch) == [1, 2, 3] and list(d.steps) == [100, 200, 300]
    assert list(d.seconds) == [10.0, 20.0, 30.0] and (d.n == 3).all()
    assert d.estimate.iloc[0] == pytest.approx(0.05 - 0.02 / 3)
    assert (d.low < d.estimate).all() and (d.estimate < d.high).all()
    fig = budget_verdict(d, ("lstm", "gru"))
    assert len(fig.axes) == 2
