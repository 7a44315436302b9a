"""The phases a benchmark can time, each defined once: its name, how it is timed, the methods it calls (the
contract checks that an implementation listing it defines them), how the timed call is built from a trainer,
and its FLOP model. ``bench/conftest.py`` parametrises over this table, ``bench/test_steps.py`` builds each
timed call from it, the roofline counts FLOP with it, and the extension test checks every phase in it: adding a
phase means adding a row here and the methods to the implementations that support it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import cycle
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from impl.contract import Trainer

#: How a phase is timed: ``calibrated`` (pytest-benchmark picks the iterations per round), ``with_setup`` (one
#: call per round after an untimed setup call), ``full_run`` (whole training runs, one per round).
Mode = Literal["calibrated", "with_setup", "full_run"]


@dataclass(frozen=True)
class TimedCall:
    """What a benchmark times: ``target(*setup())`` where a setup is given, else ``target()``."""

    target: Callable[..., Any]
    setup: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]] | None = None


@dataclass(frozen=True)
class Phase:
    name: str
    mode: Mode
    #: Methods the timed call uses (and the equivalence tests read back).
    methods: tuple[str, ...]
    #: Which per-sample FLOP count one sample of this phase costs: forward, backward, total, or none.
    flops: Literal["forward", "backward", "total", "none"]
    #: Builds the timed call from a trainer and the batches to cycle through (None for full runs).
    build: Callable[[Trainer, Sequence[np.ndarray]], TimedCall] | None = None

    def flops_of(self, per_sample: dict[str, int], samples: int) -> int:
        """FLOP of ``samples`` samples of this phase (matrix products only: gather and update count 0)."""
        return 0 if self.flops == "none" else per_sample[self.flops] * samples


def _on_indices(method: str) -> Callable[[Trainer, Sequence[np.ndarray]], TimedCall]:
    """A call on the next batch's indices (the gather is part of what is timed)."""
    def build(trainer: Trainer, indices: Sequence[np.ndarray]) -> TimedCall:
        target, next_idx = getattr(trainer, method), cycle(indices).__next__
        return TimedCall(lambda: target(next_idx()))
    return build


def _on_batches(method: str) -> Callable[[Trainer, Sequence[np.ndarray]], TimedCall]:
    """A call on the next gathered batch (gathered beforehand, untimed)."""
    def build(trainer: Trainer, indices: Sequence[np.ndarray]) -> TimedCall:
        target = getattr(trainer, method)
        next_batch = cycle([trainer.prepare_batch(idx) for idx in indices]).__next__
        return TimedCall(lambda: target(next_batch()))
    return build


def _backward(trainer: Trainer, indices: Sequence[np.ndarray]) -> TimedCall:
    """The backward pass needs a fresh forward state: that forward is the untimed setup of every round."""
    next_batch = cycle([trainer.prepare_batch(idx) for idx in indices]).__next__

    def forward_state() -> tuple[tuple[Any, ...], dict[str, Any]]:
        batch = next_batch()
        return (trainer.forward(batch), batch), {}
    return TimedCall(trainer.backward, setup=forward_state)


PHASE_TABLE: dict[str, Phase] = {phase.name: phase for phase in (
    Phase("prepare", "calibrated", ("prepare_batch",), "none", _on_indices("prepare_batch")),
    Phase("forward", "calibrated", ("prepare_batch", "forward", "batch_loss"), "forward", _on_batches("forward")),
    Phase("backward", "with_setup", ("prepare_batch", "forward", "backward", "gradients_as_arrays"), "backward",
          _backward),
    Phase("forward_backward", "calibrated", ("prepare_batch", "forward_backward", "gradients_as_arrays"), "total",
          _on_batches("forward_backward")),
    Phase("train_step", "calibrated", ("train_step",), "total", _on_indices("train_step")),
    Phase("full_run", "full_run", ("fit",), "total"),
)}


def step_phases() -> tuple[str, ...]:
    """The phases timed per step (every phase but the full runs), in table order."""
    return tuple(name for name, phase in PHASE_TABLE.items() if phase.mode != "full_run")
