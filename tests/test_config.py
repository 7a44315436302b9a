"""Hyperparameters, the learning-rate rule, the shared initialiser and batch order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from impl.batching import epoch_batches, initial_weights, n_batches
from impl.config import PRESETS, TrainConfig, default_learn_rate
from impl.errors import ConfigError


def test_learn_rate_follows_the_seed_at_its_two_batch_sizes():
    assert default_learn_rate(500) == pytest.approx(1e-3, rel=1e-12)
    assert default_learn_rate(20000) == pytest.approx(1e-4, rel=1e-12)
    assert default_learn_rate(500) > default_learn_rate(5000) > default_learn_rate(20000)


def test_config_defaults_are_the_seed_step_iii_values():
    c = TrainConfig.make()
    assert (c.layers, c.batch_size, c.epochs, c.learn_rate, c.decrease_rate, c.mom_rate, c.lambda2, c.lambda1) == (
        (784, 70, 30, 10), 500, 35, 1e-3, 1e-6, 5e-5, 0.2, 0.0)
    assert TrainConfig.make(batch_size=20000).learn_rate == pytest.approx(1e-4)
    assert TrainConfig.make(learn_rate=0.5).learn_rate == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.batch_size = 3  # frozen


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"batch_size": 60001}, {"epochs": 0}, {"preset": "nope"},
                                 {"learn_rate": -1.0}, {"layers": (784, 10)}, {"layers": (784, 0, 10)},
                                 {"layers": (784, -3, 10)}, {"layers": (100, 70, 10)}, {"layers": (784, 70, 9)},
                                 {"layers": (784, 7.5, 10)}, {"layers": (784, True, 10)}])
def test_impossible_settings_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as err:
        TrainConfig.make(**bad)
    assert "\n" not in str(err.value)


def test_presets_are_known():
    assert "seed" in PRESETS and TrainConfig.make(preset="xiii").decrease_rate == 1e-5


def test_initialiser_uses_the_seed_range_and_layout():
    weights = initial_weights((784, 70, 30, 10), seed=0)
    assert [w.shape for w in weights] == [(70, 785), (30, 71), (10, 31)]
    for w, fan_in in zip(weights, (784, 70, 30), strict=True):
        bound = 0.5 * np.sqrt(1 / fan_in)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    np.testing.assert_array_equal(weights[0], initial_weights((784, 70, 30, 10), seed=0)[0])
    assert not np.array_equal(weights[0], initial_weights((784, 70, 30, 10), seed=1)[0])


def test_batch_order_covers_every_sample_once_and_keeps_the_remainder():
    batches = epoch_batches(seed=0, epoch=0, n_samples=60000, batch_size=7000)
    assert [len(b) for b in batches] == [7000] * 8 + [4000] and len(batches) == n_batches(60000, 7000)
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(60000))
    again = epoch_batches(seed=0, epoch=0, n_samples=60000, batch_size=7000)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other_epoch = epoch_batches(seed=0, epoch=1, n_samples=60000, batch_size=7000)
    assert not np.array_equal(batches[0], other_epoch[0])


def test_the_initialiser_schemes_the_seed_text_allows():
    fan_out, zero_bias = (initial_weights((784, 70, 30, 10), seed=0, scheme=s) for s in ("fan-out", "fan-in-zero-bias"))
    for w, n_out in zip(fan_out, (70, 30, 10), strict=True):
        assert 0.9 * 0.5 * np.sqrt(1 / n_out) < np.abs(w).max() <= 0.5 * np.sqrt(1 / n_out)
    assert all(not w[:, 0].any() and w[:, 1:].any() for w in zero_bias)


def test_the_batch_orders_the_seed_text_allows():
    once = [epoch_batches(0, epoch, 1000, 300, "once") for epoch in (0, 5)]
    assert all(np.array_equal(a, b) for a, b in zip(*once, strict=True))  # one permutation for every epoch
    stored = epoch_batches(0, 3, 1000, 300, "none")
    np.testing.assert_array_equal(np.concatenate(stored), np.arange(1000))


@pytest.mark.parametrize("field, value", [("init", "glorot"), ("shuffle", "sometimes")])
def test_an_unknown_init_or_shuffle_is_a_one_line_error(field, value):
    with pytest.raises(ConfigError, match=f"unknown {field} '{value}'; choose one of"):
        TrainConfig.make(**{field: value})


def test_any_hidden_widths_and_depths_are_a_model():
    assert TrainConfig.make(layers=(784, 1120, 480, 10)).layers == (784, 1120, 480, 10)
    assert TrainConfig.make(layers=(784, 70, 30, 30, 30, 10)).layers == (784, 70, 30, 30, 30, 10)
    assert TrainConfig.make(layers=None).layers == (784, 70, 30, 10)  # None: the seed's, as for other overrides
