"""How close a result must be to the float64 reference, and the one way the tests check it.

float64 implementations differ from the reference only in summation order: 1e-9 relative. float32 has a unit
roundoff of 6e-8; a 784-term dot product and a batch sum keep the relative error of the loss below ~1e-5 and
of the gradients below ~1e-4 of their largest element (used as ``atol``), and a dozen SGD steps stay within
1e-4 of the weights' scale.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = {"float64": {"loss": 1e-9, "grad": 1e-9, "weights": 1e-9},
             "float32": {"loss": 2e-5, "grad": 2e-4, "weights": 1e-4}}


def assert_close(actual: np.ndarray, expected: np.ndarray, rel: float, what: str) -> None:
    """Relative tolerance, with an absolute floor at ``rel`` times the largest expected element."""
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale, err_msg=what)


def assert_all_close(actual: list[np.ndarray], expected: list[np.ndarray], rel: float, what: str) -> None:
    """Layer by layer (W0, W1, W2 in the seed's layout)."""
    assert len(actual) == len(expected), what
    for N, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert np.shape(a) == np.shape(e), f"{what} W{N}: shape {np.shape(a)} != {np.shape(e)}"
        assert_close(a, e, rel, f"{what} W{N}")
