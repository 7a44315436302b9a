"""Every implementation computes the seed's mathematics: same weights + same batch -> same loss, gradients and
updated weights as the float64 reference; one epoch from the same seed -> the same weights.

Tolerances by dtype. float64 implementations differ from the reference only in summation order: 1e-9
relative. float32 has a unit roundoff of 6e-8; a 784-term dot product and a 64-sample sum keep the relative
error of the loss below ~1e-5 and of the gradients below ~1e-4 of their largest element (used as ``atol``),
and a dozen SGD steps stay within 1e-4 of the weights' scale.
"""

from __future__ import annotations

import numpy as np
import pytest

from impl.batching import epoch_batches, initial_weights
from impl.config import TrainConfig
from impl.numpy_mlp import reference
from impl.registry import implementations_for

TOLERANCE = {"float64": {"loss": 1e-9, "grad": 1e-9, "weights": 1e-9},
             "float32": {"loss": 2e-5, "grad": 2e-4, "weights": 1e-4}}

MLP_IMPLS = [cls for cls in implementations_for("mlp") if cls.shared_batch_order]


def assert_close(actual: np.ndarray, expected: np.ndarray, rel: float, what: str) -> None:
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale, err_msg=what)


@pytest.fixture(params=MLP_IMPLS, ids=lambda cls: cls.name)
def impl_cls(request):
    return request.param


def test_the_five_seed_variants_are_registered():
    names = {cls.name for cls in MLP_IMPLS}
    assert {"numpy-v0-naive", "numpy-v1-float32", "numpy-v2-c", "numpy-v2-f", "numpy-v3-sliced"} <= names


def test_same_batch_gives_reference_loss_gradients_and_update(impl_cls, small_data):
    config = TrainConfig.make(batch_size=64, lambda1=0.01, mom_rate=0.5)
    tol = TOLERANCE[impl_cls.dtype]
    trainer = impl_cls(config, small_data)
    weights = initial_weights(config.layers, config.seed)
    momentum = [np.zeros_like(w) for w in weights]
    x, y = small_data.x_train, small_data.onehot_train()
    for idx in epoch_batches(config.seed, 0, small_data.n_train, config.batch_size)[:2]:  # 2nd uses momentum
        batch = trainer.prepare_batch(idx)
        state = trainer.forward(batch)
        expected_loss = reference.loss(weights, x[idx], y[idx], config.lambda2, config.lambda1)
        assert trainer.batch_loss(state, batch) == pytest.approx(expected_loss, rel=tol["loss"])
        grads = trainer.backward(state, batch)
        expected_grads = reference.gradients(weights, x[idx], y[idx], config.lambda2, config.lambda1)
        for N, (g, ref) in enumerate(zip(trainer.gradients_as_arrays(grads), expected_grads, strict=True)):
            assert_close(g, ref, tol["grad"], f"gradient of W{N}")
        trainer.update(grads)
        weights, momentum = reference.momentum_step(weights, momentum, expected_grads, config.learn_rate,
                                                    config.mom_rate)
        for N, (w, ref) in enumerate(zip(trainer.get_weights(), weights, strict=True)):
            assert_close(w, ref, tol["weights"], f"updated W{N}")


def reference_epochs(config: TrainConfig, data, epochs: int) -> list[np.ndarray]:
    """The seed's training loop written with the reference functions: lr decay, shared batches, momentum."""
    weights = initial_weights(config.layers, config.seed)
    momentum = [np.zeros_like(w) for w in weights]
    x, y = data.x_train, data.onehot_train()
    lr = config.learn_rate
    for epoch in range(epochs):
        lr /= 1.0 + config.decrease_rate * epoch
        for idx in epoch_batches(config.seed, epoch, data.n_train, config.batch_size):
            grads = reference.gradients(weights, x[idx], y[idx], config.lambda2, config.lambda1)
            weights, momentum = reference.momentum_step(weights, momentum, grads, lr, config.mom_rate)
    return weights


def test_epochs_from_the_same_seed_end_at_the_same_weights(impl_cls, small_data):
    # 6,000 samples with B=512: 11 full batches and a 368-sample remainder per epoch; a big decay makes the
    # schedule visible in the second epoch
    config = TrainConfig.make(batch_size=512, decrease_rate=0.1, mom_rate=0.3)
    trainer = impl_cls(config, small_data)
    trainer.fit(2)
    expected = reference_epochs(config, small_data, 2)
    for N, (w, ref) in enumerate(zip(trainer.get_weights(), expected, strict=True)):
        assert_close(w, ref, TOLERANCE[impl_cls.dtype]["weights"], f"W{N} after two epochs")


def test_reset_restores_the_start(impl_cls, small_data):
    trainer = impl_cls(TrainConfig.make(batch_size=1000), small_data)
    before = trainer.get_weights()
    trainer.fit(1)
    assert trainer.learn_rate == trainer.config.learn_rate and trainer.epoch == 1
    trainer.reset()
    assert trainer.epoch == 0
    for w, w0 in zip(trainer.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)


def test_full_set_accuracy_matches_reference(impl_cls, small_data):
    trainer = impl_cls(TrainConfig.make(), small_data)
    weights = initial_weights(trainer.config.layers, 0)
    expected = np.mean(np.argmax(reference.forward(weights, small_data.x_test)[-1], axis=1) == small_data.y_test)
    assert trainer.accuracy("test") == pytest.approx(expected, abs=2e-4)  # float32 ties may flip a sample


def test_declares_every_layer_transition(impl_cls, small_data):
    trainer = impl_cls(TrainConfig.make(), small_data)
    if trainer.line_profile_refusal:
        pytest.skip(f"{impl_cls.name} is not line-profilable: {trainer.line_profile_refusal}")
    assert set(trainer.transitions()) == {"fw:1", "fw:2", "fw:3", "bw:0", "bw:1", "bw:2"}


def test_finite_difference_gradient_check_of_the_reference():
    rng = np.random.default_rng(3)
    layers = (5, 4, 3, 2)
    weights = initial_weights(layers, seed=7)
    x = rng.standard_normal((6, 5))
    y = np.eye(2)[rng.integers(0, 2, 6)]
    lambda2, lambda1 = 0.3, 0.05
    analytic = reference.gradients(weights, x, y, lambda2, lambda1)
    eps = 1e-6
    for N, W in enumerate(weights):
        numeric = np.zeros_like(W)
        for i, j in np.ndindex(W.shape):
            plus = [w.copy() for w in weights]
            minus = [w.copy() for w in weights]
            plus[N][i, j] += eps
            minus[N][i, j] -= eps
            numeric[i, j] = (reference.loss(plus, x, y, lambda2, lambda1)
                             - reference.loss(minus, x, y, lambda2, lambda1)) / (2 * eps)
        np.testing.assert_allclose(analytic[N], numeric, rtol=1e-6, atol=1e-8, err_msg=f"W{N}")
