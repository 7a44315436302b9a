"""Training reaches the expected accuracy on the real MNIST (the seed's defaults, whole-set accuracies)."""

from __future__ import annotations

import pytest

from impl.config import TrainConfig
from impl.registry import get_implementation


def test_v3_reaches_seed_accuracy_in_35_epochs(real_data):
    config = TrainConfig.make(batch_size=500)
    assert (config.epochs, config.learn_rate, config.decrease_rate) == (35, 1e-3, 1e-6)
    trainer = get_implementation("numpy-v3-sliced")(config, real_data)
    fit = trainer.fit()
    assert fit.final_learn_rate == 0.0009994051838157095  # the seed's printed value after 35 epochs
    assert trainer.accuracy("train") >= 0.975
    assert trainer.accuracy("test") >= 0.955


def test_tweaked_preset_passes_097_on_test(real_data):
    config = TrainConfig.make(preset="tweaked")
    assert config.epochs == 80 and config.learn_rate == pytest.approx(5e-3)
    trainer = get_implementation("numpy-v3-sliced")(config, real_data)
    trainer.fit()
    assert trainer.accuracy("test") >= 0.97
