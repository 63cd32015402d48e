"""The n-gram count model, the held-out-text measurements and the sentences written from them."""

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from charlm.report import prose as explain
from charlm.stats import ngram
from charlm.stats.held_out import held_out_text, split_gaps


def _brute_force(text, train_targets, position, order, vocab_size):
    """Witten-Bell by the formula, with dictionaries, for one target position."""
    prob = 1.0 / vocab_size
    for k in range(order):
        h = tuple(text[position - k : position])
        followers = Counter(text[p] for p in train_targets if tuple(text[p - k : p]) == h)
        total = sum(followers.values())
        if total:
            prob = (followers[text[position]] + len(followers) * prob) / (total + len(followers))
    return -math.log(prob)


def test_witten_bell_matches_the_formula():
    rng = np.random.default_rng(0)
    text = rng.integers(0, 4, 400)
    data = torch.tensor(text)
    seq_len = 5
    starts = torch.randperm(len(text) - seq_len, generator=torch.Generator().manual_seed(0))
    train, test = starts[:300], starts[300:320]
    for order in (1, 3, 5):
        losses = ngram.window_losses(data, train, test, seq_len, 4, order)
        expected = [_brute_force(text, (train + seq_len).tolist(), int(s) + seq_len, order, 4)
                    for s in test]
        assert losses == pytest.approx(expected, rel=1e-9)


def test_a_periodic_text_is_learnt_by_a_long_enough_context():
    data = torch.tensor([0, 1, 2] * 200)
    starts = torch.arange(data.numel() - 4)
    train, test = starts[::2], starts[1::2]
    assert ngram.window_losses(data, train, test, 4, 3, order=2).mean() < 0.1
    assert ngram.window_losses(data, train, test, 4, 3, order=1).mean() == pytest.approx(
        math.log(3), abs=0.01)


def test_the_order_is_chosen_on_validation_or_left_at_its_default():
    data = torch.tensor([0, 1, 2, 1] * 300)
    starts = torch.arange(data.numel() - 8)
    order, scores = ngram.choose_order(data, starts[:800], starts[800:1000], 8, 3)
    assert scores[order] == min(scores.values()) and order >= 3
    assert ngram.choose_order(data, starts, starts[:0], 8, 3) == (ngram.DEFAULT_ORDER, {})
    assert ngram.choose_order(data, starts, starts[:0], 2, 3) == (3, {})  # seq_len 2: order 3


def _w(starts, losses):
    return {"starts": np.asarray(starts), "losses": np.asarray(losses, dtype=float)}


def test_the_gap_is_split_into_measured_parts():
    # 100 windows; the contiguous split tests on starts 80..99 (boundary 80)
    random_starts = np.arange(0, 100, 5)  # 20 test windows, 4 of them at 80 or later
    random_losses = np.where(random_starts >= 80, 1.5, 1.4)
    contiguous_starts = np.arange(80, 100)
    runs = pd.DataFrame({"model": ["lstm", "lstm@contiguous"], "seed": [0, 0],
                         "split": ["random", "contiguous"],
                         "test_loss": [random_losses.mean(), 1.8]})
    per_window = {("lstm", 0): _w(random_starts, random_losses),
                  ("lstm@contiguous", 0): _w(contiguous_starts, [1.8] * 20)}
    counts = {"order": 3, "random": _w(random_starts, [2.0] * 20),
              "contiguous": _w(contiguous_starts, [2.5] * 20)}
    gaps = split_gaps(runs, per_window, [("lstm", "lstm@contiguous")], counts, boundary=80)
    g = gaps.iloc[0]
    assert g.gap == pytest.approx(1.8 - 1.42)
    assert g.harder == pytest.approx(1.5 - 1.42)  # the late text is harder for the random model
    assert g.unseen == pytest.approx(1.8 - 1.5)  # the same windows, unseen vs seen
    assert g.ngram_gap == pytest.approx(0.5)
    table = held_out_text(runs, per_window, counts, boundary=80).set_index(["scorer", "split"])
    assert table.loc[("lstm", "random"), "late_loss"] == pytest.approx(1.5)
    assert table.loc[("lstm", "random"), "n_late"] == 4
    assert table.loc[("3-gram counts", "contiguous"), "test_loss"] == pytest.approx(2.5)

    text = explain.split_sentence(g, "LSTM", established=True)
    assert "0.3000 nats worse" in text and "not that text being harder" in text
    assert "alone produces a gap of this size" in text  # the count model's gap is larger
    easier = g.copy()
    easier["harder"] = -0.15  # the late text easier: never called harder
    text = explain.split_sentence(easier, "LSTM", True)
    assert "0.1500 nats better" in text and "is that text being harder" not in text
    negative = g.copy()
    negative["gap"] = -0.1
    assert "no extra loss to explain" in explain.split_sentence(negative, "LSTM@CONTIGUOUS", True)
    text = explain.split_sentence(g, "not established: 1 seed, a verdict needs 3", False)
    assert "No reason is suggested" in text and "So " not in text
    floor = explain.floor_sentence(held_out_text(runs, per_window, counts, 80), "random", True)
    assert "3-gram count model" in floor and "below it" in floor and "on validation" in floor
    floor = explain.floor_sentence(held_out_text(runs, per_window, counts, 80), "random", False)
    assert "no validation set" in floor
