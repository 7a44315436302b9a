"""The contract checks itself once, when a named implementation is defined: a listed phase needs its methods
(the phase table, impl.phases), a phase not listed needs no stub."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from impl.config import TrainConfig
from impl.contract import Trainer
from impl.phases import PHASE_TABLE


class _Weights(Trainer):
    """What every implementation needs whatever it times (no name: never registered)."""

    def accuracy(self, split: str) -> float:
        return 0.0

    def get_weights(self) -> list[np.ndarray]:
        return []

    def set_weights(self, weights: list[np.ndarray]) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[dict[str, type[Trainer]]]:
    """The registry, restored afterwards: the classes defined here must not leak into other tests."""
    saved = dict(Trainer.registry)
    yield Trainer.registry
    Trainer.registry.clear()
    Trainer.registry.update(saved)


def test_every_phase_names_methods_of_the_contract():
    for phase in PHASE_TABLE.values():
        assert phase.methods and all(callable(getattr(Trainer, m, None)) for m in phase.methods), phase.name


def test_an_unknown_phase_is_refused(registry):
    with pytest.raises(TypeError, match=r"lists unknown phases \['warp'\]"):
        class Warp(_Weights):
            name = "contract-warp"
            phases = ("warp",)


def test_a_listed_phase_without_its_method_is_refused_when_the_class_is_defined(registry):
    with pytest.raises(TypeError, match=r"lists phases whose methods it does not define: backward needs "
                                        r"backward, forward, gradients_as_arrays, prepare_batch"):
        class NoBackward(_Weights):
            name = "contract-no-backward"
            phases = ("backward",)
    assert "contract-no-backward" not in registry


def test_the_default_train_step_needs_what_it_calls(registry):
    with pytest.raises(TypeError, match=r"train_step needs backward, update"):
        class HalfStep(_Weights):
            name = "contract-half-step"
            phases = ("train_step",)

            def prepare_batch(self, idx: np.ndarray) -> Any:
                return idx

            def forward(self, batch: Any) -> Any:
                return batch

            def batch_loss(self, state: Any, batch: Any) -> float:
                return 0.0


def test_a_phase_not_listed_needs_no_stub_and_its_method_says_what_is_timed(registry, small_data):
    class StepOnly(_Weights):
        name = "contract-step-only"
        phases = ("train_step", "full_run")

        def train_step(self, idx: np.ndarray) -> float:
            return float(len(idx))

    assert registry["contract-step-only"] is StepOnly
    trainer = StepOnly(TrainConfig.make(batch_size=1000), small_data)
    assert trainer.fit(1).epoch_losses == [1000.0]
    with pytest.raises(NotImplementedError, match=r"contract-step-only has no backward\(\): it times only "
                                                  r"train_step, full_run"):
        trainer.backward(None, None)
