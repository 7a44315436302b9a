"""numpy-tuned's sigmoid, in whichever of two exact forms this machine's NumPy computes faster.

sigma(z) = 0.5 + 0.5 tanh(z / 2) = 1 / (1 + exp(-z)): one function, two ways to compute it in float32 (they
differ by at most one unit in the last place of 1). Which is cheaper depends on the CPU NumPy dispatches to,
and not by a little: on the AVX-512 AMD EPYC VM of 2026-12-04 NumPy's float32 tanh was SIMD-vectorised (6 us
for 500 x 72), where the tanh form won; on the AVX2-only EPYC VM of 2026-12-06 (NumPy's X86_V3 dispatch) neither
tanh nor exp was, and the tanh form took 111 us against the exp form's 71 us for 500 x 72
(``scripts/tuned_step_parts.py``), the sigmoid alone about a tenth of a train step at B=500. So numpy-tuned
times both forms once, when the module is imported (a few tens of milliseconds, interleaved, median), keeps
the faster, and every run records the choice and both timings.

Both forms saturate to exactly 0 or 1 and never give a subnormal (a subnormal costs x86 a microcode assist
in every later pass over it): the exp form divides 4 by 4 (1 + exp(-z)), which overflows to inf, giving exactly
0, wherever 1 / (1 + exp(-z)) would be subnormal (z below -87.3); the overflow is expected and silenced. The
extra multiply costs one cheap pass (4 us for 500 x 72), and by a power of two it changes no rounding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_FOUR = np.float32(4.0)


def sigmoid_tanh(z: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> None:
    """``out = 0.5 + 0.5 tanh(z / 2)``; ``scratch`` may be ``z`` or ``out`` (same shape)."""
    np.multiply(z, _HALF, out=scratch)
    np.tanh(scratch, out=scratch)
    np.multiply(scratch, _HALF, out=out)
    np.add(out, _HALF, out=out)


def sigmoid_exp(z: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> None:
    """``out = 4 / (4 (1 + exp(-z)))``, i.e. ``1 / (1 + exp(-z))`` rounded exactly alike (4 is a power of two),
    except that where ``1 / (1 + exp(-z))`` would be subnormal, ``4 (1 + exp(-z))`` overflows and the result is
    exactly 0; ``scratch`` may be ``z`` or ``out`` (same shape)."""
    np.negative(z, out=scratch)
    with np.errstate(over="ignore"):  # exp(-z) or 4 (1 + exp(-z)) = inf below z = -87.3: the sigmoid is 0 there
        np.exp(scratch, out=scratch)
        np.add(scratch, _ONE, out=scratch)
        np.multiply(scratch, _FOUR, out=scratch)
    np.divide(_FOUR, scratch, out=out)


FORMS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], None]] = {"tanh": sigmoid_tanh, "exp": sigmoid_exp}


@dataclass(frozen=True)
class SigmoidChoice:
    """The sigmoid form numpy-tuned uses and what the calibration measured (recorded with every run)."""

    form: str
    seconds: dict[str, float]  # median seconds per call on the calibration array, by form

    @property
    def compute(self) -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
        return FORMS[self.form]

    def describe(self) -> str:
        timings = ", ".join(f"{form} {s * 1e6:.0f} us" for form, s in self.seconds.items())
        return f"the {self.form} form, timed faster on this machine at import ({timings} per 512 x 72 call)"


def calibrate(rows: int = 512, width: int = 72, repeats: int = 7, calls: int = 10) -> SigmoidChoice:
    """Time every form on one chunk-sized float32 array of net inputs, interleaved, and keep the fastest."""
    z = np.random.default_rng(0).standard_normal((rows, width), dtype=np.float32) * np.float32(4)
    scratch, out = np.empty_like(z), np.empty_like(z)
    samples: dict[str, list[float]] = {form: [] for form in FORMS}
    for compute in FORMS.values():
        compute(z, scratch, out)  # warm: first touches
    for _ in range(repeats):
        for form, compute in FORMS.items():
            start = time.perf_counter()
            for _ in range(calls):
                compute(z, scratch, out)
            samples[form].append((time.perf_counter() - start) / calls)
    seconds = {form: float(np.median(s)) for form, s in samples.items()}
    return SigmoidChoice(min(seconds, key=seconds.get), seconds)
