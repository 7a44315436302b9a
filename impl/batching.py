"""The shared initialiser and batch order: with the same seed, every implementation starts from the same
weights and sees the same mini-batches in the same order.

Batch rule (one for all implementations): each epoch draws a fresh permutation of the training set and cuts
it into consecutive slices of ``batch_size``; when the batch size does not divide the set, the last batch of
the epoch is the smaller remainder, so every sample is seen once per epoch (as Keras' ``fit`` does).
"""

from __future__ import annotations

import numpy as np

_WEIGHTS_STREAM, _ORDER_STREAM = 0, 1

#: How the initial weights are drawn. The seed's text says uniform in +-0.5*sqrt(1/n) with n "the number of
#: nodes in a layer", which leaves open which layer and whether the bias weights take part: ``fan-in`` (n = the
#: source layer's nodes, bias weights drawn alike; our default), ``fan-out`` (n = the target layer's nodes) and
#: ``fan-in-zero-bias`` (fan-in, bias weights start at 0). The protocol experiment searches them.
INIT_SCHEMES = ("fan-in", "fan-out", "fan-in-zero-bias")
#: How mini-batches are cut each epoch: ``every-epoch`` (a fresh permutation per epoch; our default), ``once``
#: (one permutation kept for every epoch) and ``none`` (the training set in its stored order). The articles'
#: text does not say which they used; the protocol experiment searches them.
SHUFFLES = ("every-epoch", "once", "none")


def initial_weights(layers: tuple[int, ...], seed: int, scheme: str = "fan-in") -> list[np.ndarray]:
    """The seed's initialiser: uniform in +-0.5*sqrt(1/n) (``scheme``: which n, bias weights drawn or zero).

    Weights use the seed's layout: W_N has shape (n_{N+1}, n_N + 1) and column 0 holds the bias weights.
    Returned in float64; each implementation casts to its own dtype.
    """
    rng = np.random.default_rng([seed, _WEIGHTS_STREAM])
    weights = []
    for n_in, n_out in zip(layers[:-1], layers[1:], strict=True):
        bound = 0.5 * np.sqrt(1.0 / (n_out if scheme == "fan-out" else n_in))
        weight = rng.uniform(-bound, bound, size=(n_out, n_in + 1))
        if scheme == "fan-in-zero-bias":
            weight[:, 0] = 0.0
        weights.append(weight)
    return weights


def epoch_batches(seed: int, epoch: int, n_samples: int, batch_size: int,
                  shuffle: str = "every-epoch") -> list[np.ndarray]:
    """Index arrays of the mini-batches of one epoch; the same for every implementation and every round."""
    if shuffle == "none":
        order = np.arange(n_samples)
    else:
        order = np.random.default_rng([seed, _ORDER_STREAM, epoch if shuffle == "every-epoch" else 0]
                                      ).permutation(n_samples)
    return [order[start:start + batch_size] for start in range(0, n_samples, batch_size)]


def n_batches(n_samples: int, batch_size: int) -> int:
    return -(-n_samples // batch_size)
