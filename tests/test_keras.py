"""The Keras implementations: the seed's mathematics in Keras (keras-cpu, also with XLA as keras-gpu runs it),
stock model.fit as a reference point (keras-fit-cpu), the seed's CNN (keras-cnn-cpu), and how they behave
where Keras or a GPU is missing.

Tests that need Keras skip with the install hint when it is missing, unless MLPBENCH_REQUIRE_KERAS=1 (CI):
then ``test_keras_is_installed_when_required`` fails. GPU variants skip with the reason where no GPU is.
TensorFlow starts once for this module (module-scoped trainers); the CLI tests run in subprocesses, and so do
the equivalence tests on the other Keras backends (Keras picks its backend once per process, at import): a
backend that is not installed is skipped with the reason, unless MLPBENCH_REQUIRE_KERAS_BACKENDS=1 (CI).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tolerances import TOLERANCE, assert_all_close, assert_close

from impl.batching import epoch_batches, initial_weights
from impl.config import TrainConfig
from impl.errors import ConfigError, UnavailableError
from impl.frameworks import placement_kind
from impl.keras import runtime
from impl.numpy_mlp import reference
from impl.registry import all_implementations, get_implementation

ROOT = Path(__file__).resolve().parents[1]
KERAS_REASON = runtime.keras_unavailable_reason()
needs_keras = pytest.mark.skipif(KERAS_REASON is not None, reason=f"Keras unavailable: {KERAS_REASON}")
KERAS_IMPLS = [name for name in all_implementations() if name.startswith("keras-")]
GPU_IMPLS = [name for name in KERAS_IMPLS if all_implementations()[name].device == "gpu"]
TOL = TOLERANCE["float32"]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})


# ---------------------------------------------------------------- availability: no framework needed

def test_keras_is_installed_when_required():
    if KERAS_REASON is None:
        return
    if os.environ.get(runtime.REQUIRE_ENV) == "1":
        pytest.fail(f"{runtime.REQUIRE_ENV}=1 but {KERAS_REASON}")
    pytest.skip(f"Keras unavailable: {KERAS_REASON}")


def test_every_keras_variant_is_registered():
    assert {"keras-cpu", "keras-gpu", "keras-fit-cpu", "keras-fit-gpu", "keras-cnn-cpu",
            "keras-cnn-gpu"} <= set(KERAS_IMPLS)
    for name in KERAS_IMPLS:
        cls = all_implementations()[name]
        assert cls.workload == ("cnn" if "cnn" in name else "mlp") and cls.line_profile_refusal
        assert isinstance(cls.jit_compile, bool) and f"jit_compile={cls.jit_compile}" in cls.description


def test_missing_keras_gives_the_install_hint(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(runtime, "configured_backend", lambda: "tensorflow")
    monkeypatch.setattr(runtime, "installed_version", lambda dist: None)
    reason = runtime.keras_unavailable_reason()
    assert reason is not None and 'pip install -e ".[keras]"' in reason
    for name in KERAS_IMPLS:
        assert 'pip install -e ".[keras]"' in all_implementations()[name].unavailable_reason()
        assert all_implementations()[name].short_unavailable_reason() == "needs extra: keras"
    with pytest.raises(UnavailableError, match=r"keras-cpu is not available here: Keras is not installed"):
        get_implementation("keras-cpu")


def test_missing_backend_is_named(monkeypatch):
    monkeypatch.setattr(runtime, "configured_backend", lambda: "torch")
    monkeypatch.setattr(runtime, "installed_version", lambda dist: "3.15.0" if dist == "keras" else None)
    assert "pip install torch" in runtime.keras_unavailable_reason()
    assert runtime.keras_unavailable_reason().short == "needs package: torch"
    monkeypatch.setattr(runtime, "configured_backend", lambda: "numpy")
    assert "cannot train" in runtime.keras_unavailable_reason()


@pytest.mark.parametrize("backend", list(runtime.BACKEND_PACKAGES))
def test_every_keras_variant_accepts_every_backend(monkeypatch, backend):
    monkeypatch.setenv("KERAS_BACKEND", backend)
    monkeypatch.setattr(runtime, "installed_version", lambda dist: "3.15.0")  # keras and every backend present
    monkeypatch.setattr(runtime, "probe_gpu", lambda *args, **kwargs: None)
    for name in KERAS_IMPLS:
        assert all_implementations()[name].unavailable_reason() is None, (name, backend)


def test_gpu_probe_answers_cheaply_without_a_gpu(monkeypatch):
    from impl import frameworks
    frameworks._gpu_probe.cache_clear()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(frameworks.shutil, "which", lambda name: None)
    monkeypatch.setattr(frameworks.Path, "glob", lambda self, pattern: iter(()))
    monkeypatch.setattr(frameworks.subprocess, "run", lambda *a, **k: pytest.fail("probe started a process"))
    assert "no GPU found" in frameworks.gpu_unavailable_reason("tensorflow", "print(1)")
    assert frameworks.gpu_unavailable_reason("tensorflow", "print(1)").short == "no GPU"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert "CUDA_VISIBLE_DEVICES" in frameworks.gpu_unavailable_reason("tensorflow", "print(1)")
    frameworks._gpu_probe.cache_clear()


def test_thread_counts_come_from_mlpbench_threads_else_blas(monkeypatch):
    monkeypatch.setenv("MLPBENCH_THREADS", "3")
    assert runtime.requested_threads() == (3, "MLPBENCH_THREADS")
    monkeypatch.setenv("MLPBENCH_THREADS", "zero")
    with pytest.raises(ConfigError, match="MLPBENCH_THREADS must be a positive integer"):
        runtime.requested_threads()
    monkeypatch.delenv("MLPBENCH_THREADS")
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        assert runtime.requested_threads() in ((1, "blas"), (os.cpu_count(), "cpu_count"))


@pytest.mark.parametrize("name", GPU_IMPLS)
def test_gpu_variants_say_why_they_cannot_run(name):
    reason = all_implementations()[name].unavailable_reason()
    if reason is None:
        pytest.skip(f"{name} has a GPU here")
    assert "GPU" in reason or "Keras" in reason  # no GPU, or Keras itself missing (with the install hint)


@pytest.mark.parametrize("name", KERAS_IMPLS)
def test_each_variant_trains_on_its_verified_device(name, small_data):
    cls = all_implementations()[name]
    reason = cls.unavailable_reason()
    if reason:  # keras-*-gpu without a GPU: skipped, with the reason in pytest's summary
        if KERAS_REASON and os.environ.get(runtime.REQUIRE_ENV) == "1":
            pytest.fail(f"{runtime.REQUIRE_ENV}=1 but {reason}")
        pytest.skip(f"{name} is not available here: {reason}")
    trainer = cls(TrainConfig.make(batch_size=1000), small_data)
    assert np.isfinite(trainer.train_step(trainer.batches(0)[0]))
    facts = trainer.run_facts()
    assert facts["device"] == cls.device and placement_kind(facts["placement"]) == cls.device
    assert set(cls.phases) <= {"prepare", "forward", "forward_backward", "train_step", "full_run"}


def test_importing_every_implementation_does_not_start_a_framework():
    code = ("import sys, impl.registry as r\n"
            "[cls.unavailable_reason() for cls in r.all_implementations().values()]\n"
            "loaded = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    done = run("-c", code)
    assert done.returncode == 0, done.stderr


def test_list_shows_the_keras_implementations_and_why_gpu_ones_cannot_run():
    short, long = run("-m", "bench.cli", "list"), run("-m", "bench.cli", "list", "--long")
    assert short.returncode == 0 and long.returncode == 0, short.stderr + long.stderr
    lines = {line.split()[0]: line for line in short.stdout.splitlines()[2:] if line.strip()}
    for name in KERAS_IMPLS:
        cls = all_implementations()[name]
        reason = cls.short_unavailable_reason()
        assert name in lines and (lines[name].endswith(f"no: {reason}") if reason else lines[name].endswith(" yes"))
        if reason:  # --long shows the full reason, wrapped: its first words start the name's line
            full = str(cls.unavailable_reason())
            assert any(line.startswith(name) and full.split()[0] in line for line in long.stdout.splitlines())


def test_train_on_a_missing_gpu_is_a_one_line_error():
    if all_implementations()["keras-gpu"].unavailable_reason() is None:
        pytest.skip("keras-gpu has a GPU here")
    done = run("-m", "bench.cli", "train", "--impl", "keras-gpu", "--synthetic", "--epochs", "1")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mlp-bench: error: keras-gpu is not available here:"), lines


# ---------------------------------------------------------------- the same mathematics on every backend

OTHER_BACKENDS = [backend for backend in runtime.BACKEND_PACKAGES if backend != runtime.configured_backend()]


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_keras_equivalence_holds_on_the_other_backends(backend, monkeypatch):
    """tests/test_equivalence.py -k keras in a fresh process with KERAS_BACKEND=backend: the backend-specific
    step (keras-cpu's glue) must give the reference's loss, gradients and weights on every backend."""
    monkeypatch.setenv("KERAS_BACKEND", backend)
    reason = runtime.keras_unavailable_reason()  # package metadata only: nothing is imported
    if reason:
        if os.environ.get(runtime.REQUIRE_BACKENDS_ENV) == "1":
            pytest.fail(f"{runtime.REQUIRE_BACKENDS_ENV}=1 but {reason}")
        pytest.skip(f"KERAS_BACKEND={backend} cannot run here: {reason}")
    done = run("-m", "pytest", "tests/test_equivalence.py", "-k", "keras", "-q", "-p", "no:cacheprovider",
               env={"KERAS_BACKEND": backend}, timeout=300)
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    assert done.returncode == 0, f"KERAS_BACKEND={backend}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 3, f"KERAS_BACKEND={backend}: too few tests ran: {summary}"


# ---------------------------------------------------------------- keras-cpu: the seed's mathematics

class KerasCPUWithXLA(get_implementation("keras-cpu", require_available=False)):  # no name: not registered
    """keras-cpu compiled with XLA, as keras-gpu is: the same mathematics must come out."""

    jit_compile = True


@pytest.fixture(scope="module", params=[False, True], ids=["keras-cpu", "keras-cpu-xla"])
def mlp_cls(request):
    if KERAS_REASON:
        pytest.skip(f"Keras unavailable: {KERAS_REASON}")
    return KerasCPUWithXLA if request.param else get_implementation("keras-cpu")


@pytest.fixture(scope="module")
def one_step_trainer(mlp_cls, small_data):
    return mlp_cls(TrainConfig.make(batch_size=64, lambda1=0.01, mom_rate=0.5), small_data)


def test_loss_gradients_and_updates_equal_the_reference(one_step_trainer, small_data):
    trainer, config = one_step_trainer, one_step_trainer.config
    trainer.reset()
    x, y = small_data.x_train, small_data.onehot_train()
    for step in itertools.islice(reference.training_steps(config, x, y), 3):  # 2nd, 3rd: momentum
        batch = trainer.prepare_batch(step.idx)
        state = trainer.forward(batch)
        assert trainer.batch_loss(state, batch) == pytest.approx(step.loss, rel=TOL["loss"])
        np.testing.assert_allclose(np.asarray(state[1]), reference.forward(step.weights, x[step.idx])[-1], atol=1e-5)
        grads = trainer.forward_backward(batch)
        assert_all_close(trainer.gradients_as_arrays(grads), step.gradients, TOL["grad"], "gradient of")
        trainer.update(grads)
        assert_all_close(trainer.get_weights(), step.weights_after, TOL["weights"], "updated")


def test_the_fused_train_step_equals_the_reference_step(one_step_trainer, small_data):
    trainer, config = one_step_trainer, one_step_trainer.config
    trainer.reset()
    x, y = small_data.x_train, small_data.onehot_train()
    for step in itertools.islice(reference.training_steps(config, x, y), 2):
        assert trainer.train_step(step.idx) == pytest.approx(step.loss, rel=TOL["loss"])
    assert_all_close(trainer.get_weights(), step.weights_after, TOL["weights"], "after two train steps")


def test_two_epochs_end_at_the_reference_weights_without_retracing(mlp_cls, small_data):
    # B=512 on 6,000 samples: a 368-sample last batch (a second shape); a big decay shows the schedule
    config = TrainConfig.make(batch_size=512, decrease_rate=0.1, mom_rate=0.3)
    trainer = mlp_cls(config, small_data)
    trainer.warm_up()
    traced = trainer.tracing_counts()
    if trainer.backend_name != "torch":  # eager PyTorch traces nothing and reports {}
        assert traced["train_step"] == 2  # one per batch shape, all during warm_up
    assert trainer.get_weights()[0] == pytest.approx(initial_weights(config.layers, config.seed)[0])
    fit = trainer.fit(2)
    assert trainer.tracing_counts() == traced  # the lr decay changed a variable, not the compiled step
    assert len(fit.per_epoch_seconds) == 2 and fit.final_learn_rate == pytest.approx(config.learn_rate / 1.1)
    expected = reference.trained_weights(config, small_data.x_train, small_data.onehot_train(), 2)
    assert_all_close(trainer.get_weights(), expected, TOL["weights"], "after two epochs")


def test_run_facts_record_backend_device_xla_and_threads(one_step_trainer):
    facts = one_step_trainer.run_facts()
    assert facts["backend"] == runtime.configured_backend() and facts["device"] == "cpu"
    assert "CPU" in facts["placement"].upper()
    cls = type(one_step_trainer)  # XLA on TF as the class says, always jax.jit on JAX, torch.compile opt-in
    assert facts["jit_compile"] is {"jax": True, "torch": cls.torch_compile}.get(facts["backend"], cls.jit_compile)
    assert facts["threads"] >= 1 and facts["threads_source"] in ("blas", "MLPBENCH_THREADS", "cpu_count")
    if facts["threads_applied"] and facts["backend"] == "tensorflow":
        assert facts["threads"] == runtime.thread_facts()["requested"]
        assert facts["inter_op_threads"] == int(os.environ.get(runtime.INTEROP_ENV) or facts["threads"])
    assert facts["keras_version"] and facts["backend_version"]
    assert one_step_trainer.phases == ("prepare", "forward", "forward_backward", "train_step", "full_run")


@needs_keras
def test_thread_count_follows_mlpbench_threads_set_before_the_runtime():
    code = ("import json, impl.keras.runtime as k; k.keras_runtime(); import keras; keras.ops.ones(1); "
            "print(json.dumps(k.thread_facts()))")
    done = run("-c", code, env={"MLPBENCH_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["requested"] == 1 and facts["source"] == "MLPBENCH_THREADS" and facts["applied"]
    if runtime.configured_backend() == "tensorflow":
        assert facts["intra_op"] == facts["inter_op"] == 1


# ---------------------------------------------------------------- keras-fit: stock Keras, mapped to the seed

@pytest.fixture(scope="module")
def fit_trainer(small_data):
    if KERAS_REASON:
        pytest.skip(f"Keras unavailable: {KERAS_REASON}")
    return get_implementation("keras-fit-cpu")(TrainConfig.make(batch_size=500, mom_rate=0.0), small_data)


def test_keras_fit_step_with_momentum_zero_is_the_seed_step(fit_trainer, small_data):
    config = fit_trainer.config
    weights = initial_weights(config.layers, config.seed)
    x, y = small_data.x_train, small_data.onehot_train()
    batches = epoch_batches(config.seed, 0, small_data.n_train, config.batch_size)
    for idx in (batches[0], batches[1][:37]):  # the mapping holds for any batch size (the last, smaller one)
        fit_trainer.reset()
        assert fit_trainer.train_step(idx) == pytest.approx(
            reference.loss(weights, x[idx], y[idx], config.lambda2), rel=TOL["loss"])
        grads = reference.gradients(weights, x[idx], y[idx], config.lambda2)
        expected, _ = reference.momentum_step(weights, [np.zeros_like(w) for w in weights], grads,
                                              config.learn_rate, 0.0)
        for N, (w, ref, w0) in enumerate(zip(fit_trainer.get_weights(), expected, weights, strict=True)):
            assert_close(w - w0, ref - w0, 1e-3, f"step of W{N}")  # the step itself, to 0.1 %
            assert_close(w, ref, TOL["weights"], f"W{N} after one step")


def test_keras_fit_runs_model_fit_and_resets(fit_trainer):
    fit_trainer.reset()
    fit_trainer.warm_up()
    before = fit_trainer.get_weights()
    np.testing.assert_array_equal(before[0], initial_weights(fit_trainer.config.layers, 0)[0].astype(np.float32))
    seen = []
    fit = fit_trainer.fit(2, on_epoch=lambda epoch, seconds, loss: seen.append(epoch))
    assert seen == [1, 2] and fit_trainer.epoch == 2 and len(fit.per_epoch_seconds) == 2
    assert np.all(np.isfinite(fit.epoch_losses)) and fit.epoch_losses[1] < fit.epoch_losses[0]
    assert fit_trainer.fit_overhead_seconds >= 0
    assert fit_trainer.run_facts()["jit_compile"] is (fit_trainer.run_facts()["backend"] == "jax")
    fit_trainer.reset()
    for w, w0 in zip(fit_trainer.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)
    assert 0.0 <= fit_trainer.accuracy("test") <= 1.0
    with pytest.raises(NotImplementedError, match="has no backward"):
        fit_trainer.backward(None, None)


# ---------------------------------------------------------------- the CNN workload

@pytest.fixture(scope="module")
def cnn(small_data):
    if KERAS_REASON:
        pytest.skip(f"Keras unavailable: {KERAS_REASON}")
    return get_implementation("keras-cnn-cpu")(TrainConfig.make(batch_size=512), small_data)


def test_cnn_is_the_seed_architecture(cnn):
    assert cnn.model.count_params() == 96_844
    kinds = [type(layer).__name__ for layer in cnn.model.layers]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
    assert [layer.activation.__name__ for layer in cnn.model.layers if hasattr(layer, "activation")] == \
        ["relu", "relu", "relu", "relu", "softmax"]
    assert type(cnn.model.optimizer).__name__ == "RMSprop" and cnn.workload == "cnn"


def test_cnn_trains_and_resets_to_its_seeded_start(cnn):
    start = cnn.get_weights()
    assert np.isfinite(cnn.train_step(cnn.batches(0)[0]))
    assert not np.array_equal(cnn.get_weights()[0], start[0])
    fit = cnn.fit(1)
    assert len(fit.per_epoch_seconds) == 1 and np.isfinite(fit.epoch_losses[0])
    cnn.reset()
    for w, w0 in zip(cnn.get_weights(), start, strict=True):
        np.testing.assert_array_equal(w, w0)
    assert cnn.forward(cnn.prepare_batch(np.arange(5))).shape == (5, 10)


def test_cnn_workload_defaults_drive_the_cli():
    from impl.workloads import get_workload
    cnn_workload = get_workload("cnn")
    assert (cnn_workload.epochs, cnn_workload.batch_size, cnn_workload.quick_epochs) == (5, 128, 1)
    assert cnn_workload.quick_batch_sizes == (128,)


# ---------------------------------------------------------------- learning on the real MNIST

@needs_keras
def test_keras_cpu_learns_like_the_seed(real_data):
    trainer = get_implementation("keras-cpu")(TrainConfig.make(batch_size=500), real_data)
    fit = trainer.fit()
    assert fit.final_learn_rate == pytest.approx(0.0009994051838157095)
    assert trainer.accuracy("train") >= 0.975 and trainer.accuracy("test") >= 0.955


@needs_keras
def test_cnn_with_the_cli_defaults_reaches_the_seed_accuracy(real_data):
    done = run("-m", "bench.cli", "train", "--impl", "keras-cnn-cpu", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert (report["workload"], report["epochs"], report["batch_size"]) == ("cnn", 5, 128)
    assert report["test_accuracy"] >= 0.985, report
