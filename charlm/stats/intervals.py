"""Statistics that decide a verdict: intervals over seeds and over blocks of test windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

LEVEL = 0.95
ALPHA = 1 - LEVEL  # a verdict needs a Holm-adjusted p-value below this
MIN_SEEDS = 3  # a verdict from seeds needs this many: 2 give a t-interval of 1 degree of freedom
# Training times: models train one after another, so the machine's drift (about +/-15% on the
# development machines, run-to-run spread 7-14% of the mean; benchmarks/results/README.md) lands
# on one model and seeds do not cover it. A time verdict needs the times this far apart.
TIME_FLOOR = 0.25
# "matches the reference" is claimed only by an equivalence test (TOST) at this margin, in nats,
# stated before any run: a run is "consistent with" the reference when no difference is found,
# which is not the same claim.
EQUIVALENCE_MARGIN = 0.02


@dataclass
class Interval:
    """An estimate of a difference (A minus B) with its confidence interval and how it was made."""

    estimate: float
    low: float
    high: float
    method: str
    n: int
    p_value: float | None = None


def mean_ci(values, level: float = LEVEL) -> dict:
    """Mean, standard deviation and t-interval of the mean over seeds (NaN interval for n < 2)."""
    v = np.asarray(values, dtype=float)
    n = v.size
    mean = float(v.mean())
    if n < 2:
        return {
            "mean": mean,
            "std": float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "n": n,
        }
    std = float(v.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1) * std / np.sqrt(n))
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def paired_t(a, b, level: float = LEVEL) -> Interval:
    """Paired difference a - b over matched seeds: t-interval and paired t-test p-value."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ci = mean_ci(d, level)
    p = float(sps.ttest_rel(a, b).pvalue) if d.size > 1 and np.ptp(d) > 0 else None
    return Interval(ci["mean"], ci["ci_low"], ci["ci_high"], "paired t over seeds", d.size, p)


def sign_flip_p(d) -> float | None:
    """Exact two-sided sign-flip (permutation) p-value of mean(d) = 0 for paired differences d.

    Under the null each difference is as likely positive as negative: p is the share of the 2^n
    sign assignments whose |mean| is at least the observed one. It assumes no distribution,
    but its smallest possible value is 2 / 2^n: 0.25 with 3 seeds, 0.0625 with 5, 0.031 with 6.
    None for fewer than 2 differences or none that vary."""
    d = np.asarray(d, dtype=float)
    if d.size < 2 or np.ptp(d) == 0 and d[0] == 0:
        return None
    if d.size > 20:  # 2^20 assignments at most; beyond, a fixed-seed Monte Carlo
        signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(200_000, d.size))
    else:
        signs = 1 - 2 * ((np.arange(2 ** d.size)[:, None] >> np.arange(d.size)) & 1)
    means = np.abs(signs @ d) / d.size
    return float(np.mean(means >= abs(d.mean()) * (1 - 1e-12)))


def against_reference(values, test_se, ref: float, level: float = LEVEL,
                      margin: float = EQUIVALENCE_MARGIN) -> dict:
    """Whether the reference's one number fits this run's seeds: a prediction interval for one
    new run, and an equivalence test (TOST) at `margin`.

    values: the run's test losses, one per seed, on this run's test windows; test_se: each
    value's test-set standard error. The reference is one run on other test windows, so the
    interval is for one new run, mean +- t * sqrt(s^2 (1 + 1/n) + 2 test_se^2): seed noise of
    a new run and of this mean, plus test-set noise on both sides. With one seed the seed term
    is unknown and left out (the interval then covers test-set noise only).
    verdict: "matches" (TOST p < 1 - level: within +-margin; it needs 2 seeds or more, for the
    seed noise), "consistent" (the reference inside the interval: no difference found), "below"
    or "above" (the reference outside)."""
    v = np.asarray(values, dtype=float)
    n, mean = v.size, float(v.mean())
    seed_var = float(v.var(ddof=1)) * (1 + 1 / n) if n >= 2 else 0.0
    se = math.sqrt(seed_var + 2 * float(test_se) ** 2)
    df = n - 1 if n >= 2 else math.inf  # one run: test-set noise only, a normal interval
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se
    d = mean - ref
    tost = (max(sps.t.sf((d + margin) / se, df), sps.t.cdf((d - margin) / se, df))
            if se > 0 else float(abs(d) >= margin))
    low, high = mean - half, mean + half
    verdict = ("matches" if tost < 1 - level and n >= 2 else "consistent" if low <= ref <= high
               else "below" if ref < low else "above")
    return {"mean": mean, "low": low, "high": high, "n": n, "tost_p": float(tost),
            "margin": margin, "verdict": verdict,
            "covers": ("seed noise of one new run and test-set noise (the reference ran once, on "
                       "other test windows)") if n >= 2 else
                      "test-set noise only: seed-to-seed variation is not covered (one seed)"}


def welch_interval(a, b, level: float = LEVEL) -> Interval | None:
    """mean(b) - mean(a) for two independent samples: Welch's t-interval and p-value.

    None with fewer than 2 values on a side, or no spread at all (no interval to give).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if min(a.size, b.size) < 2:
        return None
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        return None
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))  # Welch-Satterthwaite
    half = float(sps.t.ppf(0.5 + level / 2, df) * np.sqrt(va + vb))
    estimate = float(b.mean() - a.mean())
    p = float(sps.ttest_ind(b, a, equal_var=False).pvalue)
    return Interval(estimate, estimate - half, estimate + half, "Welch t over seeds",
                    a.size + b.size, p)


def difference_noise(var_a: float, n_a: int, var_b: float, n_b: int,
                     level: float = LEVEL) -> tuple[float, float] | None:
    """(standard error, half-width of the `level` band) of a difference of two means of n_a and
    n_b values with sample variances var_a and var_b: Welch's, each side its own variance. None
    where a side has fewer than 2 values or neither varies."""
    if min(n_a, n_b) < 2 or var_a is None or var_b is None:
        return None
    va, vb = var_a / n_a, var_b / n_b
    if va + vb <= 0:
        return None
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    se = math.sqrt(va + vb)
    return se, float(sps.t.ppf(0.5 + level / 2, df)) * se


def iid_interval(values, test_share: float | None = None, level: float = LEVEL) -> Interval:
    """Mean of per-window values, with its interval for *another random split of this corpus*.

    A random split's test windows are a simple random sample of the corpus's windows, so the
    standard error is the iid one with the finite-population correction sqrt(1 - f), f the share
    of all windows the test set holds (test_share; None: no correction, a little wider)."""
    d = np.asarray(values, dtype=float)
    n = d.size
    fpc = math.sqrt(max(0.0, 1 - test_share)) if test_share else 1.0
    se = float(d.std(ddof=1)) / math.sqrt(n) * fpc if n > 1 else float("nan")
    half = float(sps.norm.ppf(0.5 + level / 2)) * se
    how = (f"iid windows, finite-population corrected (test share {test_share:.0%})"
           if test_share else "iid windows")
    return Interval(float(d.mean()), float(d.mean()) - half, float(d.mean()) + half, how, n)


def block_bootstrap(
    diff, block: int = 1000, n_boot: int = 2000, seed: int = 0, level: float = LEVEL
) -> Interval:
    """Interval of mean(diff) by resampling contiguous blocks of windows.

    diff: per-window values in text order. Neighbouring windows overlap (they share 19 of 20
    characters), so resampling single windows would understate the spread; whole blocks keep
    that dependence inside each resampled unit.
    """
    d = np.asarray(diff, dtype=float)
    block = min(block, max(1, d.size // 10))  # at least 10 blocks on a small test set
    n_blocks = d.size // block
    sums = np.add.reduceat(d[: n_blocks * block], np.arange(0, n_blocks * block, block))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_blocks, size=(n_boot, n_blocks))
    means = sums[picks].sum(axis=1) / (n_blocks * block)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(
        float(d.mean()),
        float(lo),
        float(hi),
        f"block bootstrap over test windows ({n_blocks} blocks of {block})",
        d.size,
    )


MIN_CLUSTERS = 8  # fewer clusters than this and a cluster bootstrap's percentiles mean little


def cluster_bootstrap(values, clusters, n_boot: int = 2000, seed: int = 0,
                      level: float = LEVEL) -> Interval | None:
    """Interval of mean(values) by resampling whole clusters (the scenes of a text: the
    population is new text, scene by scene), the mean over the resampled windows; None with
    fewer than MIN_CLUSTERS clusters."""
    v, c = np.asarray(values, dtype=float), np.asarray(clusters)
    ids, inverse = np.unique(c, return_inverse=True)
    if ids.size < MIN_CLUSTERS:
        return None
    sums, sizes = np.bincount(inverse, weights=v), np.bincount(inverse)
    picks = np.random.default_rng(seed).integers(0, ids.size, size=(n_boot, ids.size))
    means = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(float(v.mean()), float(lo), float(hi),
                    f"bootstrap over the {ids.size} scenes of the test text", v.size)


def block_bootstrap_unpaired(a, b, block: int = 1000, n_boot: int = 2000, seed: int = 0,
                             level: float = LEVEL) -> Interval:
    """Interval of mean(a) - mean(b) for two different sets of windows (e.g. two splits)."""
    ia = block_bootstrap(a, block, n_boot, seed, level)
    ib = block_bootstrap(b, block, n_boot, seed + 1, level)
    est = ia.estimate - ib.estimate
    # independent samples: half-widths add in quadrature
    half = np.hypot((ia.high - ia.low) / 2, (ib.high - ib.low) / 2)
    return Interval(est, est - half, est + half,
                    "block bootstrap of each test set (independent)", len(a) + len(b))


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (Holm 1979) of a family of tests; NaN entries stay NaN.

    Controls the chance of any false "winner" in the family at ALPHA: the i-th smallest of m
    p-values is multiplied by m - i + 1, then made non-decreasing, capped at 1.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out
