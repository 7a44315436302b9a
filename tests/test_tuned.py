"""numpy-tuned: buffer reuse in every call pattern the harness uses, remainder batches, the line profiler on
its transitions (the roofline's tests are in tests/test_roofline.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tolerances import assert_all_close, assert_close

from bench import profile
from bench.cli import main
from impl.batching import epoch_batches
from impl.config import TrainConfig
from impl.numpy_mlp import reference
from impl.numpy_mlp.sigmoid import FORMS, SigmoidChoice, calibrate
from impl.numpy_mlp.tuned import BufferPool, NumpyTuned

GRAD_TOL = 2e-4  # float32 against the float64 reference, relative to the largest element (as test_equivalence)
WEIGHT_TOL = 1e-4


def reference_grads(trainer: NumpyTuned, data, idx: np.ndarray) -> list[np.ndarray]:
    c = trainer.config
    return reference.gradients(trainer.get_weights(), data.x_train[idx], data.onehot_train()[idx], c.lambda2,
                               c.lambda1)


def assert_grads(trainer: NumpyTuned, grads, data, idx: np.ndarray, what: str) -> None:
    for N, (g, ref) in enumerate(zip(trainer.gradients_as_arrays(grads), reference_grads(trainer, data, idx),
                                     strict=True)):
        assert g.shape == ref.shape
        assert_close(g, ref, GRAD_TOL, f"{what}: gradient of W{N}")


def _with_sigmoid(form: str) -> type[NumpyTuned]:
    """numpy-tuned with the sigmoid's form fixed (the class calibrates it once, at import)."""
    return type(f"Tuned_{form}", (NumpyTuned,), {"sigmoid": SigmoidChoice(form, {})})


@pytest.fixture
def trainer(small_data) -> NumpyTuned:
    return NumpyTuned(TrainConfig.make(batch_size=100, lambda1=0.01), small_data)


# -- buffer reuse ------------------------------------------------------------------------------------------
def test_prepared_batches_stay_valid_while_kept(trainer, small_data):
    indices = epoch_batches(0, 0, small_data.n_train, 100)[:3]
    batches = [trainer.prepare_batch(idx) for idx in indices]  # the harness keeps up to 8 alive
    assert len({id(b.x) for b in batches}) == 3
    for idx, batch in zip(indices, batches, strict=True):
        np.testing.assert_array_equal(batch.x, small_data.x_train[idx].astype(np.float32))
        np.testing.assert_array_equal(batch.y, small_data.onehot_train()[idx])


def test_harness_patterns_give_the_reference_gradients(trainer, small_data):
    indices = epoch_batches(0, 0, small_data.n_train, 100)[:3]
    batches = [trainer.prepare_batch(idx) for idx in indices]
    # forward_backward phase: forward then backward on one prepared batch after the other, cycling
    for _ in range(2):
        for idx, batch in zip(indices, batches, strict=True):
            assert_grads(trainer, trainer.forward_backward(batch), small_data, idx, "forward_backward")
    # backward phase: pedantic keeps the last (state, batch) alive while its setup runs the next forward (here:
    # the previous ``args`` stays bound while the next forward runs)
    for idx, batch in zip(indices * 2, batches * 2, strict=True):
        args = (trainer.forward(batch), batch)
        assert_grads(trainer, trainer.backward(*args), small_data, idx, "backward after setup")


def test_interleaved_calls_never_overwrite_what_is_still_held(trainer, small_data):
    i1, i2, i3 = epoch_batches(0, 0, small_data.n_train, 100)[:3]
    b1, b2 = trainer.prepare_batch(i1), trainer.prepare_batch(i2)
    s1, s2 = trainer.forward(b1), trainer.forward(b2)  # two live states: two buffer sets
    assert s1.a[1] is not s2.a[1]
    g1 = trainer.backward(s1, b1)
    g2 = trainer.backward(s2, b2)  # g1 is still held: g2 must not reuse its buffers
    b3 = trainer.prepare_batch(i3)  # b1, b2 held: a third batch buffer
    g3 = trainer.forward_backward(b3)
    assert_grads(trainer, g1, small_data, i1, "g1")
    assert_grads(trainer, g2, small_data, i2, "g2")
    assert_grads(trainer, g3, small_data, i3, "g3")
    x1 = b1.x[:5]  # a view keeps its buffer busy even when the batch object is gone
    del b1
    b4 = trainer.prepare_batch(i3)
    assert not np.shares_memory(b4.x, x1)
    np.testing.assert_array_equal(x1, small_data.x_train[i1[:5]].astype(np.float32))


def test_a_training_loop_reuses_one_set_of_buffers(small_data):
    trainer = NumpyTuned(TrainConfig.make(batch_size=512), small_data)  # 11 batches of 512 + one of 368
    trainer.fit(2)
    assert trainer._batch_pool.sizes() == {512: 1, 368: 1}
    assert trainer._state_pool.sizes() == {512: 1, 368: 1}
    assert trainer._grad_pool.sizes() == {None: 1}


def test_buffer_pool_hands_out_only_unreferenced_sets():
    made = []

    def make(key):
        made.append(key)
        return (np.zeros(key), np.zeros(key))

    pool = BufferPool(make, cap=2)
    first = pool.get(3)
    assert pool.get(3)[0] is not first[0]  # still held through the list `first`
    held_view = first[1][1:]
    del first
    assert len(made) == 2
    second = pool.get(3)  # the first set is busy through the view, the second is free
    assert len(made) == 2 and not np.shares_memory(second[1], held_view)
    del second
    third = pool.get(3)
    assert len(made) == 2 and not np.shares_memory(third[1], held_view)  # still the second set
    del held_view, third
    x, y = pool.get(3), pool.get(3)  # both free again: no new set
    assert len(made) == 2 and x[0] is not y[0]
    a, b, c = pool.get(4), pool.get(4), pool.get(4)  # beyond the cap: made but not pooled
    assert pool.sizes()[4] == 2 and len({id(s[0]) for s in (a, b, c)}) == 3


# -- mathematics details ---------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [2500, 7000])
def test_remainder_batches_train_like_the_reference(small_data, batch_size):
    # 6,000 samples: B=2500 gives 2500, 2500 and a 1000 remainder; B=7000 a single 6000-sample batch
    config = TrainConfig.make(batch_size=batch_size, decrease_rate=0.1, mom_rate=0.3, lambda1=0.01)
    trainer = NumpyTuned(config, small_data)
    sizes = {len(idx) for idx in trainer.batches(0)}
    assert sizes == ({2500, 1000} if batch_size == 2500 else {6000})
    trainer.fit(2)
    expected = reference.trained_weights(config, small_data.x_train, small_data.onehot_train(), 2)
    assert_all_close(trainer.get_weights(), expected, WEIGHT_TOL, "after two epochs")


def test_weights_round_trip_exactly_in_the_seed_layout(trainer):
    rng = np.random.default_rng(5)
    weights = [rng.standard_normal(w.shape).astype(np.float32).astype(np.float64) for w in trainer.get_weights()]
    trainer.set_weights(weights)
    for got, want in zip(trainer.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    assert [w.shape for w in trainer.get_weights()] == [(70, 785), (30, 71), (10, 31)]


@pytest.mark.parametrize("form", ["tanh", "exp"])
def test_loss_is_stable_and_saturation_leaves_no_subnormals(small_data, form):
    trainer = _with_sigmoid(form)(TrainConfig.make(batch_size=64), small_data)
    idx = epoch_batches(0, 0, small_data.n_train, 64)[0]
    weights = [30.0 * w for w in trainer.get_weights()]  # drive every sigmoid deep into saturation
    trainer.set_weights(weights)
    batch = trainer.prepare_batch(idx)
    state = trainer.forward(batch)
    expected = reference.loss(weights, small_data.x_train[idx], small_data.onehot_train()[idx],
                              trainer.config.lambda2)
    assert np.isfinite(expected) and trainer.batch_loss(state, batch) == pytest.approx(expected, rel=2e-5)
    tiny = np.finfo(np.float32).tiny
    for a in state.a[1:]:
        assert not np.any((a != 0) & (np.abs(a) < tiny))
    assert np.any(state.a[1] == 1.0)  # saturated outputs are exactly 1 (and 0: below)
    if form == "tanh":  # tanh(z / 2) rounds to -1 from z = -18 on; 1 / (1 + exp(-z)) only reaches 0 at z = -87.3
        assert np.any(state.a[1] == 0.0)


# -- profiling --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transition", ["fw:1", "fw:2", "fw:3", "bw:0", "bw:1", "bw:2"])
def test_every_transition_can_be_line_profiled(small_data, transition):
    trainer = NumpyTuned(TrainConfig.make(batch_size=100), small_data)
    result = profile.profile_transition(trainer, transition, steps=3)
    assert {row.hits for row in result.rows if "np.dot(" in row.source and row.hits} == {3}


def test_profile_command_works(tmp_path, capsys):
    args = ["profile", "--impl", "numpy-tuned", "--transition", "bw:1", "--synthetic", "--steps", "3",
            "--batch-size", "100", "--threads", "1", "--results-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "numpy-tuned" in out and "_bw_prop_Np1_to_N" in out


def test_chunk_fused_train_step_matches_the_plain_phases(small_data):
    config = TrainConfig.make(batch_size=300, lambda1=0.01, mom_rate=0.5)
    fused = type("FusedTuned", (NumpyTuned,), {"chunk_rows": 64})(config, small_data)  # 300 rows: 5 chunks of 60
    plain = NumpyTuned(config, small_data)
    for idx in epoch_batches(0, 0, small_data.n_train, 300)[:3]:
        batch = plain.prepare_batch(idx)
        state = plain.forward(batch)
        expected = plain.batch_loss(state, batch)
        plain.update(plain.backward(state, batch))
        assert fused.train_step(idx) == pytest.approx(expected, rel=1e-5)
        for w, ref in zip(fused.get_weights(), plain.get_weights(), strict=True):
            assert_close(w, ref, 1e-5, "weights after a fused step")
    assert fused._batch_pool.sizes() == {60: 1} and fused._state_pool.sizes() == {60: 1}


def test_padding_units_stay_dead(small_data):
    trainer = NumpyTuned(TrainConfig.make(batch_size=500, lambda1=0.01, mom_rate=0.5), small_data)
    assert trainer._width == (784, 72, 32, 10)
    trainer.fit(1)
    W0, W1, W2 = trainer._w
    b0, b1, _ = trainer._b
    assert not W0[70:].any() and not b0[70:].any() and not W1[:, 70:].any()
    assert not W1[30:].any() and not b1[30:].any() and not W2[:, 30:].any()
    assert not trainer._mom.reshape(-1)[trainer._params == 0].any()
    batch = trainer.prepare_batch(trainer.batches(1)[0])
    state = trainer.forward(batch)
    grads = trainer.backward(state, batch)
    assert not state.delta[1][:, 70:].any() and not grads.w[0][70:].any() and not grads.w[1][:, 70:].any()
    assert [g.shape for g in trainer.gradients_as_arrays(grads)] == [(70, 785), (30, 71), (10, 31)]


def test_chunk_rows_follow_the_l2_cache_one_row_per_kib(tmp_path):
    from impl.numpy_mlp import cache

    assert [cache.rows_for(kib * 1024) for kib in (1024, 2048, 1280, 512, 64, 1 << 20)] == \
        [1024, 2048, 1024, 512, cache.MIN_ROWS, cache.MAX_ROWS]
    index = tmp_path / "index2"
    index.mkdir()
    (index / "level").write_text("2\n")
    (index / "type").write_text("Unified\n")
    (index / "size").write_text("2048K\n")
    assert cache.chunk_choice(tmp_path) == cache.ChunkChoice(2048, 2 << 20, "sysfs")
    (index / "size").write_text("garbage\n")
    assert cache.l2_from_sysfs(tmp_path) is None  # unreadable: sysconf, then the fallback


def test_without_a_readable_l2_the_chunk_falls_back_and_says_so(tmp_path, monkeypatch):
    from impl.numpy_mlp import cache

    monkeypatch.setattr(cache, "l2_from_sysconf", lambda: None)
    choice = cache.chunk_choice(tmp_path)  # an empty cache folder
    assert choice == cache.ChunkChoice(cache.FALLBACK_ROWS, None, "fallback")
    assert "not readable" in choice.describe()
    assert "2048 KiB L2, read from sysfs" in cache.ChunkChoice(2048, 2 << 20, "sysfs").describe()


def test_the_run_records_where_the_chunk_came_from(trainer):
    facts = trainer.run_facts()
    assert facts["chunk_rows"] == NumpyTuned.chunk_rows
    assert facts["chunk_rows_source"] in ("sysfs", "sysconf", "fallback")


# -- the sigmoid's form ------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["tanh", "exp"])
def test_either_sigmoid_form_trains_like_the_reference(small_data, form):
    config = TrainConfig.make(batch_size=500, mom_rate=0.5, lambda1=0.01)
    trainer = _with_sigmoid(form)(config, small_data)
    idx = epoch_batches(0, 0, small_data.n_train, 500)[0]
    assert_grads(trainer, trainer.backward(trainer.forward(trainer.prepare_batch(idx)), trainer.prepare_batch(idx)),
                 small_data, idx, f"{form} form")
    trainer.fit(2)
    expected = reference.trained_weights(config, small_data.x_train, small_data.onehot_train(), 2)
    assert_all_close(trainer.get_weights(), expected, WEIGHT_TOL, f"{form} form after two epochs")


@pytest.mark.parametrize("form", ["tanh", "exp"])
def test_either_sigmoid_form_saturates_to_exactly_0_and_1_without_warnings(form):
    z = np.array([[-200.0, -100.0, -88.8, -20.0, 0.0, 20.0, 100.0, 200.0]], np.float32)
    out = np.empty_like(z)
    with warnings.catch_warnings():  # the exp form's expected overflow must not surface as a warning
        warnings.simplefilter("error")
        FORMS[form](z.copy(), np.empty_like(z), out)
    assert out[0, 0] == 0.0 and out[0, 1] == 0.0 and out[0, 2] == 0.0 and out[0, -1] == 1.0
    assert out[0, 4] == 0.5 and not np.any((out != 0) & (out < np.finfo(np.float32).tiny))
    expected = 1 / (1 + np.exp(-z.astype(np.float64)))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1.2e-7)  # within one unit in the last place of 1


def test_the_calibration_keeps_the_faster_form_and_the_run_records_it(trainer):
    choice = calibrate(rows=64, width=8, repeats=3, calls=2)
    assert set(choice.seconds) == set(FORMS) and all(s > 0 for s in choice.seconds.values())
    assert choice.seconds[choice.form] == min(choice.seconds.values())
    assert choice.form in choice.describe()
    facts = trainer.run_facts()
    assert facts["sigmoid_form"] == NumpyTuned.sigmoid.form and set(facts["sigmoid_seconds"]) == set(FORMS)
