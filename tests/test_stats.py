"""The verdict rule of bench.stats, calibrated by simulation with a fixed seed.

Per-process medians are drawn log-normal around the case's true time with a between-process spread (standard
deviation of log times) of 0.05 or 0.25; inside a process, rounds scatter by 0.02 and 1 % of them stall at
3-10x. A/A comparisons must give at most 2 % false slower/faster verdicts; with 3 processes a side, spread
0.05 and 20 cases pooled, a true 25 % slowdown must be called slower at least 90 % of the time."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bench.stats import Pool, compare, level_interval, log_medians, processes_needed

CASES = 20  # cases pooled in one comparison
COMPARISONS = 100  # x 20 cases = 2,000 case comparisons per setting
ROUNDS = 5


def simulated_side(rng: np.random.Generator, true_log: np.ndarray, processes: int, spread: float) -> list:
    """Per case: the log per-process medians of ``processes`` workers with ``ROUNDS`` rounds each."""
    sides = []
    for mu in true_log:
        per_process = []
        for _ in range(processes):
            centre = mu + rng.normal(0, spread)
            rounds = np.exp(centre + rng.normal(0, 0.02, ROUNDS))
            stalled = rng.random(ROUNDS) < 0.01
            rounds[stalled] *= rng.uniform(3, 10, stalled.sum())
            per_process.append(rounds)
        sides.append(log_medians(per_process))
    return sides


def verdicts(seed: int, spread: float, processes: int, change: float) -> Counter:
    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    for _ in range(COMPARISONS):
        true_log = rng.uniform(-8, 2, CASES)  # cases from microseconds to seconds
        a = simulated_side(rng, true_log, processes, spread)
        b = simulated_side(rng, true_log + np.log(change), processes, spread)
        pool = Pool.of(a + b)
        counts.update(compare(x, y, pool).verdict for x, y in zip(a, b, strict=True))
    return counts


@pytest.mark.parametrize("processes", [2, 3])
@pytest.mark.parametrize("spread", [0.05, 0.25])
def test_a_a_false_alarms_stay_below_two_percent(spread, processes):
    counts = verdicts(seed=1, spread=spread, processes=processes, change=1.0)
    false = counts["slower"] + counts["faster"]
    assert sum(counts.values()) == CASES * COMPARISONS
    assert false / (CASES * COMPARISONS) <= 0.02, counts


def test_a_true_25_percent_slowdown_is_found():
    counts = verdicts(seed=2, spread=0.05, processes=3, change=1.25)
    assert counts["slower"] / (CASES * COMPARISONS) >= 0.90, counts
    assert counts["faster"] == 0


def test_a_real_change_in_a_very_noisy_case_is_not_claimed_but_unresolved():
    # one case with spread 0.25 among quiet ones: its own variance dominates, so no false certainty
    rng = np.random.default_rng(3)
    quiet = [np.log(1.0) + rng.normal(0, 0.01, 3) for _ in range(38)]
    a, b = np.log([1.0, 1.6, 0.8]), np.log([1.3, 0.9, 1.7])
    result = compare(a, b, Pool.of([*quiet, a, b]))
    assert result.verdict == "cannot resolve"
    assert result.processes_needed is not None and result.processes_needed > 3


def test_same_when_the_whole_interval_lies_within_the_threshold():
    a = np.log([1.00, 1.01, 0.99])
    b = np.log([1.00, 1.005, 0.995])
    result = compare(a, b, Pool(variance=0.01 ** 2, df=80))
    assert result.verdict == "same" and result.low > 1 / 1.05 and result.high < 1.05


def test_one_process_a_side_without_a_pool_cannot_resolve_and_says_why():
    result = compare(np.log([1.0]), np.log([2.0]), Pool.of([np.log([1.0]), np.log([2.0])]))
    assert result.verdict == "cannot resolve" and "one process" in result.note
    assert result.ratio == pytest.approx(2.0)


def test_processes_needed_grows_with_the_spread():
    assert processes_needed(0.02, 2.6, 0.05) < processes_needed(0.2, 2.6, 0.05)
    assert processes_needed(0.0, 2.6, 0.05) == 2


# --- a drifting machine, and the yardstick that cancels it (tests/machine_sim.py) ---

def drifting_a_b(seed: int, change: float, processes: int = 2, yardstick: bool = True) -> Counter:
    """Two simulated runs on a drifting machine (a run shift of sd 0.08 between them), every case compared
    as `mlp-bench compare` does: through the yardstick, with the between-run component."""
    from machine_sim import BETA_RANGE, Machine, simulated_run

    from bench.stats import Covariate, compare_runs

    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    for _ in range(COMPARISONS):
        true_log, beta = rng.uniform(-8, 2, CASES), rng.uniform(*BETA_RANGE, CASES)
        a, _ = simulated_run(rng, Machine(), true_log, beta, processes)
        b, _ = simulated_run(rng, Machine(), true_log + np.log(change), beta, processes)
        covariate = Covariate.fit(a + b, allowed=yardstick, why_not="raw")
        verdicts, _ = compare_runs(list(zip(a, b, strict=True)), covariate)
        counts.update(v.verdict for v in verdicts)
    return counts


@pytest.mark.parametrize("yardstick", [True, False])
def test_on_a_drifting_machine_a_a_false_verdicts_stay_below_two_percent(yardstick):
    counts = drifting_a_b(seed=4, change=1.0, yardstick=yardstick)
    assert (counts["slower"] + counts["faster"]) / (CASES * COMPARISONS) <= 0.02, counts


def test_on_a_drifting_machine_a_true_25_percent_change_is_found_through_the_yardstick():
    counts = drifting_a_b(seed=5, change=1.25, processes=3)
    assert counts["slower"] / (CASES * COMPARISONS) >= 0.90, counts
    assert counts["faster"] == 0


def test_the_yardstick_buys_power_on_a_drifting_machine():
    with_it = drifting_a_b(seed=6, change=1.10, processes=3)
    without = drifting_a_b(seed=6, change=1.10, processes=3, yardstick=False)
    assert with_it["slower"] > 2 * without["slower"], (with_it, without)


def test_the_yardstick_is_left_out_where_it_explains_nothing():
    from bench.stats import Case, Covariate

    rng = np.random.default_rng(7)
    cases = [Case(rng.normal(0, 0.05, 3), rng.normal(0, 0.05, 3)) for _ in range(20)]  # unrelated noise
    covariate = Covariate.fit(cases)
    assert not covariate.used and "not enough" in covariate.reason
    assert np.array_equal(covariate.adjust(cases[0]), cases[0].logs)


def test_a_shift_of_the_whole_run_is_in_the_between_run_component_not_in_the_verdicts():
    from bench.stats import BETWEEN_RUN_CAP, between_run_variance

    rng = np.random.default_rng(8)
    scattered = rng.normal(0.10, 0.025, 30)  # every case moved by 10 % with a 2.5 % scatter: a shifted machine
    assert between_run_variance(scattered, [0.0001] * 30) == pytest.approx(0.025 ** 2 - 0.0001, rel=0.5)
    wild = rng.normal(0.0, 0.2, 30)  # many real changes of all sizes: the estimate stops at the cap
    assert between_run_variance(wild, [0.0001] * 30) == pytest.approx(BETWEEN_RUN_CAP ** 2)
    one_real_change = np.r_[rng.normal(0, 0.005, 29), 0.5]  # a real change leaves the estimate near zero
    assert between_run_variance(one_real_change, [0.005 ** 2] * 30) < 0.01 ** 2
    assert between_run_variance([0.1] * 5, [0.0] * 5) == 0.0  # too few cases: not estimated


def test_a_level_interval_covers_the_true_time_as_often_as_it_says():
    rng = np.random.default_rng(7)
    pool = Pool(0.05**2, 40)
    covered = 0
    for _ in range(2000):
        logs = rng.normal(0.0, 0.05, size=3)
        low, high = level_interval(logs, pool, alpha=0.05)
        covered += np.exp(logs.mean()) * low <= 1.0 <= np.exp(logs.mean()) * high
    assert 0.93 <= covered / 2000 <= 0.97
    assert all(np.isnan(level_interval(np.array([0.1]), Pool(float("nan"), 0))))  # one process, no pool


# -- pairing: implementations that share worker processes (bench/workers.py) --------------------------------
def shared_worker_run(rng: np.random.Generator, true_log: np.ndarray, processes: int, worker_sd: float,
                      case_sd: np.ndarray) -> list:
    """Cases measured in the same ``processes`` workers: each worker moves every case by its own effect (its
    placement, the host while it ran), and each case scatters on its own by ``case_sd``."""
    from bench.stats import Case

    worker = np.cumsum(rng.normal(0, 0.02, processes)) + rng.normal(0, worker_sd, processes)
    names = tuple(f"p{p + 1}-shared" for p in range(processes))
    return [Case(mu + worker + rng.normal(0, sd, processes), None, names) for mu, sd in zip(true_log, case_sd,
                                                                                            strict=True)]


def paired_verdicts(seed: int, change: float, processes: int = 3, pair: bool = True) -> Counter:
    """Per simulated run: 12 cases in shared workers, case 0 against each of the others, as the run's own
    tables compare them; the others are case 0 times ``change``."""
    from bench.stats import Case, Covariate, PairedPool, compare_cases

    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    for _ in range(COMPARISONS * 2):
        true_log = np.full(12, rng.uniform(-8, 2)) + np.r_[0.0, np.full(11, np.log(change))]
        cases = shared_worker_run(rng, true_log, processes, worker_sd=0.06, case_sd=rng.uniform(0.01, 0.03, 12))
        if not pair:
            cases = [Case(c.logs) for c in cases]
        covariate = Covariate.fit(cases, allowed=False, why_not="no yardstick")
        paired = PairedPool.of(cases)
        counts.update(compare_cases(cases[0], c, covariate, paired=paired).verdict for c in cases[1:])
    return counts


@pytest.mark.parametrize("processes", [2, 3, 5])
def test_paired_a_a_false_verdicts_stay_below_two_percent(processes):
    counts = paired_verdicts(seed=11, change=1.0, processes=processes)
    assert (counts["slower"] + counts["faster"]) / sum(counts.values()) <= 0.02, counts


def test_pairing_finds_a_ten_percent_change_that_unpaired_processes_cannot():
    paired = paired_verdicts(seed=12, change=1.10, processes=3)
    unpaired = paired_verdicts(seed=12, change=1.10, processes=3, pair=False)
    assert paired["slower"] / sum(paired.values()) >= 0.90, paired
    assert unpaired["slower"] / sum(unpaired.values()) <= 0.5, unpaired


def test_the_paired_pool_is_twice_the_residual_variance_and_ignores_the_workers():
    from bench.stats import Case, PairedPool

    rng = np.random.default_rng(14)
    cases = shared_worker_run(rng, rng.uniform(-8, 2, 40), 4, worker_sd=0.3, case_sd=np.full(40, 0.02))
    pool = PairedPool.of(cases).difference
    assert pool.df == 39 * 3
    assert pool.variance == pytest.approx(2 * 0.02 ** 2, rel=0.25)  # the workers' 0.3 is gone
    alone = [Case(c.logs, None, tuple(f"{w}-{i}" for w in c.workers)) for i, c in enumerate(cases)]
    assert PairedPool.of(alone).difference.df == 0  # a worker of its own each: nothing to pair


def test_a_noisy_pair_of_workers_widens_its_own_comparisons_only():
    """Two batch sizes, each in its own pair of workers: one pair quiet (cases' own noise 0.01), one noisy
    (0.10). Each comparison borrows the spread of its own workers: the quiet ones resolve a 10 % change, the
    noisy ones give no more than 2 % false verdicts."""
    from bench.stats import Case, Covariate, PairedPool, compare_cases

    rng = np.random.default_rng(15)
    quiet_found = noisy_false = noisy_total = 0
    for _ in range(COMPARISONS):
        quiet = shared_worker_run(rng, np.r_[0.0, np.full(11, np.log(1.10))], 3, 0.06, np.full(12, 0.01))
        noisy = shared_worker_run(rng, np.zeros(12), 3, 0.06, np.full(12, 0.10))
        noisy = [Case(c.logs, None, tuple(f"{w}-noisy" for w in c.workers)) for c in noisy]
        cases = quiet + noisy
        covariate = Covariate.fit(cases, allowed=False, why_not="no yardstick")
        paired = PairedPool.of(cases)
        quiet_found += sum(compare_cases(quiet[0], c, covariate, paired=paired).verdict == "slower" for c in quiet[1:])
        verdicts = [compare_cases(noisy[0], c, covariate, paired=paired).verdict for c in noisy[1:]]
        noisy_false += sum(v in ("slower", "faster") for v in verdicts)
        noisy_total += len(verdicts)
    assert quiet_found / (11 * COMPARISONS) >= 0.95
    assert noisy_false / noisy_total <= 0.02


def heterogeneous_run(rng: np.random.Generator, processes: int, change: float) -> list:
    """One batch size of a default run: 8 implementations rotated in 5 step phases (each phase its own workers,
    as rotated cases are tagged), four of them quiet (own scatter 0.01, as tuned NumPy measured) and four noisy
    (0.05, as a framework or the naive variant measured); implementations 1 and 5 are the others times ``change``."""
    from bench.stats import Case

    noise = np.r_[np.full(4, 0.01), np.full(4, 0.05)]
    cases = []
    for phase in range(5):
        worker = rng.normal(0, 0.06, processes)
        names = tuple(f"p{p + 1}-shared:phase{phase}" for p in range(processes))
        true = np.full(8, rng.uniform(-8, -2))  # alike, but for implementations 1 and 5
        true[[1, 5]] += np.log(change)
        cases += [Case(mu + worker + rng.normal(0, sd, processes), None, names, member=(m, "steps"))
                  for m, (mu, sd) in enumerate(zip(true, noise, strict=True))]
    return cases


def heterogeneous_verdicts(seed: int, change: float, processes: int, members: bool = True) -> dict[str, Counter]:
    """Verdicts of quiet pairs (0 against 1, and 2 against 3), noisy pairs (4-5, 6-7) and mixed ones (0-4)."""
    from bench.stats import Case, Covariate, PairedPool, compare_cases

    rng = np.random.default_rng(seed)
    counts = {"quiet": Counter(), "noisy": Counter(), "mixed": Counter()}
    for _ in range(COMPARISONS):
        cases = heterogeneous_run(rng, processes, change)
        if not members:
            cases = [Case(c.logs, None, c.workers) for c in cases]
        covariate = Covariate.fit(cases, allowed=False, why_not="no yardstick")
        paired = PairedPool.of(cases)
        for phase in range(5):
            c = cases[8 * phase: 8 * phase + 8]
            counts["quiet"][compare_cases(c[0], c[1], covariate, paired=paired).verdict] += 1
            counts["noisy"][compare_cases(c[4], c[5], covariate, paired=paired).verdict] += 1
            if change == 1.0:
                counts["quiet"][compare_cases(c[2], c[3], covariate, paired=paired).verdict] += 1
                counts["noisy"][compare_cases(c[6], c[7], covariate, paired=paired).verdict] += 1
                counts["mixed"][compare_cases(c[0], c[4], covariate, paired=paired).verdict] += 1
    return counts


@pytest.mark.parametrize("processes", [2, 3])
def test_members_own_spreads_keep_false_verdicts_below_two_percent_quiet_or_noisy(processes):
    """Each pair borrows its own two members' spreads (pooled over their phases): a noisy pair must not be
    judged by the quiet members' spread, nor a mixed one."""
    counts = heterogeneous_verdicts(seed=41, change=1.0, processes=processes)
    for kind, verdicts in counts.items():
        false = (verdicts["slower"] + verdicts["faster"]) / sum(verdicts.values())
        assert false <= 0.02, (kind, verdicts)


def test_a_quiet_pair_resolves_beside_noisy_members_as_it_cannot_with_their_shared_spread():
    own = heterogeneous_verdicts(seed=42, change=1.10, processes=2)["quiet"]
    shared = heterogeneous_verdicts(seed=42, change=1.10, processes=2, members=False)["quiet"]
    assert own["slower"] / sum(own.values()) >= 0.9, own
    assert shared["slower"] / sum(shared.values()) <= 0.6, shared
