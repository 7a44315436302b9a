"""V1 (Step I): V0 in float32, and no delta for the input layer L0 (its gradient is still computed)."""

from __future__ import annotations

import numpy as np

from impl.numpy_mlp.v0_naive import NumpyV0Naive


class NumpyV1Float32(NumpyV0Naive):
    name = "numpy-v1-float32"
    description = "Step I: V0 in float32, no delta for the input layer"
    dtype = "float32"
    full_run_rounds = None  # V0's single full-run round is for V0 only: back to the harness default

    def _bw_prop_Np1_to_N(self, N: int, li_Z: list, li_A: list,
                          li_delta: list) -> tuple[np.ndarray | None, np.ndarray]:
        W_N = self._li_w[N]
        delta_Np1 = li_delta[N + 1]
        A_N = li_A[N]
        delta_N = None
        if N > 0:  # Step I: no delta for L0
            Z_N = self._add_bias_neuron_to_layer(li_Z[N])  # t1: bias row added to Z_N
            D_N = self._D_sigmoid(Z_N)  # t2: sigma' recomputed from Z_N
            delta_w_N = W_N.T.dot(delta_Np1)  # t3
            delta_N = (delta_w_N * D_N)[1:, :]  # t4: elementwise product, bias row dropped again
        grad_N = np.dot(delta_Np1, A_N.T)  # t5
        self._add_regularisation(grad_N, W_N)  # t6
        return delta_N, grad_N
