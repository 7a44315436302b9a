"""The roofline's FLOP model.

FLOP convention (:func:`flops_per_sample`): only the matrix products count, 2 FLOP per multiply-add, in the
seed's augmented form where the bias is one more input of value 1. Per sample and weight matrix W_N
(n_{N+1} x (n_N + 1)):

* forward ``Z_{N+1} = W_N [1; A_N]``: 2 (n_N + 1) n_{N+1}, every layer;
* backward, gradient ``delta_{N+1} [1; A_N]^T``: 2 (n_N + 1) n_{N+1}, every layer;
* backward, delta ``W_N[:, 1:]^T delta_{N+1}``: 2 n_N n_{N+1}, only for N >= 1 (no bias row, no delta for the
  input layer).

For 784-70-30-10 that is 114,780 (forward) + 119,580 (backward) = 234,360 FLOP per sample, 14.06 GFLOP per
epoch of 60,000 samples and 492.2 GFLOP for 35 epochs. Elementwise work (sigmoid, sigma', loss, update) and
the batch gather are not FLOPs here: the gather has its own floor.

Per phase (:func:`phase_flops`) the count comes from the phase table (:mod:`impl.phases`).
"""

from __future__ import annotations

from collections.abc import Sequence

from impl.config import N_TRAIN, SEED_LAYERS
from impl.phases import PHASE_TABLE

LAYERS = SEED_LAYERS  # the roofline's default model: the seed's
EPOCHS = 35


def layer_flops(layers: Sequence[int] = LAYERS) -> dict[str, int]:
    """FLOP per sample of each layer transition: ``fw:N`` (layer N-1 into N) and ``bw:N`` (layer N+1 to N:
    its gradient product, plus the delta product for N >= 1)."""
    out: dict[str, int] = {}
    for N, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        out[f"fw:{N + 1}"] = 2 * (n_in + 1) * n_out
    for N, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        out[f"bw:{N}"] = 2 * (n_in + 1) * n_out + (2 * n_in * n_out if N > 0 else 0)
    return out


def flops_per_sample(layers: Sequence[int] = LAYERS) -> dict[str, int]:
    """Forward, backward and total FLOP per sample (convention in the module docstring)."""
    per_layer = layer_flops(layers)
    forward = sum(v for k, v in per_layer.items() if k.startswith("fw:"))
    backward = sum(v for k, v in per_layer.items() if k.startswith("bw:"))
    return {"forward": forward, "backward": backward, "total": forward + backward}


def phase_flops(batch_size: int, layers: Sequence[int] = LAYERS, n_train: int = N_TRAIN,
                epochs: int = EPOCHS) -> dict[str, int]:
    """FLOP of each benchmark phase at one batch size (gather and update: 0, they are not matrix products)."""
    per = flops_per_sample(layers)
    flops = {name: phase.flops_of(per, n_train * epochs if phase.mode == "full_run" else batch_size)
             for name, phase in PHASE_TABLE.items()}
    return {**flops, "update": 0, "epoch": per["total"] * n_train}


def run_flops(epochs: int = EPOCHS, layers: Sequence[int] = LAYERS, n_train: int = N_TRAIN) -> int:
    return flops_per_sample(layers)["total"] * n_train * epochs
