"""A count-based character n-gram model: the floor every report compares its networks with.

Witten-Bell interpolation (Witten and Bell 1991; Chen and Goodman 1998, section 2.5): the
probability of character c after the context h of k characters is

    P_k(c | h) = (C(h c) + N(h) P_{k-1}(c | h')) / (C(h) + N(h))

where C counts the training targets, N(h) is the number of distinct characters seen after h, h'
drops the oldest character of h, and P_{-1} is uniform over the vocabulary. It is counted on the
targets of the training windows only (text[start + seq_len] with its k preceding characters), so it
sees exactly the characters a "last"-objective network trains on. Unlike a network it cannot
recall a passage from a long context, which makes it a measure of how hard a test set's text is.
It takes the encoded text and window starts as arrays (charlm.experiment.steps.ngram_on_splits
cuts them from the corpus).
"""

from __future__ import annotations

import numpy as np

ORDERS = tuple(range(1, 9))  # context lengths 0..7 (an order-n model conditions on n - 1 chars)
DEFAULT_ORDER = 5  # used where there is no validation set to choose the order on


def fits(order: int, vocab_size: int) -> bool:
    """Whether the codes of order-`order` n-grams fit in int64."""
    return vocab_size ** order < 2**62


def _lookup(table_keys: np.ndarray, table_counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Count of each key in a sorted table (0 where absent)."""
    idx = np.searchsorted(table_keys, keys).clip(max=max(table_keys.size - 1, 0))
    found = table_keys.size > 0
    hit = (table_keys[idx] == keys) if found else np.zeros(keys.size, dtype=bool)
    return np.where(hit, table_counts[idx] if found else 0, 0)


def _losses_by_order(data: np.ndarray, train_starts: np.ndarray,
                     eval_starts: np.ndarray, seq_len: int, vocab_size: int, orders: int):
    """Yield (order, per-window losses) for orders 1..`orders`, in one pass: each order's
    interpolation starts from the one below it, and each context key extends the shorter one."""
    text = np.asarray(data).astype(np.int64)
    train = np.asarray(train_starts) + seq_len  # target positions
    test = np.asarray(eval_starts) + seq_len
    prob = np.full(test.size, 1.0 / vocab_size)
    h_train = np.zeros(train.size, dtype=np.int64)  # code of the k characters before a target
    h_test = np.zeros(test.size, dtype=np.int64)
    for k in range(orders):  # context length k: 0, 1, ..., orders - 1
        if k:  # prepend the k-th character before each target (the oldest is most significant)
            h_train = h_train + text[train - k] * vocab_size ** (k - 1)
            h_test = h_test + text[test - k] * vocab_size ** (k - 1)
        hc_keys, hc_counts = np.unique(h_train * vocab_size + text[train], return_counts=True)
        h_keys, h_counts = np.unique(h_train, return_counts=True)
        followers_keys, followers = np.unique(hc_keys // vocab_size, return_counts=True)
        c_hc = _lookup(hc_keys, hc_counts, h_test * vocab_size + text[test])
        c_h = _lookup(h_keys, h_counts, h_test)
        n_h = _lookup(followers_keys, followers, h_test)
        prob = np.where(c_h > 0, (c_hc + n_h * prob) / np.maximum(c_h + n_h, 1), prob)
        yield k + 1, -np.log(prob)


def _orders(seq_len: int, vocab_size: int, upto: int) -> list[int]:
    """The orders up to `upto` that fit the window (order - 1 <= seq_len) and int64 keys."""
    return [n for n in range(1, upto + 1) if n <= seq_len + 1 and fits(n, vocab_size)]


def window_losses(data: np.ndarray, train_starts: np.ndarray, eval_starts: np.ndarray,
                  seq_len: int, vocab_size: int, order: int = DEFAULT_ORDER) -> np.ndarray:
    """Per-window loss (nats) of an order-`order` Witten-Bell model on eval windows' targets.

    order - 1 must not exceed seq_len (the context lies inside the window).
    """
    if order not in _orders(seq_len, vocab_size, order):
        raise ValueError(f"order {order} needs 1 <= order <= seq_len + 1 = {seq_len + 1} and "
                         f"{vocab_size} ** order below 2 ** 62 (int64 keys)")
    *_, (_, losses) = _losses_by_order(data, train_starts, eval_starts, seq_len, vocab_size,
                                       order)
    return losses


def choose_order(data: np.ndarray, train_starts: np.ndarray, val_starts: np.ndarray,
                 seq_len: int, vocab_size: int) -> tuple[int, dict[int, float]]:
    """The order with the lowest mean validation loss, and every order's validation loss.

    Without validation windows, DEFAULT_ORDER or the largest order below it that the window
    length and vocabulary allow (and no scores): the test set never chooses.
    """
    if not np.asarray(val_starts).size:
        return _orders(seq_len, vocab_size, DEFAULT_ORDER)[-1], {}
    top = _orders(seq_len, vocab_size, ORDERS[-1])[-1]
    scores = {n: float(losses.mean()) for n, losses in
              _losses_by_order(data, train_starts, val_starts, seq_len, vocab_size, top)}
    return min(scores, key=scores.get), scores
