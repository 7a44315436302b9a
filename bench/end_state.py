"""The articles' end state of a training run: what Step III's code printed after its last epoch, measured the way
it was measured (each mini-batch of the last epoch judged with the weights its own forward pass used), outside the
timed work. ``mlp-bench train`` shows it; the reproduction's experiments record it in every part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from impl.config import TrainConfig
from impl.contract import FitResult, Trainer
from impl.data import Dataset
from impl.numpy_mlp.reference import forward, loss


def regulariser(weights: list[np.ndarray], config: TrainConfig) -> float:
    """The L2 and L1 terms of a batch's cost (bias weights excluded), as the reference's ``loss`` adds them."""
    return sum(0.5 * config.lambda2 * float(np.sum(W[:, 1:] ** 2)) + config.lambda1 * float(np.sum(np.abs(W[:, 1:])))
               for W in weights)


class EndState:
    """The articles' bookkeeping over one epoch (the last), each mini-batch seen with the weights its own forward
    pass uses, as their code printed it at the end of a run (Step III's printout):

    - ``batch_averaged_train``: the batch accuracies summed over the epoch, a count out of the training set
      ("presently batch averaged accuracy = 0.99272" is 59,563 of 60,000);
    - ``last_batch_cost``: the last mini-batch's summed log loss plus the L2/L1 terms ("total costs of last
      mini_batch");
    - ``last_batch_reg_share``: the regulariser's share of that cost ("rel. reg. contrib. to batch costs");
    - ``last_batch_mean_abs_error``: the mean of |output - one-hot target| over the batch's outputs ("avg total
      error of last mini_batch"; an interpretation: the code that printed it is not in the text).

    Computed with the float64 reference before each step; :meth:`Trainer.fit` leaves this time out of the epoch.
    Each per-batch value is kept for the whole epoch, so a reader sees how far one batch moves the figure."""

    def __init__(self, trainer: Trainer, data: Dataset) -> None:
        self.trainer, self.data = trainer, data
        self.batches: list[dict[str, float]] = []

    def __call__(self, idx: np.ndarray) -> None:
        weights = self.trainer.get_weights()
        config = self.trainer.config
        x, labels = self.data.x_train[idx], self.data.y_train[idx]
        output = forward(weights, x)[-1]
        target = np.eye(output.shape[1])[labels]
        cost = loss(weights, x, target, config.lambda2, config.lambda1)
        reg = regulariser(weights, config)
        self.batches.append({"n": len(idx), "correct": int(np.sum(output.argmax(axis=1) == labels)), "cost": cost,
                             "reg_share": reg / cost, "mean_abs_error": float(np.mean(np.abs(output - target))),
                             "sum_sq_weights": 2 * reg / config.lambda2 if config.lambda2 else float("nan")})

    def result(self) -> dict[str, Any]:
        """The end state, and the regulariser's share of the whole training set's cost with the final weights
        (XIII: "below 1 %" of the full set's loss while it dominates a batch's)."""
        last = self.batches[-1]
        config, weights = self.trainer.config, self.trainer.get_weights()
        reg = regulariser(weights, config)
        total = loss(weights, self.data.x_train, self.data.onehot_train(), config.lambda2, config.lambda1)
        correct, seen = sum(b["correct"] for b in self.batches), sum(b["n"] for b in self.batches)
        return {"set_reg_share": reg / total, "batch_averaged_train": correct / seen,
                "last_batch_cost": last["cost"], "last_batch_reg_share": last["reg_share"],
                "last_batch_mean_abs_error": last["mean_abs_error"], "sum_sq_weights": last["sum_sq_weights"],
                "epoch_batches": self.batches}

    @classmethod
    def of(cls, trainer: Trainer, data: Dataset) -> EndState | None:
        """The bookkeeping for a trainer that shares the batch order (an MLP the equivalence tests cover), else
        None (Keras ``fit`` draws its own batches: its running accuracy over the epoch is the batch average)."""
        return cls(trainer, data) if trainer.shared_batch_order and trainer.workload == "mlp" else None


def fit_keeping_end_state(trainer: Trainer, epochs: int, end_state: EndState | None,
                          on_epoch: Callable[[int, float, float], None] | None = None) -> FitResult:
    """``trainer.fit(epochs)``, its last epoch with ``end_state``'s bookkeeping before every step (left out of the
    epoch's time); one FitResult for all the epochs."""
    if end_state is None or epochs < 1:
        return trainer.fit(epochs=epochs, on_epoch=on_epoch)
    result = trainer.fit(epochs=epochs - 1, on_epoch=on_epoch)
    last = trainer.fit(epochs=1, on_epoch=on_epoch, before_step=end_state)
    result.per_epoch_seconds += last.per_epoch_seconds
    result.epoch_losses += last.epoch_losses
    result.epoch_accuracies += last.epoch_accuracies
    result.final_learn_rate = last.final_learn_rate
    return result
