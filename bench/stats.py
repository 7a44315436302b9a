"""Ratios of timings with intervals that respect where the noise lives: between processes.

Rounds inside one process are not independent samples of a implementation's speed: memory placement, thread
placement and neighbours on the host change from process to process, and stay put within one (Kalibera &
Jones 2013). So every case (implementation x workload x phase x batch size) is summarised by one number per
worker process, the median of that process's rounds (robust to a stalled round), and compared in log space:

- point estimate: the ratio of geometric means of the per-process medians, B over A;
- spread: the between-process variance of log per-process medians. With 2-3 processes a side one case
  cannot estimate it, so it is pooled over every case of the comparison (both sides) and combined with the
  case's own estimate as an empirical-Bayes "moderated" variance (Smyth 2004, limma) with a fixed prior
  weight of ``PRIOR_DF`` degrees of freedom: a case that is noisier than the rest keeps most of its own
  spread, a quiet one borrows strength from the pool;
- interval: Student t on that variance, at confidence 1 - alpha;
- verdict, as asv: ``slower``/``faster`` only when the interval excludes 1 and the estimate is beyond the
  threshold; ``same`` when the whole interval lies within the threshold (or excludes 1 inside it); else
  ``cannot resolve``, with the processes per side that the measured spread says would resolve the threshold.

The rule is checked by simulation in tests/test_stats.py (false alarms and power).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

PRIOR_DF = 10.0  # weight of the pooled spread, in degrees of freedom (limma's d0, fixed)
MAX_PROCESSES_HINT = 1000


@dataclass(frozen=True)
class Pool:
    """The between-process variance of log per-process medians, pooled over cases, and its degrees of freedom."""

    variance: float
    df: float

    @classmethod
    def of(cls, groups: Sequence[np.ndarray]) -> Pool:
        """Pool the per-case sample variances (each case-side with at least two processes counts)."""
        squares = sum(float(np.sum((g - g.mean()) ** 2)) for g in groups if len(g) >= 2)
        df = float(sum(len(g) - 1 for g in groups if len(g) >= 2))
        return cls(squares / df if df else float("nan"), df)


@dataclass(frozen=True)
class Verdict:
    """One case compared: B over A."""

    ratio: float  # geometric mean of B's per-process medians over A's
    low: float  # interval on the ratio at confidence 1 - alpha
    high: float
    verdict: str  # slower | faster | same | cannot resolve
    n_a: int  # processes
    n_b: int
    spread: float  # the moderated between-process standard deviation of log times used
    processes_needed: int | None  # per side, to resolve the threshold at that spread (cannot resolve only)
    note: str = ""


def log_medians(per_process_samples: Sequence[Sequence[float]]) -> np.ndarray:
    """log of each process's median round (a stalled round moves a median little)."""
    return np.log(np.array([float(np.median(s)) for s in per_process_samples if len(s)], dtype=float))


def moderated_variance(case_groups: Sequence[np.ndarray], pool: Pool) -> tuple[float, float]:
    """(variance, df) for one comparison: its own within-side variance shrunk toward the pool."""
    own = Pool.of(case_groups)
    prior_df = min(PRIOR_DF, pool.df) if pool.df and math.isfinite(pool.variance) else 0.0
    df = prior_df + own.df
    if df == 0:
        return float("nan"), 0.0
    own_squares = own.variance * own.df if own.df else 0.0
    return ((prior_df * pool.variance if prior_df else 0.0) + own_squares) / df, df


def compare(a: np.ndarray, b: np.ndarray, pool: Pool, alpha: float = 0.01, threshold: float = 0.05) -> Verdict:
    """Compare log per-process medians ``b`` against ``a`` with the pooled spread ``pool``."""
    n_a, n_b = len(a), len(b)
    d = float(b.mean() - a.mean())
    ratio = math.exp(d)
    variance, df = moderated_variance([a, b], pool)
    if not df or not math.isfinite(variance):
        return Verdict(ratio, float("nan"), float("nan"), "cannot resolve", n_a, n_b, float("nan"), None,
                       "one process a side and no pooled spread: the between-process noise is unknown")
    spread = math.sqrt(variance)
    t = float(student_t.ppf(1 - alpha / 2, df))
    half = t * spread * math.sqrt(1 / n_a + 1 / n_b)
    low, high = math.exp(d - half), math.exp(d + half)
    limit = math.log1p(threshold)
    if (low > 1 or high < 1) and abs(d) > limit:
        verdict = "slower" if d > 0 else "faster"
    elif -limit < d - half and d + half < limit or (low > 1 or high < 1):
        verdict = "same"
    else:
        verdict = "cannot resolve"
    needed = processes_needed(spread, t, threshold) if verdict == "cannot resolve" else None
    note = "one process per side" if n_a == 1 and n_b == 1 else ""
    return Verdict(ratio, low, high, verdict, n_a, n_b, spread, needed, note)


def processes_needed(spread: float, t: float, threshold: float) -> int:
    """Processes per side for an interval half-width below log(1 + threshold) at this spread."""
    limit = math.log1p(threshold)
    if spread == 0:
        return 2
    return int(min(MAX_PROCESSES_HINT, max(2, math.ceil(2 * (t * spread / limit) ** 2))))
