"""The shared initialiser and batch order: with the same seed, every implementation starts from the same
weights and sees the same mini-batches in the same order.

Batch rule (one for all implementations): each epoch draws a fresh permutation of the training set and cuts
it into consecutive slices of ``batch_size``; when the batch size does not divide the set, the last batch of
the epoch is the smaller remainder, so every sample is seen once per epoch (as Keras' ``fit`` does).
"""

from __future__ import annotations

import numpy as np

_WEIGHTS_STREAM, _ORDER_STREAM = 0, 1


def initial_weights(layers: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """The seed's initialiser: uniform in +-0.5*sqrt(1/fan_in) for every weight, bias column included.

    Weights use the seed's layout: W_N has shape (n_{N+1}, n_N + 1) and column 0 holds the bias weights.
    Returned in float64; each implementation casts to its own dtype.
    """
    rng = np.random.default_rng([seed, _WEIGHTS_STREAM])
    weights = []
    for n_in, n_out in zip(layers[:-1], layers[1:], strict=True):
        bound = 0.5 * np.sqrt(1.0 / n_in)
        weights.append(rng.uniform(-bound, bound, size=(n_out, n_in + 1)))
    return weights


def epoch_batches(seed: int, epoch: int, n_samples: int, batch_size: int) -> list[np.ndarray]:
    """Index arrays of the mini-batches of one epoch; the same for every implementation and every round."""
    order = np.random.default_rng([seed, _ORDER_STREAM, epoch]).permutation(n_samples)
    return [order[start:start + batch_size] for start in range(0, n_samples, batch_size)]


def n_batches(n_samples: int, batch_size: int) -> int:
    return -(-n_samples // batch_size)
