"""A fixed reference workload timed beside every case, to cancel the drift of a shared machine.

On a cloud VM the whole machine speeds up and slows down over minutes (neighbours, steal, memory bandwidth):
three back-to-back runs of the same code differed by 30 %, and every implementation moved with it. A
yardstick that does the same kind of work as the benchmarks (a float32 sgemm through the same BLAS and
threads, and an elementwise pass over memory), timed in the same process right before and after a case's
rounds, moves with the machine too. The statistics (bench/stats.py) use it as a covariate: they estimate how
strongly the cases follow it and remove that part of the spread, and the raw times are always kept and shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

GEMM_SHAPE = (512, 784, 256)  # (m, k, n): an MLP-sized float32 product, about 0.2 GFLOP a pass
GEMM_PASSES = 12
ELEMENTWISE_SIZE = 1 << 20  # float32 elements: 4 MiB, past the L2 cache
ELEMENTWISE_PASSES = 8
REPEATS = 5  # the median of these is kept (one preempted repeat moves it little)


class Yardstick:
    """The reference workload's arrays, built once per process (fixed seed: every process does the same).
    ``clock`` is the benchmark's own timer, so a run timed in CPU seconds gets a yardstick in CPU seconds."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        rng = np.random.default_rng(20261201)
        m, k, n = GEMM_SHAPE
        self._a = rng.standard_normal((m, k), dtype=np.float32)
        self._b = rng.standard_normal((k, n), dtype=np.float32)
        self._c = np.empty((m, n), dtype=np.float32)
        self._x = rng.standard_normal(ELEMENTWISE_SIZE, dtype=np.float32)
        self._y = np.empty_like(self._x)
        self.measure()  # first touches and BLAS thread start-up stay out of every reading

    def _gemm(self) -> float:
        start = self._clock()
        for _ in range(GEMM_PASSES):
            np.matmul(self._a, self._b, out=self._c)
        return self._clock() - start

    def _elementwise(self) -> float:
        start = self._clock()
        for _ in range(ELEMENTWISE_PASSES):
            np.exp(self._x, out=self._y)
            np.multiply(self._y, self._x, out=self._y)
        return self._clock() - start

    def measure(self) -> dict[str, float]:
        """Seconds of one sgemm block and one elementwise block (medians of ``REPEATS``)."""
        gemm = sorted(self._gemm() for _ in range(REPEATS))[REPEATS // 2]
        elementwise = sorted(self._elementwise() for _ in range(REPEATS))[REPEATS // 2]
        return {"gemm_s": gemm, "elementwise_s": elementwise}


def combined(before: dict[str, float], after: dict[str, float]) -> float:
    """One yardstick value for a case: the geometric mean of both blocks before and after its rounds."""
    values = [before["gemm_s"], before["elementwise_s"], after["gemm_s"], after["elementwise_s"]]
    return float(np.exp(np.mean(np.log(values))))
