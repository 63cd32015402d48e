"""Sentences written from measurements of the run: the n-gram floor and the split gap.

Each sentence states what was measured and draws only the conclusion its numbers carry; where the
numbers point the other way, the other sentence is written. Inputs are the `held_out` and
`split_gaps` tables of charlm.analysis, as the run folder stores them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _ngram(held_out: pd.DataFrame) -> pd.DataFrame:
    return held_out[held_out.scorer.str.endswith("-gram counts")]


def floor_sentence(held_out: pd.DataFrame, split: str, chosen_on_validation: bool) -> str:
    """The n-gram count model's test loss on the run's split against the networks'."""
    counts = _ngram(held_out)
    counts = counts[counts.split == split]
    if counts.empty:
        return ""
    floor = float(counts.test_loss.iloc[0])
    nets = held_out[~held_out.scorer.str.endswith("-gram counts") & (held_out.split == split)]
    name = counts.scorer.iloc[0].removesuffix(" counts")
    how = ("its order chosen on validation" if chosen_on_validation
           else "a fixed order: no validation set to choose one")
    text = (f"A character {name} count model (Witten-Bell smoothing, {how}, no training beyond "
            f"counting) scores {floor:.4f} nats on the {split} split's test windows")
    if len(nets):
        best = nets.loc[nets.test_loss.idxmin()]
        side = "below" if best.test_loss < floor else "above"
        text += (f"; the best network here, {best.scorer.upper()}, is "
                 f"{abs(floor - best.test_loss):.4f} nats {side} it")
    return text + "."


def _worse(x: float) -> str:
    return f"{abs(x):.4f} nats {'worse' if x > 0 else 'better'}"


def split_sentence(gap: pd.Series, verdict: str, established: bool) -> str:
    """Why the contiguous split's test loss is higher, from the measured parts of the gap.

    verdict/established: the comparison's verdict on the pair's test loss; the parts are
    reported either way, a reason is drawn only for an established, positive gap.
    """
    c, r, seeds = gap.contiguous.upper(), gap.random.upper(), int(gap.seeds)
    text = (f"{c} minus {r}: {gap.gap:+.4f} nats of test loss (mean over {seeds} "
            f"seed{'s' * (seeds != 1)}; {verdict}). Measured: on its test windows inside the "
            f"text the contiguous split tests on, {r} does {_worse(gap.harder)} than on all its "
            f"test windows, and on those very windows {c}, which never trained on that text, "
            f"does {_worse(gap.unseen)} than {r}.")
    has_counts = np.isfinite(gap.get("ngram_gap", np.nan))
    if has_counts:
        n = int(gap.ngram_order)
        text += (f" A {n}-gram count model, which cannot recall a passage longer than {n - 1} "
                 f"characters, shows a gap of {gap.ngram_gap:+.4f} between the same splits.")
    if not established:
        return text + " No reason is drawn from these parts: the gap itself is not established."
    if gap.gap <= 0:
        return text + (" The contiguous model does better here, so there is no extra loss to "
                       "explain.")
    # the parts are point estimates (means over seeds): they suggest, they do not prove
    if gap.unseen > 0 and gap.harder < 0.5 * gap.unseen:
        text += (" These parts suggest the gap is not that text being harder; it is having "
                 "trained (or not) on the text around the test windows.")
    elif gap.harder > 0:
        text += " These parts suggest a large part of the gap is that text being harder."
    else:
        text += " These parts do not add up to a simple reason."
    if has_counts and gap.ngram_gap >= gap.gap:
        text += (" The count model's gap is as large: text from unseen plays (other names, words "
                 "and turns of phrase) alone produces a gap of this size, without recall of "
                 "overlapping windows (which this does not rule out).")
    elif has_counts:
        text += (f" The count model's gap is smaller: the remaining "
                 f"{gap.gap - max(gap.ngram_gap, 0):.4f} nats may be the network recalling "
                 "passages from overlapping training windows, which the count model cannot do.")
    return text
