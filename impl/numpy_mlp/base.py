"""What every NumPy variant shares: the seed's tensor layout, forward loop, loss, output layer, momentum update.

Layout (the seed's): features x samples. Z_N is the net input of layer N, A_N its output; every non-output
A_N carries a row of ones at index 0 for the bias, and W_N (shape (n_{N+1}, n_N + 1)) holds the bias weights
in column 0. The variant modules override only the lines that make them that variant, so a diff between two
modules reads like the article's optimisation step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import expit

from impl.config import TrainConfig
from impl.contract import Trainer, Transition
from impl.data import Dataset


@dataclass
class Batch:
    """A mini-batch as the forward pass receives it: x is Z_0 (features x samples), y the one-hot targets."""

    x: np.ndarray
    y: np.ndarray | None


@dataclass
class ForwardState:
    """The seed's two per-batch lists: net inputs Z_N and outputs A_N of every layer."""

    li_Z: list[np.ndarray]
    li_A: list[np.ndarray]


class NumpyMLP(Trainer):
    """Shared mathematics of the seed's NumPy MLP; variants override the data layout and the transitions."""

    backend: ClassVar[str] = "numpy"

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        self._dt = np.dtype(self.dtype)
        self._n_layers = len(config.layers)
        self._onehot = np.ascontiguousarray(data.onehot_train().T, dtype=self._dt)  # (10, n): the seed's
        self._labels = {"train": data.y_train, "test": data.y_test}
        self._store_inputs(data)
        self.set_weights(self.initial_weights)

    # -- data layout (overridden by the Step II variants) -------------------------------------------------
    def _store_inputs(self, data: Dataset) -> None:
        """Sample-major, C-contiguous, no bias column: the data as the seed's V0 and V1 kept it."""
        self._inputs = {"train": data.x_train.astype(self._dt), "test": data.x_test.astype(self._dt)}

    def prepare_batch(self, idx: np.ndarray) -> Batch:
        return Batch(self._inputs["train"][idx].T, self._onehot[:, idx])

    def _full_set(self, split: str) -> np.ndarray:
        return self._inputs[split].T

    def _input_layer_output(self, Z_0: np.ndarray) -> np.ndarray:
        """A_0 from Z_0: the seed's V0/V1 insert the bias row here, for every batch."""
        return self._add_bias_neuron_to_layer(Z_0)

    @staticmethod
    def _add_bias_neuron_to_layer(M: np.ndarray) -> np.ndarray:
        """A new array with a row of ones inserted at index 0 (the seed's ``_add_bias_neuron_to_layer``)."""
        return np.insert(M, 0, 1, axis=0)

    # -- forward ------------------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> ForwardState:
        li_Z: list = [None] * self._n_layers
        li_A: list = [None] * self._n_layers
        li_Z[0] = batch.x
        for N in range(1, self._n_layers):
            self._fw_prop_Nm1_to_N(N, li_Z, li_A)
        return ForwardState(li_Z, li_A)

    def _fw_prop_Nm1_to_N(self, N: int, li_Z: list, li_A: list) -> None:
        """Forward transition from layer N-1 into layer N."""
        if N == 1:
            li_A[0] = self._input_layer_output(li_Z[0])
        li_Z[N] = np.dot(self._li_w[N - 1], li_A[N - 1])
        A_N = expit(li_Z[N])
        if N < self._n_layers - 1:
            A_N = self._add_bias_neuron_to_layer(A_N)
        li_A[N] = A_N

    # -- loss ---------------------------------------------------------------------------------------------
    def batch_loss(self, state: ForwardState, batch: Batch) -> float:
        """Log loss summed over the batch (computed stably from Z_E) plus L2/L1 without the bias weights."""
        Z_E = state.li_Z[-1]
        log_loss = np.sum(np.logaddexp(0.0, Z_E) - batch.y * Z_E)
        reg = 0.0
        for W in self._li_w:
            if self.config.lambda2 > 0:
                reg += 0.5 * self.config.lambda2 * np.sum(np.square(W[:, 1:]))
            if self.config.lambda1 > 0:
                reg += self.config.lambda1 * np.sum(np.abs(W[:, 1:]))
        return float(log_loss + reg)

    # -- backward -----------------------------------------------------------------------------------------
    def backward(self, state: ForwardState, batch: Batch) -> list[np.ndarray]:
        li_delta: list = [None] * self._n_layers
        li_grad: list = [None] * (self._n_layers - 1)
        li_delta[-1] = self._delta_E(state, batch.y)
        for N in reversed(range(self._n_layers - 1)):
            li_delta[N], li_grad[N] = self._bw_prop_Np1_to_N(N, state.li_Z, state.li_A, li_delta)
        return li_grad

    def _delta_E(self, state: ForwardState, y: np.ndarray) -> np.ndarray:
        """Delta of the output layer. The seed recomputes sigma'(Z_E) here in every version (Step III kept it);
        for log loss with a sigmoid output it cancels, leaving A_E - y."""
        D_E = self._D_sigmoid(state.li_Z[-1])  # noqa: F841 -- the seed's unused recomputation, kept on purpose
        return state.li_A[-1] - y

    def _bw_prop_Np1_to_N(self, N: int, li_Z: list, li_A: list,
                          li_delta: list) -> tuple[np.ndarray | None, np.ndarray]:
        """Backward transition from layer N+1 to layer N: returns (delta_N, grad_N). Each variant defines it."""
        raise NotImplementedError

    @staticmethod
    def _D_sigmoid(Z: np.ndarray) -> np.ndarray:
        """sigma'(Z) = sigma(Z) * (1 - sigma(Z)), calling expit again (the seed's ``_D_sigmoid``)."""
        S_Z = expit(Z)
        return S_Z * (1.0 - S_Z)

    def _add_regularisation(self, grad_N: np.ndarray, W_N: np.ndarray) -> None:
        """The seed's t6: L2 and L1 gradient terms, bias column excluded."""
        if self.config.lambda2 > 0:
            grad_N[:, 1:] += W_N[:, 1:] * self.config.lambda2
        if self.config.lambda1 > 0:
            grad_N[:, 1:] += np.sign(W_N[:, 1:]) * self.config.lambda1

    # -- update -------------------------------------------------------------------------------------------
    def update(self, grads: list[np.ndarray]) -> None:
        """The seed's rule: dW = lr * grad; W -= dW + mom_rate * dW_previous; the momentum keeps only dW."""
        for N, grad_N in enumerate(grads):
            delta_w_N = self.learn_rate * grad_N
            self._li_w[N] -= delta_w_N + self.config.mom_rate * self._li_mom[N]
            self._li_mom[N] = delta_w_N

    # -- evaluation, weights, profiling -------------------------------------------------------------------
    def accuracy(self, split: str) -> float:
        state = self.forward(Batch(self._full_set(split), None))
        return float(np.mean(np.argmax(state.li_A[-1], axis=0) == self._labels[split]))

    def get_weights(self) -> list[np.ndarray]:
        return [W.astype(np.float64) for W in self._li_w]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.check_layout(weights)
        self._li_w = [np.array(W, dtype=self._dt) for W in weights]
        self._li_mom = [np.zeros_like(W) for W in self._li_w]

    def gradients_as_arrays(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        return [g.astype(np.float64) for g in grads]

    def transitions(self) -> dict[str, Transition]:
        cls = type(self)
        fw = {f"fw:{N}": Transition(cls._fw_prop_Nm1_to_N, N) for N in range(1, self._n_layers)}
        bw = {f"bw:{N}": Transition(cls._bw_prop_Np1_to_N, N) for N in range(self._n_layers - 1)}
        return fw | bw
