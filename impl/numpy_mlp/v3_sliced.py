"""V3 (Step III): the faster Step II layout on this machine, plus delta_N from the stored outputs A_N and
slicing instead of a bias row: no sigma call and no bias add/remove in the backward loop.

    delta_N = (W_N^T . delta_{N+1})[1:, :] * A_N[1:, :] * (1 - A_N[1:, :])
"""

from __future__ import annotations

import numpy as np

from impl.numpy_mlp.v2_f import NumpyV2F


class NumpyV3Sliced(NumpyV2F):
    name = "numpy-v3-sliced"
    description = "Step III: V2-F layout (faster here) + sigma' from stored A, delta sliced instead of bias row"

    def _bw_prop_Np1_to_N(self, N: int, li_Z: list, li_A: list,
                          li_delta: list) -> tuple[np.ndarray | None, np.ndarray]:
        W_N = self._li_w[N]
        delta_Np1 = li_delta[N + 1]
        A_N = li_A[N]
        delta_N = None
        if N > 0:  # Step III: sigma' from the stored A_N, bias row sliced away, no sigma call
            delta_N = W_N.T.dot(delta_Np1)[1:, :] * A_N[1:, :] * (1.0 - A_N[1:, :])
        grad_N = np.dot(delta_Np1, A_N.T)  # t5
        self._add_regularisation(grad_N, W_N)  # t6
        return delta_N, grad_N
