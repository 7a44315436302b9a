"""V0, the seed's original ("naive") code: float64; the bias row inserted into the transposed input batch at
every step and every full-set evaluation; sigma' recomputed from Z with a bias row added during the backward
pass; and a delta computed for the input layer L0 that nobody uses."""

from __future__ import annotations

import numpy as np

from impl.numpy_mlp.base import NumpyMLP


class NumpyV0Naive(NumpyMLP):
    name = "numpy-v0-naive"
    description = "seed's original code: float64, bias row inserted per batch, sigma' from Z, delta for L0"
    dtype = "float64"
    full_run_rounds = 1  # ~40 s per 35-epoch run at B=500 on 2 cores: one round keeps the default run short

    def _bw_prop_Np1_to_N(self, N: int, li_Z: list, li_A: list,
                          li_delta: list) -> tuple[np.ndarray | None, np.ndarray]:
        W_N = self._li_w[N]
        delta_Np1 = li_delta[N + 1]
        A_N = li_A[N]
        # V0: a delta for every layer N, the input layer L0 included (its delta is never used)
        Z_N = self._add_bias_neuron_to_layer(li_Z[N])  # t1: bias row added to Z_N
        D_N = self._D_sigmoid(Z_N)  # t2: sigma' recomputed from Z_N
        delta_w_N = W_N.T.dot(delta_Np1)  # t3
        delta_N = (delta_w_N * D_N)[1:, :]  # t4: elementwise product, bias row dropped again
        grad_N = np.dot(delta_Np1, A_N.T)  # t5
        self._add_regularisation(grad_N, W_N)  # t6
        return delta_N, grad_N
