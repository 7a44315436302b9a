"""A simulated shared machine for the statistics' calibration tests: it drifts, and a yardstick sees it.

Each worker process runs at a machine speed factor ``exp(m)``: ``m`` is a random walk over the run (the whole
VM slowing and speeding up over minutes), plus a per-process part (placement, neighbours), plus a shift of
the whole run (the next run starts on a faster or slower host). A case's per-process median follows the
machine with its own sensitivity (``beta``, drawn by the tests) and its own small noise; the yardstick follows
it with sensitivity 1 and a little noise of its own.

Calibrated against the Intel Xeon VM (docs/noise.md): three one-thread A/A runs there moved as a whole by up
to 8 % (yardstick 8 %, cases 7 %: they follow the machine nearly one for one), and what the yardstick left
between them scattered by about 0.03, the within-run spread at two processes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.stats import Case


@dataclass(frozen=True)
class Machine:
    process_spread: float = 0.08  # per-process machine noise (sd of log speed)
    drift_step: float = 0.03  # random-walk step between consecutive processes
    run_shift: float = 0.08  # sd of the whole run's shift
    case_noise: float = 0.012  # a case's own between-process noise, beyond the machine's
    yard_noise: float = 0.008


def machine_logs(rng: np.random.Generator, machine: Machine, processes: int, shift: float) -> np.ndarray:
    """log speed factor of each process of one run, in the order they ran."""
    walk = np.cumsum(rng.normal(0, machine.drift_step, processes))
    return shift + walk + rng.normal(0, machine.process_spread, processes)


def simulated_run(rng: np.random.Generator, machine: Machine, true_log: np.ndarray, beta: np.ndarray,
                  processes: int) -> tuple[list[Case], float]:
    """Per case: ``processes`` per-process log medians and log yardsticks, interleaved as a run does; and the
    run's shift."""
    shift = rng.normal(0, machine.run_shift)
    m = machine_logs(rng, machine, processes * len(true_log), shift).reshape(processes, len(true_log))
    cases = []
    for c, (mu, b) in enumerate(zip(true_log, beta, strict=True)):
        logs = mu + b * m[:, c] + rng.normal(0, machine.case_noise, processes)
        yard = m[:, c] + rng.normal(0, machine.yard_noise, processes)
        cases.append(Case(logs, yard))
    return cases, shift


def more_processes(rng: np.random.Generator, machine: Machine, case: Case, true_log: float, beta: float,
                   run_log: float, extra: int) -> Case:
    """The case with ``extra`` more processes of the same run (its run shift ``run_log`` kept)."""
    m = run_log + rng.normal(0, machine.process_spread, extra)
    logs = true_log + beta * m + rng.normal(0, machine.case_noise, extra)
    yard = m + rng.normal(0, machine.yard_noise, extra)
    return Case(np.concatenate([case.logs, logs]), np.concatenate([case.yard, yard]))


BETA_RANGE = (0.85, 1.05)  # how strongly cases follow the machine (measured: nearly one for one)
