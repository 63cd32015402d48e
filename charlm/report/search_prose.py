"""The sentences of the report's search (Tuning): what the search bought and whether the
comparison changes with it, each difference with its own noise. Inputs: the search's choice and
trials (charlm.stats.search)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from charlm.kinds import model_label
from charlm.stats.search import noise_of, setting_name


def _difference(d: float, noise: tuple[float, float] | None) -> str:
    """A difference of two settings' means, with its own standard error and whether it lies
    within its 95% band (Welch, from the two settings' seed variances)."""
    if noise is None:
        return f"{d:+.4f}"
    se, half = noise
    where = "within" if abs(d) <= half else "beyond"
    return f"{d:+.4f} (SE {se:.4f}, {where} its 95% noise band of +-{half:.4f})"


def shared_sentence(choice: dict, pair: tuple[str, str], base: dict | None = None) -> str:
    """Whether the comparison of `pair` on validation changes between one shared setting (the
    best for all models together, and the run's own where the search tried it) and each model at
    its own best, each difference with its own seed noise."""
    a, b = pair
    scores, shared = choice["scores"], setting_name(choice["shared"])
    own = {m: setting_name(choice["chosen"][m]) for m in pair}
    n = choice["seeds_per_setting"]
    noise_text = (f"Each setting ran {n} seeds; each difference has its own standard error, from "
                  "its two settings' seed variances, and is said to be within or beyond its 95% "
                  "band (Welch)." if n >= 2 and choice.get("variances") else
                  "Each setting ran one seed, so these differences carry no estimate of their "
                  "noise.")
    base_name = setting_name(base) if base else None
    base_text = ""
    if (base_name and base_name in scores[a] and base_name != shared
            and None not in (scores[a][base_name], scores[b][base_name])):
        d = scores[a][base_name] - scores[b][base_name]
        base_text = (f" At the run's own setting without a search ({base_name}), {a} minus {b} "
                     f"is {_difference(d, noise_of(choice, a, base_name, b, base_name))}.")
    if own[a] == own[b] == shared:
        return (f"{a} and {b} both do best at {shared}, the shared setting: tuning each on its "
                f"own changes nothing in this comparison.{base_text} {noise_text}")
    if None in (scores[a][shared], scores[b][shared], scores[a][own[a]], scores[b][own[b]]):
        return (f"Some trials diverged, so the shared and the tuned comparisons cannot be set "
                f"side by side. {noise_text}")
    d_shared = scores[a][shared] - scores[b][shared]
    d_own = scores[a][own[a]] - scores[b][own[b]]
    verdict = ("The sign is the same either way" if np.sign(d_shared) == np.sign(d_own) else
               "The ranking flips: at one shared setting the comparison says more about the "
               "setting than about the models")
    return (f"At the shared setting ({shared}, the best one for all models together), {a} minus "
            f"{b} is {_difference(d_shared, noise_of(choice, a, shared, b, shared))} nats on "
            f"validation; each at its own best ({a} {own[a]}, {b} {own[b]}), "
            f"{_difference(d_own, noise_of(choice, a, own[a], b, own[b]))}. {verdict}."
            f"{base_text} {noise_text} The test-set verdict, over the run's seeds, is in the "
            "results.")


def expected_best_sentence(curve: pd.DataFrame) -> str:
    """What the search bought per model: the expected best validation loss of one trial against
    all of them (Dodge et al. 2019), and how much the last trial still added."""
    if curve.empty:
        return ""
    parts = []
    for model, c in curve.groupby("model", sort=False):
        first, last = c.expected_best.iloc[0], c.expected_best.iloc[-1]
        gain = c.expected_best.iloc[-2] - last if len(c) > 1 else 0.0
        parts.append(f"{model_label(model)} {first:.4f} with 1 trial, {last:.4f} with {len(c)} "
                     f"(the last trial added {gain:.4f})"
                     + (f", {int(c.diverged.iloc[0])} diverged" if c.diverged.iloc[0] else ""))
    return ("Expected best validation loss of k trials drawn from the search (Dodge et al. "
            "2019, figure below): " + "; ".join(parts) + ". The models had the same search "
            "budget; only the settings searched were tried, and the rest of the recipe was set on "
            "LSTM runs.")


def search_finding(choice: dict | None, pair: tuple[str, str], base: dict) -> str:
    """Whether the search changes the main comparison ("" where the run searched nothing)."""
    return "" if choice is None else shared_sentence(choice, pair, base)
