"""--until-resolved, calibrated by simulation (bench/sequential.py): up to 10 looks at the verdicts on a
drifting machine (tests/machine_sim.py), one more process for every open case after each look.

Required: A/A false verdicts at most 2 % despite the repeated looks; a true 10 % change called ``slower`` in at
least 90 % of cases within the simulated budget (10 looks, 2 + 9 processes a side at most)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from machine_sim import BETA_RANGE, Machine, more_processes, simulated_run

from bench.sequential import alpha_per_look, until_resolved
from bench.stats import Covariate, compare_runs

CASES = 20
PAIRS = 40  # x 20 cases = 800 sequential case comparisons per setting


def sequential_pair(rng: np.random.Generator, change: float, machine: Machine) -> tuple[Counter, int]:
    """One saved run A and a new run B measured until resolved against it; B's verdicts and looks."""
    true_log, beta = rng.uniform(-8, 2, CASES), rng.uniform(*BETA_RANGE, CASES)
    a, _ = simulated_run(rng, machine, true_log, beta, 2)
    b, shift_b = simulated_run(rng, machine, true_log + np.log(change), beta, 2)
    verdicts: dict[int, str] = {}

    def open_cases() -> set:
        results, _ = compare_runs(list(zip(a, b, strict=True)), Covariate.fit(a + b), alpha_per_look())
        for c, result in enumerate(results):
            verdicts[c] = result.verdict
        return {c for c, v in verdicts.items() if v == "cannot resolve"}

    def measure_more(keys: set) -> None:
        for c in keys:
            b[c] = more_processes(rng, machine, b[c], true_log[c] + np.log(change), beta[c], shift_b, 1)

    result = until_resolved(open_cases, measure_more, cost_of=len, spent=lambda: 0.0, budget_s=float("inf"))
    return Counter(verdicts.values()), result["looks"]


def sequential_counts(seed: int, change: float) -> Counter:
    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    for _ in range(PAIRS):
        verdicts, _ = sequential_pair(rng, change, Machine())
        counts.update(verdicts)
    return counts


def test_a_a_with_up_to_ten_looks_gives_at_most_two_percent_false_verdicts():
    counts = sequential_counts(seed=11, change=1.0)
    assert sum(counts.values()) == CASES * PAIRS
    assert (counts["slower"] + counts["faster"]) / (CASES * PAIRS) <= 0.02, counts


def test_a_true_ten_percent_change_is_found_within_the_looks():
    counts = sequential_counts(seed=12, change=1.10)
    assert counts["slower"] / (CASES * PAIRS) >= 0.90, counts
    assert counts["faster"] == 0


def test_the_loop_stops_at_the_budget_and_at_the_last_look():
    spent = [0.0]

    def measure_more(keys: set) -> None:
        spent[0] += 60.0 * len(keys)

    result = until_resolved(lambda: {1, 2}, measure_more, cost_of=lambda k: 60.0 * len(k), spent=lambda: spent[0],
                            budget_s=300.0)
    assert result["stopped"].startswith("the budget") and result["looks"] == 3  # 0 -> 120 -> 240, then 360 > 300
    result = until_resolved(lambda: {1}, lambda keys: None, cost_of=lambda k: 0.0, spent=lambda: 0.0,
                            budget_s=1.0, max_looks=4)
    assert result["looks"] == 4 and "last of 4 looks" in result["stopped"]
    assert result["open_at_end"] == [1]
