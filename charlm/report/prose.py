"""Every sentence the report writes from the run's results (the search's: search_prose).

Each sentence states what was measured and draws only the conclusion its numbers carry; where
the numbers point the other way, the other sentence is written. Inputs are the tables notebook
04 wrote (charlm.stats.verdicts) and the search's choice (charlm.stats.search).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from charlm.kinds import model_label
from charlm.report.tables import fmt, main_rows, scale_of
from charlm.stats.intervals import ALPHA, MIN_SEEDS, TIME_FLOOR
from charlm.stats.verdicts import METRICS, interval_of

WORDS = {"train_time": "faster", "size_mb": "smaller"}



RULES = (f"Verdicts: model size is exact. The primary endpoint, declared before any run, is the "
         f"main pair's test loss (nats), decided at p < {ALPHA:.2f} as it is. The other pairs' "
         "test loss is one family and the secondary metrics (accuracy, training loss) another, "
         f"each Holm-corrected on its own, so adding a pair never changes the primary verdict. "
         f"A winner needs at least {MIN_SEEDS} seeds; with fewer the verdict is 'not "
         "established' and says why. Beside every paired t-test p stands an exact sign-flip p, "
         "which assumes no distribution (its smallest possible value is 0.25 with 3 seeds, "
         "0.0625 with 5, 0.031 with 6). Two models tested on different windows (a pair across "
         "splits) differ between test sets: no winner is named. Training time: models train "
         "one after another, so the machine's drift lands on one model and seeds do not cover "
         f"it; it is decided by a floor alone: a winner needs times more than {TIME_FLOOR:.0%} "
         "apart (above the run-to-run spread measured on the development machines).")


def _diff_text(key: str, c) -> str:
    """The interval of a comparison row in words, with what it covers."""
    iv, (scale, unit) = interval_of(c), scale_of(key)
    if iv is None or iv.method == "exact":
        return ""
    text = (f"95% CI of the difference [{iv.low * scale:+.4g}, {iv.high * scale:+.4g}]{unit}, "
            f"{iv.method}, n={iv.n}; it covers {c.covers}")
    if iv.p_value is not None and c.rule != "floor":
        flip = getattr(c, "p_signflip", None)
        text += f"; t-test p = {iv.p_value:.2g}" + (
            f", sign-flip p = {flip:.2g}" if flip is not None and pd.notna(flip) else "")
    return f" ({text})"


def _apart(key: str, c) -> str:
    """How far apart two means are: percentage points for accuracy, relative otherwise."""
    if key == "test_accuracy":
        return f"{abs(c.mean_a - c.mean_b) * 100:.2f} percentage points"
    rel = abs(c.mean_a - c.mean_b) / max(abs(c.mean_a), abs(c.mean_b), 1e-12)
    return f"{rel:.1%}"


def analysis_sentences(comparisons: pd.DataFrame) -> list[str]:
    """One sentence per metric of the main pair, written from its numbers and verdict."""
    out = []
    for c in main_rows(comparisons).itertuples():
        metric, a, b = METRICS[c.metric], model_label(c.a), model_label(c.b)
        pair = f"{fmt(c.metric, c.mean_a)} for {a} vs {fmt(c.metric, c.mean_b)} for {b}"
        label = metric.label + (" (the primary endpoint)" if c.metric == "test_loss" else "")
        if isinstance(c.winner, str):
            win = model_label(c.winner)
            loser = b if win == a else a
            word = WORDS.get(c.metric, "higher" if metric.higher_is_better else "lower")
            out.append(f"{label}: {win} is {word} than {loser} by {_apart(c.metric, c)} "
                       f"({pair}){_diff_text(c.metric, c)}.")
        else:
            out.append(f"{label}: {pair}; no winner ({c.verdict}){_diff_text(c.metric, c)}.")
    return out


def pair_sentence(c) -> str:
    """One sentence on the test loss of a further pair (a comparison row of test_loss)."""
    a, b = model_label(c.a), model_label(c.b)
    head = f"Test loss {a} {c.mean_a:.4f} vs {b} {c.mean_b:.4f}: "
    if isinstance(c.winner, str):
        head += f"{model_label(c.winner)} is lower by {abs(c.estimate):.4f} nats"
    else:
        head += f"no winner ({c.verdict})"
    return head + _diff_text("test_loss", c) + "."


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
        text += (f"; the best network here, {model_label(best.scorer)}, is "
                 f"{abs(floor - best.test_loss):.4f} nats {side} it")
    return text + "."


def _worse(x: float) -> str:
    return f"{abs(x):.4f} nats {'worse' if x > 0 else 'better'}"


def split_sentence(gap: pd.Series, verdict: str, established: bool) -> str:
    """Why the contiguous split's test loss is higher, from the measured parts of the gap.

    verdict/established: what the pair's test-loss gap is against the seed noise, in words, and
    whether it is beyond it; the parts (point estimates, without intervals) are reported either
    way, and only suggest a reason, for a gap beyond the noise.
    """
    c, r, seeds = model_label(gap.contiguous), model_label(gap.random), int(gap.seeds)
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
        return text + (" No reason is suggested from these parts: the gap itself is not beyond "
                       "the seed noise.")
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


def reference_sentence(fits: pd.DataFrame | None, comparable: bool) -> str:
    """Each reference model's test loss against the reference's: consistent with it, or
    differing from it, by a prediction interval for one run; "matches" only by an equivalence
    test at a margin stated in advance (notebook 04's reference_fit table)."""
    if not comparable:
        return "The reference's numbers are for all of Tiny Shakespeare: not comparable here. "
    text = ""
    for fit in ([] if fits is None else fits.to_dict("records")):
        ref, margin, tost = fit["reference"], fit["margin"], fit["tost_p"]
        n = int(fit["n"])
        # "below": the reference lies below the interval, so this run's loss is the higher one
        unproven = (f"equivalence within +-{margin} nats is not shown, TOST p = {tost:.2g}"
                    if n >= 2 else "one seed cannot show equivalence: its seed-to-seed spread "
                    "is unknown")
        where = {"matches": f"matches the reference's {ref} (equivalent within +-{margin} "
                            f"nats: TOST p = {tost:.2g})",
                 "consistent": f"is consistent with the reference's {ref} (no difference found, "
                               f"which is not a match: {unproven})",
                 "below": f"differs from the reference's {ref}: it is higher",
                 "above": f"differs from the reference's {ref}: it is lower"}[fit["verdict"]]
        kind = "prediction interval for one run" if n >= 2 else "interval"
        text += (f"{model_label(fit['model'])}'s test loss {fit['mean']:.4f} {where} (95% {kind} "
                 f"[{fit['low']:.4f}, {fit['high']:.4f}] over {n} seed{'s' * (n != 1)}; it "
                 f"covers {fit['covers']}). ")
    return text


def conclusion_sentences(comparisons: pd.DataFrame) -> str:
    """What the main pair's verdicts establish, and what they leave open, and why."""
    main = main_rows(comparisons)
    a, b = (model_label(x) for x in main.iloc[0][["a", "b"]])
    decided = [f"{METRICS[c.metric].label.lower()}: {model_label(c.winner)}"
               for c in main.itertuples() if isinstance(c.winner, str)]
    open_: dict[str, list[str]] = {}
    for c in main.itertuples():
        if not isinstance(c.winner, str):
            open_.setdefault(c.verdict, []).append(METRICS[c.metric].label.lower())
    text = f"{a} against {b}. "
    text += (f"Established: {'; '.join(decided)}. " if decided
             else "No difference between the two models is established. ")
    for verdict, labels in open_.items():
        text += f"No winner for {', '.join(labels)}: {verdict}. "
    return text


def seeds_cover_sentence(split_per_seed: bool) -> str:
    return ("The interval covers seed noise (initialisation and data order)"
            + (" and each seed's own split." if split_per_seed else " on fixed test windows."))


def settings_note(settings: pd.DataFrame, equal: int) -> str:
    """How many parameters of two compared runs differ (charlm compare)."""
    per_model = settings["Parameter"].str.contains("[", regex=False).sum()
    if not len(settings):
        return f"None: all {equal} parameters are equal."
    text = (f"{len(settings) - per_model} parameters differ; {equal} are equal in both runs "
            "(not shown).")
    return text + (" `key` [model]: the value that model trained with, where a search "
                   "(`tune_space`) chose it per model." if per_model else "")


def metrics_note(enough: bool, mismatch: list[str], only: list[str]) -> str:
    """What the compared metrics' intervals mean, or why there are none (charlm compare)."""
    text = "Means over each run's seeds. " + ("; ".join(only) + ". " if only else "")
    if mismatch:
        text += ("No intervals: the two runs' test windows may differ (" + ", ".join(mismatch)
                 + "), so their test numbers do not measure the same thing. ")
    elif not enough:
        text += ("No intervals: they need at least 2 seeds per model in both runs. The test "
                 "windows are the same in both runs (equal data parameters and splits). ")
    else:
        text += ("95% CI: Welch's t-interval of B - A over seeds (the runs' seeds are "
                 "independent samples; no verdict is drawn). The test windows are the same in "
                 "both runs (equal data parameters and splits), so it covers seed-to-seed "
                 "variation on these windows. ")
    return text + ("Training times have no interval: they are comparable only on the same "
                   "machine and load (see Environment).")


# -- what each notebook found, said at its end
def data_finding(characters: int, vocabulary: int, entropy: float, test_windows: int) -> str:
    return (f"The run reads {characters:,} characters, {vocabulary} of them distinct. A model "
            f"that knew only how often each character occurs would score {entropy:.3f} nats per "
            f"character (the frequencies' entropy): every model here must do better than that, "
            f"from context. The test set holds {test_windows:,} windows, read once, after "
            "training.")


def training_finding(last: pd.DataFrame) -> str:
    """The final epoch of each model over its seeds (notebook 03's table)."""
    loss = "val_loss" if "val_loss" in last and last["val_loss"].notna().any() else "train_loss"
    words = {"val_loss": "validation", "train_loss": "training"}[loss]
    parts = [f"{model_label(m)} {g[loss].mean():.4f}" + (f" ± {g[loss].std(ddof=1):.4f}"
                                                     if len(g) > 1 else "")
             for m, g in last.groupby("model", sort=False)]
    return (f"Final {words} loss (mean ± sd over seeds): " + "; ".join(parts) + ". The test "
            "set's numbers and whether any difference is beyond the noise: notebook 04.")


def samples_finding(shares: pd.Series) -> str:
    """shares: per model, the share of its samples' words that occur in the corpus."""
    parts = [f"{model_label(m)} {v:.0%}" for m, v in shares.items()]
    return ("Share of the samples' words that are words of the corpus: " + ", ".join(parts)
            + ". A rough look at spelling only: it says nothing of grammar or sense.")
