"""Ratios of timings with intervals that respect where the noise lives: between processes.

Rounds inside one process are not independent samples of a implementation's speed: memory placement, thread
placement and neighbours on the host change from process to process, and stay put within one (Kalibera &
Jones 2013). So every case (implementation x workload x phase x batch size) is summarised by one number per
worker process, the geometric mean of the medians of that process's measurement windows (bench/windows.py;
a median is robust to a stalled round, and several windows average the host's bursts), and compared in log
space:

- point estimate: the ratio of geometric means of the per-process medians, B over A;
- spread: the between-process variance of log per-process medians. With 2-3 processes a side one case
  cannot estimate it, so it is pooled over every case of the comparison (both sides) and combined with the
  case's own estimate as an empirical-Bayes "moderated" variance (Smyth 2004, limma) with a fixed prior
  weight of ``PRIOR_DF`` degrees of freedom: a case that is noisier than the rest keeps most of its own
  spread, a quiet one borrows strength from the pool;
- yardstick: where every process also timed the fixed reference workload (bench/yardstick.py), its log time
  is a covariate. One slope, fitted within cases over every case of the comparison (ANCOVA), removes the part
  of the spread the machine's drift explains; it is used only where it cuts the pooled variance by at least
  ``YARDSTICK_GAIN``, and its own uncertainty is added to the interval;
- pairing: two cases of one run measured in the same worker processes (implementations sharing a worker,
  bench/workers.py) are compared through their per-worker differences, so what a worker shares (its
  placement, its neighbours, the host's drift while it ran) cancels. Their spread is the residual of an
  additive case + worker model, pooled over the cases that shared those workers (:class:`PairedPool`), and
  moderated per pair as above;
- interval: Student t on that variance, at confidence 1 - alpha;
- verdict, as asv: ``slower``/``faster`` only when the interval excludes 1 and the estimate is beyond the
  threshold; ``same`` when the whole interval lies within the threshold (or excludes 1 inside it); else
  ``cannot resolve``, with the processes per side that the measured spread says would resolve the threshold.

The rule is checked by simulation in tests/test_stats.py (false alarms and power).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import t as student_t

PRIOR_DF = 10.0  # weight of the pooled spread, in degrees of freedom (limma's d0, fixed)
MAX_PROCESSES_HINT = 1000
MIN_MEMBER_DF = 3.0  # a member's own paired spread is used from this many degrees of freedom on
YARDSTICK_GAIN = 0.8  # the yardstick is used when it leaves at most this share of the pooled variance


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
    threshold: float = 0.05
    raw_ratio: float | None = None  # the unadjusted ratio, where the yardstick adjusted this one
    b_limit: float = float("nan")  # log half-width with endless processes on side B (A's processes stay)
    paired: bool = False  # compared through per-worker differences (the two shared worker processes)

    @property
    def b_can_resolve(self) -> bool:
        """Whether more processes on side B alone could still resolve this case (A is a saved run)."""
        d, limit = math.log(self.ratio), math.log1p(self.threshold)
        return not math.isfinite(self.b_limit) or abs(d) > self.b_limit or abs(d) + self.b_limit < limit


@dataclass(frozen=True)
class Case:
    """One side of a comparison: log per-process medians and, where measured, the log yardstick of each and the
    worker process each came from (cases of one run that shared workers are paired)."""

    logs: np.ndarray
    yard: np.ndarray | None = None
    workers: tuple[str, ...] | None = None
    #: which implementation at which batch size this is: paired comparisons borrow the spread of their own two
    #: members where enough is known of them (:class:`PairedPool`)
    member: Hashable | None = None

    def shared_workers(self, other: Case) -> list[tuple[int, int]]:
        """Index pairs (here, there) of the worker processes this case shared with ``other``."""
        if not self.workers or not other.workers or len(self.workers) != len(self.logs) \
                or len(other.workers) != len(other.logs):
            return []
        there = {w: j for j, w in enumerate(other.workers)}
        return [(i, there[w]) for i, w in enumerate(self.workers) if w in there]

    @property
    def has_yardstick(self) -> bool:
        return self.yard is not None and len(self.yard) == len(self.logs) and bool(np.all(np.isfinite(self.yard)))


@dataclass(frozen=True)
class Covariate:
    """The yardstick as a covariate: one within-case slope for every case of a comparison."""

    slope: float
    centre: float  # mean log yardstick over the comparison: adjusted times are "at the typical machine speed"
    sxx: float  # within-case sum of squares of the log yardstick (the slope's precision)
    raw: Pool
    adjusted: Pool
    used: bool
    reason: str

    @classmethod
    def fit(cls, cases: Sequence[Case], allowed: bool = True, why_not: str = "") -> Covariate:
        raw = Pool.of([c.logs for c in cases])
        usable = [c for c in cases if c.has_yardstick]
        if not allowed or not cases or len(usable) < len(cases):
            reason = why_not or ("no yardstick in these runs" if len(usable) < len(cases) else "no cases")
            return cls(0.0, 0.0, 0.0, raw, raw, False, reason)
        centre = float(np.mean(np.concatenate([c.yard for c in usable])))
        sxy = sxx = syy = 0.0
        for c in usable:
            if len(c.logs) < 2:
                continue
            x, y = c.yard - c.yard.mean(), c.logs - c.logs.mean()
            sxx, sxy, syy = sxx + float(x @ x), sxy + float(x @ y), syy + float(y @ y)
        if raw.df < 3 or sxx <= 0:
            return cls(0.0, centre, sxx, raw, raw, False, "too few processes to fit the yardstick")
        slope = sxy / sxx
        adjusted = Pool(max(syy - slope * sxy, 0.0) / (raw.df - 1), raw.df - 1)
        used = adjusted.variance <= YARDSTICK_GAIN * raw.variance
        reason = (f"yardstick-adjusted: spread {math.sqrt(raw.variance):.3f} -> {math.sqrt(adjusted.variance):.3f}, "
                  f"slope {slope:.2f}" if used else
                  f"raw: the yardstick leaves {adjusted.variance / raw.variance:.0%} of the variance "
                  f"(spread {math.sqrt(raw.variance):.3f}), not enough to use it")
        return cls(slope, centre, sxx, raw, adjusted, used, reason)

    @property
    def pool(self) -> Pool:
        return self.adjusted if self.used else self.raw

    def adjust(self, case: Case) -> np.ndarray:
        """The case's log times moved to the comparison's typical yardstick (unchanged when not used)."""
        if not self.used:
            return case.logs
        return case.logs - self.slope * (case.yard - self.centre)

    def slope_weight(self, a: Case, b: Case) -> float:
        """Extra variance, in units of the residual variance, that the slope's uncertainty adds to B - A."""
        if not self.used:
            return 0.0
        return float((b.yard.mean() - a.yard.mean()) ** 2 / self.sxx)


@dataclass(frozen=True)
class PairedPool:
    """The variance of a paired per-worker difference (B - A in one worker): twice the residual variance of the
    additive model log time = case + worker, fitted on each set of cases that shared the same workers (their
    differences' variance is twice that residual when the cases are alike). Kept per set of workers, since a
    noisy pair of workers makes every difference inside it noisy and no other, and pooled over the run for
    cases that shared only some of their workers.

    Cases are not alike: measured in one default run, a framework's or a naive variant's residual was three to
    four times a tuned NumPy variant's (docs/noise.md), so a set's pool made every pair inside it as wide as its
    noisiest member. Each member (implementation at one batch size, over its phases) therefore keeps its own
    residual variance too, and a pair of members known on at least :data:`MIN_MEMBER_DF` degrees of freedom each
    borrows the sum of its own two (Welch-Satterthwaite degrees of freedom) instead of the set's."""

    difference: Pool  # over every set of workers of the run
    by_workers: dict[tuple[str, ...], Pool] = field(default_factory=dict)
    by_member: dict[Hashable, Pool] = field(default_factory=dict)

    @classmethod
    def of(cls, cases: Sequence[Case], adjust: Callable[[Case], np.ndarray] = lambda c: c.logs) -> PairedPool:
        groups: dict[tuple[str, ...], list[tuple[Case, np.ndarray]]] = {}
        for case in cases:
            if case.workers and len(case.workers) == len(case.logs) and len(set(case.workers)) == len(case.workers):
                order = np.argsort(case.workers)
                groups.setdefault(tuple(sorted(case.workers)), []).append((case, adjust(case)[order]))
        by_workers, squares, df = {}, 0.0, 0.0
        member_squares: dict[Hashable, list[float]] = {}
        for workers, members in groups.items():
            table = np.array([logs for _, logs in members])  # cases x workers
            if table.shape[0] < 2 or table.shape[1] < 2:
                continue
            residual = table - table.mean(axis=1, keepdims=True) - table.mean(axis=0, keepdims=True) + table.mean()
            group_squares, group_df = float(np.sum(residual ** 2)), (table.shape[0] - 1) * (table.shape[1] - 1)
            by_workers[workers] = Pool(2 * group_squares / group_df, group_df)
            squares, df = squares + group_squares, df + group_df
            for (case, _), row in zip(members, residual, strict=True):  # each case's share of the set's df
                if case.member is not None:
                    total = member_squares.setdefault(case.member, [0.0, 0.0])
                    total[0] += float(np.sum(row ** 2))
                    total[1] += group_df / table.shape[0]
        by_member = {m: Pool(2 * sq / d, d) for m, (sq, d) in member_squares.items() if d > 0}
        return cls(Pool(2 * squares / df if df else float("nan"), df), by_workers, by_member)

    def for_workers(self, workers: Sequence[str]) -> Pool:
        """The pool of exactly these workers where some cases shared all of them, else the run's."""
        return self.by_workers.get(tuple(sorted(workers)), self.difference)

    def for_pair(self, workers: Sequence[str], a: Hashable | None, b: Hashable | None) -> Pool:
        """The pool a comparison of members ``a`` and ``b`` in these workers borrows: their own two spreads where
        both are known well enough, else their workers' (:meth:`for_workers`)."""
        own = [self.by_member.get(m) for m in (a, b)]
        if any(p is None or p.df < MIN_MEMBER_DF for p in own):
            return self.for_workers(workers)
        (va, da), (vb, db) = ((p.variance, p.df) for p in own)
        variance = (va + vb) / 2
        return Pool(variance, variance ** 2 / ((va / 2) ** 2 / da + (vb / 2) ** 2 / db))


def compare_paired(a: np.ndarray, b: np.ndarray, pool: Pool, alpha: float = 0.01, threshold: float = 0.05) -> Verdict:
    """B against A from the same workers (``a[i]`` and ``b[i]`` measured in one process): a paired t interval on
    the mean difference, its variance moderated toward ``pool``, the pooled variance of such differences."""
    differences = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(differences)
    variance, df = moderated_variance([differences], pool)
    if not df or not math.isfinite(variance):
        return Verdict(math.exp(float(differences.mean())), float("nan"), float("nan"), "cannot resolve", n, n,
                       float("nan"), None, "one shared process and no pooled spread: the noise is unknown")
    # a per-process spread that gives this difference variance unpaired: what processes_needed expects
    result = _verdict(float(differences.mean()), math.sqrt(variance / n), df, n, n, math.sqrt(variance / 2), alpha,
                      threshold)
    return Verdict(**{**result.__dict__, "paired": True})


def compare_cases(a: Case, b: Case, covariate: Covariate, alpha: float = 0.01, threshold: float = 0.05,
                  between_runs: float = 0.0, paired: PairedPool | None = None) -> Verdict:
    """Compare two cases through the comparison's covariate (the yardstick where it is used); two saved runs
    add the variance component ``between_runs`` (:func:`between_run_variance`). Two cases of one run that
    shared at least two worker processes are compared paired, through ``paired``."""
    shared = a.shared_workers(b) if paired is not None and not between_runs else []
    if len(shared) >= 2:
        here, there = zip(*shared, strict=True)
        pool = paired.for_pair([a.workers[i] for i in here], a.member, b.member)
        result = compare_paired(covariate.adjust(a)[list(here)], covariate.adjust(b)[list(there)], pool, alpha,
                                threshold)
        raw = math.exp(float(np.mean(b.logs[list(there)] - a.logs[list(here)])))
        return Verdict(**{**result.__dict__, "raw_ratio": raw if covariate.used else None})
    result = compare(covariate.adjust(a), covariate.adjust(b), covariate.pool, alpha, threshold,
                     covariate.slope_weight(a, b), between_runs)
    if not covariate.used:
        return result
    raw = math.exp(float(b.logs.mean() - a.logs.mean()))
    return Verdict(**{**result.__dict__, "raw_ratio": raw})


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


def level_interval(logs: np.ndarray, pool: Pool, alpha: float = 0.01) -> tuple[float, float]:
    """The 1 - alpha interval of one case's time (the geometric mean of its per-process medians) as factors
    (low, high) around it: its own between-process spread shrunk toward the run's pool, as :func:`compare`
    uses it. Raw times, no yardstick: what a ratio to a fixed reference (a floor) needs. NaN with no spread."""
    variance, df = moderated_variance([logs], pool)
    if not df or not math.isfinite(variance) or not len(logs):
        return float("nan"), float("nan")
    half = float(student_t.ppf(1 - alpha / 2, df)) * math.sqrt(variance / len(logs))
    return math.exp(-half), math.exp(half)


def compare(a: np.ndarray, b: np.ndarray, pool: Pool, alpha: float = 0.01, threshold: float = 0.05,
            extra_weight: float = 0.0, extra_variance: float = 0.0) -> Verdict:
    """Compare log per-process medians ``b`` against ``a`` with the pooled spread ``pool``; ``extra_weight``
    adds that multiple of the variance to the difference's (the yardstick slope's uncertainty), and
    ``extra_variance`` a fixed variance (the between-run component)."""
    n_a, n_b = len(a), len(b)
    d = float(b.mean() - a.mean())
    ratio = math.exp(d)
    variance, df = moderated_variance([a, b], pool)
    if not df or not math.isfinite(variance):
        return Verdict(ratio, float("nan"), float("nan"), "cannot resolve", n_a, n_b, float("nan"), None,
                       "one process a side and no pooled spread: the between-process noise is unknown")
    spread = math.sqrt(variance)
    error = math.sqrt(variance * (1 / n_a + 1 / n_b + extra_weight) + extra_variance)
    result = _verdict(d, error, df, n_a, n_b, spread, alpha, threshold, extra_variance,
                      note="one process per side" if n_a == 1 and n_b == 1 else "")
    b_limit = float(student_t.ppf(1 - alpha / 2, df)) * math.sqrt(variance * (1 / n_a + extra_weight) + extra_variance)
    return Verdict(**{**result.__dict__, "b_limit": b_limit})


def _verdict(d: float, error: float, df: float, n_a: int, n_b: int, spread: float, alpha: float, threshold: float,
             extra_variance: float = 0.0, note: str = "") -> Verdict:
    """The verdict on a log difference ``d`` with standard error ``error`` on ``df`` degrees of freedom."""
    ratio = math.exp(d)
    t = float(student_t.ppf(1 - alpha / 2, df))
    half = t * error
    low, high = math.exp(d - half), math.exp(d + half)
    limit = math.log1p(threshold)
    # "same" is an equivalence test: two one-sided tests at alpha each (Schuirmann's TOST), i.e. the
    # 1 - 2 alpha interval within the threshold; "slower"/"faster" need the 1 - alpha interval to exclude 1
    equivalence_half = float(student_t.ppf(1 - alpha, df)) * error
    if (low > 1 or high < 1) and abs(d) > limit:
        verdict = "slower" if d > 0 else "faster"
    elif -limit < d - equivalence_half and d + equivalence_half < limit or (low > 1 or high < 1):
        verdict = "same"
    else:
        verdict = "cannot resolve"
    needed = processes_needed(spread, t, threshold, extra_variance) if verdict == "cannot resolve" else None
    if needed is not None and t * math.sqrt(extra_variance) >= limit:
        needed, note = None, "the between-run component alone is wider than the threshold"
    return Verdict(ratio, low, high, verdict, n_a, n_b, spread, needed, note, threshold)


#: Fewest cases from which :func:`between_run_variance` estimates the between-run component.
MIN_CASES_BETWEEN_RUNS = 6
#: The most the between-run component (sd of log times, after the yardstick) is taken to be. Its estimate from
#: one comparison cannot tell a run-to-run scatter from real changes of many cases (a change of 6 of 16 cases
#: by 4-21 % read as 0.043), so it is capped by what A/A pairs showed: 0.000-0.026 on the Intel Xeon VM
#: (docs/noise.md), with a margin.
BETWEEN_RUN_CAP = 0.03


def between_run_variance(differences: Sequence[float], within: Sequence[float]) -> float:
    """The variance two saved runs add to every case beyond their within-run spread, from the comparison
    itself: how much the cases' differences (B - A, after the yardstick) scatter around their median, beyond
    what their within-run variances predict. The scatter is measured robustly (MAD, with cases beyond 3 sd of
    the rest clipped and the estimate repeated) and around the median, so real changes of a part of the cases
    do not inflate it and a change of every case is still seen; at most ``BETWEEN_RUN_CAP``. Zero with fewer than
    ``MIN_CASES_BETWEEN_RUNS`` cases (then the caller says so)."""
    d, w = np.asarray(differences, dtype=float), np.asarray(within, dtype=float)
    if len(d) < MIN_CASES_BETWEEN_RUNS:
        return 0.0
    keep = np.ones(len(d), dtype=bool)
    for _ in range(3):  # clip cases that changed for real (beyond 3 sd of the rest), then estimate again
        centre = float(np.median(d[keep]))
        scale = 1.4826 * float(np.median(np.abs(d[keep] - centre)))
        clipped = np.abs(d - centre) <= 3 * max(scale, float(np.sqrt(np.median(w))))
        if clipped.sum() < MIN_CASES_BETWEEN_RUNS or np.array_equal(clipped, keep):
            break
        keep = clipped
    return min(max(0.0, scale ** 2 - float(np.median(w[keep]))), BETWEEN_RUN_CAP ** 2)


def processes_needed(spread: float, t: float, threshold: float, extra_variance: float = 0.0) -> int:
    """Processes per side for an interval half-width below log(1 + threshold) at this spread (at most
    ``MAX_PROCESSES_HINT``: also when a between-run component alone is wider than the threshold)."""
    limit = math.log1p(threshold)
    room = limit ** 2 - t ** 2 * extra_variance
    if room <= 0:
        return MAX_PROCESSES_HINT
    if spread == 0:
        return 2
    return int(min(MAX_PROCESSES_HINT, max(2, math.ceil(2 * t ** 2 * spread ** 2 / room))))


def compare_runs(pairs: Sequence[tuple[Case, Case]], covariate: Covariate, alpha: float = 0.01,
                 threshold: float = 0.05) -> tuple[list[Verdict], float]:
    """Every case of two saved runs, B against A, with the between-run component estimated from all of them;
    returns the verdicts and that component (a variance of log times)."""
    differences, within = [], []
    for a, b in pairs:
        adjusted_a, adjusted_b = covariate.adjust(a), covariate.adjust(b)
        variance, _ = moderated_variance([adjusted_a, adjusted_b], covariate.pool)
        differences.append(float(adjusted_b.mean() - adjusted_a.mean()))
        within.append(variance * (1 / len(a.logs) + 1 / len(b.logs) + covariate.slope_weight(a, b))
                      if math.isfinite(variance) else 0.0)
    between = between_run_variance(differences, within) + unadjusted_shift(pairs, covariate)
    return [compare_cases(a, b, covariate, alpha, threshold, between) for a, b in pairs], between


def unadjusted_shift(pairs: Sequence[tuple[Case, Case]], covariate: Covariate) -> float:
    """Where the yardstick was timed on both sides but not used, the machine shift it saw between the runs
    (squared): a bound on what the unadjusted differences may carry from the machine alone, as long as no
    case follows the machine more than one for one. Zero where it was used or not timed."""
    if covariate.used or not pairs or not all(a.has_yardstick and b.has_yardstick for a, b in pairs):
        return 0.0
    shift = float(np.median([b.yard.mean() - a.yard.mean() for a, b in pairs]))
    return shift ** 2
