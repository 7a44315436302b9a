"""Every implementation computes the seed's mathematics: same weights + same batch -> same loss, gradients and
updated weights as the float64 reference; two epochs from the same seed -> the same weights. Tolerances by
dtype are written down and justified in tests/tolerances.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from tolerances import TOLERANCE, assert_all_close

from impl.batching import initial_weights
from impl.config import SEED_LAYERS, TrainConfig, layer_text
from impl.numpy_mlp import reference
from impl.registry import implementations_for

MLP_IMPLS = [cls for cls in implementations_for("mlp") if cls.shared_batch_order]
#: the seed's model and one of another depth and width (four hidden layers, widths off numpy-tuned's padding)
MODELS = [SEED_LAYERS, (784, 100, 45, 20, 12, 10)]


@pytest.fixture(params=MLP_IMPLS, ids=lambda cls: cls.name)
def impl_cls(request):
    return request.param


@pytest.fixture(params=MODELS, ids=layer_text)
def layers(request):
    return request.param


def test_the_five_seed_variants_are_registered():
    names = {cls.name for cls in MLP_IMPLS}
    assert {"numpy-v0-naive", "numpy-v1-float32", "numpy-v2-c", "numpy-v2-f", "numpy-v3-sliced"} <= names


def test_same_batch_gives_reference_loss_gradients_and_update(impl_cls, layers, small_data):
    config = TrainConfig.make(batch_size=64, lambda1=0.01, mom_rate=0.5, layers=layers)
    tol = TOLERANCE[impl_cls.dtype]
    trainer = impl_cls(config, small_data)
    steps = reference.training_steps(config, small_data.x_train, small_data.onehot_train())
    for step in itertools.islice(steps, 2):  # the second step uses the momentum
        batch = trainer.prepare_batch(step.idx)
        state = trainer.forward(batch)
        assert trainer.batch_loss(state, batch) == pytest.approx(step.loss, rel=tol["loss"])
        # a compiled peer has no backward apart from its forward pass: its gradients come from forward_backward
        grads = trainer.backward(state, batch) if "backward" in trainer.phases else trainer.forward_backward(batch)
        assert_all_close(trainer.gradients_as_arrays(grads), step.gradients, tol["grad"], "gradient of")
        trainer.update(grads)
        assert_all_close(trainer.get_weights(), step.weights_after, tol["weights"], "updated")


def test_epochs_from_the_same_seed_end_at_the_same_weights(impl_cls, layers, small_data):
    # 6,000 samples with B=512: 11 full batches and a 368-sample remainder per epoch; a big decay makes the
    # schedule visible in the second epoch
    config = TrainConfig.make(batch_size=512, decrease_rate=0.1, mom_rate=0.3, layers=layers)
    trainer = impl_cls(config, small_data)
    trainer.fit(2)
    expected = reference.trained_weights(config, small_data.x_train, small_data.onehot_train(), 2)
    assert_all_close(trainer.get_weights(), expected, TOLERANCE[impl_cls.dtype]["weights"], "after two epochs")


def test_reset_restores_the_start(impl_cls, small_data):
    trainer = impl_cls(TrainConfig.make(batch_size=1000), small_data)
    before = trainer.get_weights()
    trainer.fit(1)
    assert trainer.learn_rate == trainer.config.learn_rate and trainer.epoch == 1
    trainer.reset()
    assert trainer.epoch == 0
    for w, w0 in zip(trainer.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)


def test_full_set_accuracy_matches_reference(impl_cls, layers, small_data):
    trainer = impl_cls(TrainConfig.make(layers=layers), small_data)
    weights = initial_weights(layers, 0)
    expected = np.mean(np.argmax(reference.forward(weights, small_data.x_test)[-1], axis=1) == small_data.y_test)
    assert trainer.accuracy("test") == pytest.approx(expected, abs=2e-4)  # float32 ties may flip a sample


def test_declares_every_layer_transition(impl_cls, layers, small_data):
    trainer = impl_cls(TrainConfig.make(layers=layers), small_data)
    if trainer.line_profile_refusal:
        pytest.skip(f"{impl_cls.name} is not line-profilable: {trainer.line_profile_refusal}")
    expected = {f"fw:{N}" for N in range(1, len(layers))}
    if not trainer.backward_profile_refusal:  # autograd's backward transitions are refused, with the reason
        expected |= {f"bw:{N}" for N in range(len(layers) - 1)}
    assert set(trainer.transitions()) == expected


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
