"""Statistics that decide a verdict: intervals over seeds and over blocks of test windows."""

from __future__ import annotations

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
