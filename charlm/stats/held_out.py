"""Where the contiguous split's extra loss comes from, measured (not assumed), from tables and
per-window arrays (no files): each model's and the n-gram's loss inside and outside the text the
contiguous split tests on, and each split pair's gap with its two measured parts."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _late(starts: np.ndarray, boundary: int) -> np.ndarray:
    """True for windows inside the text the contiguous split tests on (start >= boundary)."""
    return starts >= boundary


def held_out_text(runs: pd.DataFrame, per_window: dict, ngram: dict,
                  boundary: int) -> pd.DataFrame:
    """Test loss of every model (mean over seeds) and of the n-gram count model, over all its test
    windows, over those inside the last part of the text (the contiguous split's test text) and
    over the rest.

    ngram: {"order": n, split: {"starts", "losses"}} for the splits it was scored on
    (charlm.experiment.steps.ngram_on_splits).
    """
    scored = {(m, s): per_window[(m, s)] for m, s in zip(runs.model, runs.seed)}
    scored.update({(f"{ngram['order']}-gram counts", split): ngram[split]
                   for split in ("random", "contiguous") if split in ngram})
    splits = dict(zip(runs.model, runs.split))
    rows = []
    for (name, tag), w in scored.items():
        late = _late(w["starts"], boundary)
        rows.append({"scorer": name, "split": splits.get(name, tag),
                     "test_loss": w["losses"].mean(),
                     "late_loss": w["losses"][late].mean() if late.any() else np.nan,
                     "early_loss": w["losses"][~late].mean() if (~late).any() else np.nan,
                     "n_late": int(late.sum()), "n_early": int((~late).sum())})
    df = pd.DataFrame(rows)
    return df.groupby(["scorer", "split"], sort=False, as_index=False).mean()


def _on_shared(contiguous: dict, random: dict) -> float:
    """Mean loss of contiguous minus random on the windows both were tested on."""
    _, ic, ir = np.intersect1d(contiguous["starts"], random["starts"], return_indices=True)
    return float(contiguous["losses"][ic].mean() - random["losses"][ir].mean())


def split_gaps(runs: pd.DataFrame, per_window: dict, pairs: list[tuple[str, str]], ngram: dict,
               boundary: int) -> pd.DataFrame:
    """For every compared pair of one model on the two splits: the test-loss gap (contiguous
    minus random) and two parts of it, each measured on windows, for the networks and the n-gram.

    harder: the random-split model's loss on its test windows inside the contiguous split's test
        text, minus its loss on all its test windows (is that text harder?);
    unseen: contiguous minus random-split model on the very same windows (what not having
        trained on that stretch of text costs).
    """
    split = dict(zip(runs.model, runs.split))
    rows = []
    for a, b in pairs:
        if split[a] == split[b]:
            continue
        c, r = (a, b) if split[a] == "contiguous" else (b, a)
        seeds = sorted(set(runs.seed[runs.model == c]) & set(runs.seed[runs.model == r]))
        harder, unseen = [], []
        for s in seeds:
            wr = per_window[(r, s)]
            late = _late(wr["starts"], boundary)
            harder.append(wr["losses"][late].mean() - wr["losses"].mean())
            unseen.append(_on_shared(per_window[(c, s)], wr))
        loss = runs.groupby("model").test_loss.mean()
        gap = float(loss[c] - loss[r])
        row = {"contiguous": c, "random": r, "gap": gap, "harder": float(np.mean(harder)),
               "unseen": float(np.mean(unseen)), "seeds": len(seeds)}
        if "random" in ngram and "contiguous" in ngram:
            nr, nc = ngram["random"], ngram["contiguous"]
            row.update(ngram_order=ngram["order"],
                       ngram_gap=float(nc["losses"].mean() - nr["losses"].mean()),
                       ngram_harder=float(nr["losses"][_late(nr["starts"], boundary)].mean()
                                          - nr["losses"].mean()),
                       ngram_unseen=_on_shared(nc, nr))
        rows.append(row)
    return pd.DataFrame(rows)
