"""The float64 oracle the tests compare every implementation against: the seed's mathematics written as
plainly as possible (no layout tricks), on samples x features arrays.

    a_0 = x;  z_{N+1} = [1, a_N] W_N^T;  a_{N+1} = sigma(z_{N+1})
    J = sum over batch and outputs of [softplus(z_E) - y z_E]  (= log loss, summed)
        + lambda2/2 * sum(W[:, 1:]^2) + lambda1 * sum(|W[:, 1:]|)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from impl.batching import epoch_batches, initial_weights
from impl.config import TrainConfig


def _biased(a: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((a.shape[0], 1)), a])


def forward(weights: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Outputs a_0 .. a_E (samples x nodes, no bias column) of every layer."""
    outputs = [np.asarray(x, dtype=np.float64)]
    for W in weights:
        outputs.append(expit(_biased(outputs[-1]) @ W.T))
    return outputs


def loss(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, lambda2: float, lambda1: float = 0.0) -> float:
    z_E = _biased(forward(weights[:-1], x)[-1]) @ weights[-1].T
    log_loss = np.sum(np.logaddexp(0.0, z_E) - y * z_E)
    reg = sum(0.5 * lambda2 * np.sum(W[:, 1:] ** 2) + lambda1 * np.sum(np.abs(W[:, 1:])) for W in weights)
    return float(log_loss + reg)


def gradients(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, lambda2: float,
              lambda1: float = 0.0) -> list[np.ndarray]:
    """dJ/dW_N for every layer, by back-propagation."""
    outputs = forward(weights, x)
    delta = outputs[-1] - y  # log loss with a sigmoid output
    grads: list[np.ndarray] = [np.empty(0)] * len(weights)
    for N in reversed(range(len(weights))):
        grad = delta.T @ _biased(outputs[N])
        grad[:, 1:] += lambda2 * weights[N][:, 1:] + lambda1 * np.sign(weights[N][:, 1:])
        grads[N] = grad
        a = outputs[N]
        delta = (delta @ weights[N][:, 1:]) * a * (1.0 - a)
    return grads


def momentum_step(weights: list[np.ndarray], momentum: list[np.ndarray], grads: list[np.ndarray],
                  learn_rate: float, mom_rate: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The seed's update: dW = lr * grad; W - (dW + mom_rate * previous dW); the new momentum is dW."""
    steps = [learn_rate * g for g in grads]
    new_weights = [W - (d + mom_rate * m) for W, d, m in zip(weights, steps, momentum, strict=True)]
    return new_weights, steps


@dataclass(frozen=True)
class ReferenceStep:
    """One mini-batch of the seed's training loop as the reference computes it."""

    epoch: int
    idx: np.ndarray
    weights: list[np.ndarray]  # before the step
    loss: float
    gradients: list[np.ndarray]
    weights_after: list[np.ndarray]


def training_steps(config: TrainConfig, x: np.ndarray, y: np.ndarray, epochs: int = 1) -> Iterator[ReferenceStep]:
    """The seed's loop, step by step: shared initial weights and batch order, the per-epoch lr decay,
    the momentum rule. Tests compare every implementation against what this yields."""
    weights = initial_weights(config.layers, config.seed, config.init)
    momentum = [np.zeros_like(w) for w in weights]
    learn_rate = config.learn_rate
    for epoch in range(epochs):
        learn_rate /= 1.0 + config.decrease_rate * epoch
        for idx in epoch_batches(config.seed, epoch, len(x), config.batch_size, config.shuffle):
            batch_loss = loss(weights, x[idx], y[idx], config.lambda2, config.lambda1)
            grads = gradients(weights, x[idx], y[idx], config.lambda2, config.lambda1)
            new_weights, momentum = momentum_step(weights, momentum, grads, learn_rate, config.mom_rate)
            yield ReferenceStep(epoch, idx, weights, batch_loss, grads, new_weights)
            weights = new_weights


def trained_weights(config: TrainConfig, x: np.ndarray, y: np.ndarray, epochs: int) -> list[np.ndarray]:
    """Weights after ``epochs`` epochs of the reference loop."""
    *_, last = training_steps(config, x, y, epochs)
    return last.weights_after
