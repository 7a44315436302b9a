"""What every Keras implementation shares: availability without importing anything heavy, the GPU probe, the
one-time runtime set-up (thread counts before the framework starts), device placement and its verification,
synchronisation before a clock stops, and the facts a run records.

Nothing here imports Keras or a backend at module import time: the registry imports every module under
``impl`` to find the implementations, and a NumPy-only run must never pay for TensorFlow. The framework is
imported by :func:`keras_runtime`, which the Keras trainers call when they are built.

Environment variables:
    KERAS_BACKEND           tensorflow (default), jax or torch; read by Keras itself at import (every Keras
                            variant runs on any of the three)
    MLPBENCH_THREADS        thread count for the framework (default: the BLAS thread count NumPy uses now):
                            TensorFlow's intra-op and inter-op pools (TF's default on an N-core host: N and N),
                            torch.set_num_threads and set_num_interop_threads; on JAX only 1 can be forced
    MLPBENCH_INTEROP_THREADS  TensorFlow's inter-op pool only (default: as MLPBENCH_THREADS); with 2 cores,
                            1 removes the epochs of model.fit that take twice as long (tf.data competing)
    MLPBENCH_REQUIRE_KERAS  "1": the Keras tests fail instead of skipping when Keras is missing (CI)
    MLPBENCH_REQUIRE_KERAS_BACKENDS  "1": the per-backend equivalence tests fail instead of skipping when a
                            backend (or Keras) is missing (CI)
    TF_CPP_MIN_LOG_LEVEL    set to 2 unless already set (TF 2.21 still prints its oneDNN start-up lines)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from impl.contract import FitResult, Reason, Trainer, needs_extra, no_gpu
from impl.errors import UnavailableError
from impl.frameworks import installed_version, positive_int_env, requested_threads

INSTALL_HINT = 'pip install -e ".[keras]"'
REQUIRE_ENV = "MLPBENCH_REQUIRE_KERAS"
REQUIRE_BACKENDS_ENV = "MLPBENCH_REQUIRE_KERAS_BACKENDS"
THREADS_ENV = "MLPBENCH_THREADS"
INTEROP_ENV = "MLPBENCH_INTEROP_THREADS"
#: Distributions that provide each Keras backend (any one is enough).
BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos", "tf-nightly"),
    "jax": ("jax",),
    "torch": ("torch",),
}
LINE_PROFILE_REFUSAL = ("its layer transitions run as compiled {backend} graphs; time them with the per-phase "
                        "benchmarks (pytest bench/ --benchmark-only --impl {name})")
_GPU_PROBES = {
    "tensorflow": "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))",
    "jax": "import jax\ntry:\n    print(len(jax.devices('gpu')))\nexcept RuntimeError:\n    print(0)",
    "torch": "import torch; print(torch.cuda.device_count())",
}
_GPU_PROBE_TIMEOUT_S = 120


# ---------------------------------------------------------------- availability (package metadata only)

def configured_backend() -> str:
    """The backend Keras will use: $KERAS_BACKEND, else the ``backend`` of $KERAS_HOME/keras.json, else TF."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"].strip().lower()
    config = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "keras.json"
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return str(json.loads(config.read_text()).get("backend", "tensorflow")).lower()
    return "tensorflow"


def keras_unavailable_reason() -> str | None:
    """None when Keras 3 and the configured backend are installed, else why not and how to install them.
    Reads package metadata only: nothing is imported."""
    backend = configured_backend()
    keras_version = installed_version("keras")
    if keras_version is None:
        return needs_extra("keras", f"Keras is not installed; install it with: {INSTALL_HINT}")
    if int(keras_version.split(".")[0]) < 3:
        return needs_extra("keras", f"Keras {keras_version} is installed but Keras 3 is needed; install it with: "
                           f"{INSTALL_HINT}")
    if backend not in BACKEND_PACKAGES:
        return Reason(f"KERAS_BACKEND={backend} cannot train; use one of {', '.join(BACKEND_PACKAGES)} "
                      "(unset it for tensorflow)", "unsupported KERAS_BACKEND")
    if not any(installed_version(d) for d in BACKEND_PACKAGES[backend]):
        hint = INSTALL_HINT if backend == "tensorflow" else f"pip install {backend}"
        text = f"the Keras backend {backend} is not installed; install it with: {hint}"
        return needs_extra("keras", text) if backend == "tensorflow" else Reason(text, f"needs package: {backend}")
    return None


def gpu_unavailable_reason() -> str | None:
    """None when the configured backend sees a GPU, else why not. Cheap checks first; the framework is only
    ever started in a short subprocess (never in this process), and the answer is cached per backend."""
    return keras_unavailable_reason() or _gpu_probe(configured_backend(), os.environ.get("CUDA_VISIBLE_DEVICES"))


@functools.cache
def _gpu_probe(backend: str, cuda_visible: str | None) -> str | None:
    if cuda_visible is not None and cuda_visible.strip() in ("", "-1"):
        return no_gpu(f"no GPU: hidden by CUDA_VISIBLE_DEVICES={cuda_visible!r}")
    if shutil.which("nvidia-smi") is None and not any(Path("/dev").glob("nvidia[0-9]*")):
        return no_gpu("no GPU found (no nvidia-smi and no /dev/nvidia* on this machine)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        done = subprocess.run([sys.executable, "-c", _GPU_PROBES[backend]], capture_output=True, text=True,
                              timeout=_GPU_PROBE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return no_gpu(f"no GPU: the {backend} GPU probe did not answer within {_GPU_PROBE_TIMEOUT_S} s")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].isdigit():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return no_gpu(f"no GPU: the {backend} GPU probe failed ({last})")
    if int(lines[-1]) == 0:
        extra = " (tensorflow-cpu has no GPU support)" if installed_version("tensorflow-cpu") else ""
        return no_gpu(f"no GPU visible to {backend}{extra}")
    return None


# ---------------------------------------------------------------- the runtime: imported once, threads first

_RUNTIME: dict[str, Any] = {}


def keras_runtime() -> Any:
    """Import Keras (and its backend) once per process, after fixing the framework's thread counts; returns
    the ``keras`` module. Threads can only be set before the runtime starts: a later call with another
    requested count keeps the first one, and :func:`thread_facts` says what is in force."""
    if "keras" in _RUNTIME:
        return _RUNTIME["keras"]
    reason = keras_unavailable_reason()
    if reason:
        raise UnavailableError(reason)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    n, source = requested_threads()
    backend = configured_backend()
    facts: dict[str, Any] = {"requested": n, "source": source}
    if backend == "tensorflow":
        import tensorflow as tf
        inter = positive_int_env(INTEROP_ENV) or n
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
            facts["applied"] = True
        except RuntimeError as err:  # the runtime was started by someone else in this process
            facts["applied"] = False
            facts["note"] = f"TensorFlow was already initialised: {err}"
    elif backend == "jax":
        if "jax" in sys.modules:
            facts["applied"], facts["note"] = False, "jax was already imported"
        elif n == 1:  # XLA:CPU has no thread-count setting except switching Eigen's pool off
            flags = os.environ.get("XLA_FLAGS", "")
            os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            facts["applied"] = True
        else:
            facts["applied"], facts["note"] = False, "XLA:CPU uses one thread per core; only 1 can be forced"
    elif backend == "torch":
        import torch
        torch.set_num_threads(n)
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(n)
        facts["applied"] = True
    import keras
    _RUNTIME["keras"] = keras
    _RUNTIME["threads"] = facts
    return keras


def thread_facts() -> dict[str, Any]:
    """Thread counts requested and in force (0 from TensorFlow means its default: one per core)."""
    facts = dict(_RUNTIME.get("threads", {}))
    keras = _RUNTIME.get("keras")
    if keras is None:
        return facts
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        facts["intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        facts["inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    elif backend == "torch":
        import torch
        facts["intra_op"], facts["inter_op"] = torch.get_num_threads(), torch.get_num_interop_threads()
    return facts


# ---------------------------------------------------------------- devices

def device_name(device: str, backend: str = "tensorflow") -> str:
    """Keras' name for the device of a variant: ``cpu:0`` or ``gpu:0``, but plain ``cpu`` on torch. Keras' torch
    variables are ``Parameter(...).to(device)``, and ``.to("cpu:0")`` copies a CPU tensor: the variable would
    hold a non-leaf copy whose ``.grad`` autograd never fills (model.fit: "No gradients provided")."""
    return "cpu" if backend == "torch" and device == "cpu" else f"{device}:0"


def placement_of(x: Any) -> str:
    """Where a tensor or variable lives, as the backend says it (a TF device string, a JAX device, ...)."""
    value = getattr(x, "value", None)
    if value is not None and not callable(value):  # a Keras variable -> the backend's tensor or variable
        x = value
    if hasattr(x, "devices"):  # jax.Array
        return ",".join(f"{d.platform}:{d.id}" for d in x.devices())
    return str(getattr(x, "device", "unknown"))


def placement_kind(placement: str) -> str:
    low = placement.lower()
    if "gpu" in low or "cuda" in low:
        return "gpu"
    if "cpu" in low:
        return "cpu"
    return "unknown"


def verify_placement(name: str, device: str, *tensors: Any) -> str:
    """Check every tensor lives on ``device`` (cpu/gpu); returns the placement string, raises if not."""
    placements = sorted({placement_of(t) for t in tensors})
    wrong = [p for p in placements if placement_kind(p) != device]
    if wrong:
        raise UnavailableError(f"{name}: expected everything on the {device.upper()}, found {', '.join(wrong)}")
    return ", ".join(placements)


def synchronize(keras: Any, device: str, *tensors: Any) -> None:
    """Wait until the device has finished the work that produced ``tensors`` (before a clock stops).
    TensorFlow runs CPU kernels synchronously, so only the GPU needs an explicit wait."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        jax.block_until_ready(tensors)
    elif device == "gpu" and backend == "tensorflow":
        import tensorflow as tf
        tf.test.experimental.sync_devices()
    elif device == "gpu" and backend == "torch":
        import torch
        torch.cuda.synchronize()


def framework_versions(keras: Any) -> dict[str, str]:
    versions = {"keras": keras.__version__, "backend": keras.backend.backend()}
    for dist in ("tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch"):
        version = installed_version(dist)
        if version:
            versions[dist] = version
    return versions


# ---------------------------------------------------------------- the base of every Keras trainer

class KerasTrainer(Trainer):
    """Shared by the Keras trainers: availability, device scope, verified placement, run facts.

    Subclasses set ``device`` ("cpu"/"gpu") and ``jit_compile`` (always explicit, never "auto": on
    TensorFlow "auto" means XLA on a GPU host and none on a CPU-only host) and build their model inside
    :meth:`scope`. The class value is for TensorFlow; on JAX the instance's ``jit_compile`` is True (jax.jit);
    on torch keras-cpu/-gpu set it to their ``torch_compile`` (eager by default). :meth:`run_facts` records the
    value in force."""

    dtype: ClassVar[str] = "float32"
    backend: ClassVar[str] = "keras"
    jit_compile: bool = False  # per class for TensorFlow; an instance on JAX sets it True
    #: Set once per family: the CPU and GPU twins differ only in name, device and jit_compile, and get their
    #: description ({device}, {jit} filled in) and profiler refusal from these.
    description_template: ClassVar[str] = ""
    compiled_as: ClassVar[str] = "Keras (model.fit's train function)"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and cls.description_template:
            cls.description = cls.description_template.format(device=cls.device.upper(), jit=cls.jit_compile)
            cls.line_profile_refusal = LINE_PROFILE_REFUSAL.format(backend=cls.compiled_as, name=cls.name)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return keras_unavailable_reason() if cls.device == "cpu" else gpu_unavailable_reason()

    @classmethod
    def current_backend(cls) -> str:
        return configured_backend()

    @classmethod
    def default_backend(cls) -> str:
        return "tensorflow"  # Keras' own default

    @classmethod
    def backend_choices(cls) -> tuple[str, ...]:
        """Keras' backends whose packages are installed (each is measured in a process of its own)."""
        return tuple(b for b in BACKEND_PACKAGES if any(installed_version(d) for d in BACKEND_PACKAGES[b]))

    @classmethod
    def backend_environment(cls, backend: str) -> dict[str, str]:
        return {"KERAS_BACKEND": backend}

    @classmethod
    def unavailable_reason_on(cls, backend: str) -> str | None:
        saved = os.environ.get("KERAS_BACKEND")
        os.environ["KERAS_BACKEND"] = backend
        try:
            return cls.unavailable_reason()
        finally:
            if saved is None:
                del os.environ["KERAS_BACKEND"]
            else:
                os.environ["KERAS_BACKEND"] = saved

    @classmethod
    def summary(cls) -> dict[str, Any]:
        return {**super().summary(), "jit_compile": cls.jit_compile}

    def _start_runtime(self) -> Any:
        reason = type(self).unavailable_reason()
        if reason:
            raise UnavailableError(f"{self.name} is not available here: {reason}")
        self.keras = keras_runtime()
        self.backend_name = self.keras.backend.backend()
        if self.backend_name == "jax":
            self.jit_compile = True  # jax.jit (XLA): Keras' "auto" on JAX, and its only fast path
        self.placement = "not verified yet"
        self.compile_seconds: float | None = None
        return self.keras

    def scope(self) -> Any:
        """The device scope every build and every compiled call runs in."""
        return self.keras.device(device_name(self.device, self.backend_name))

    def _verify(self, *tensors: Any) -> None:
        self.placement = verify_placement(self.name, self.device, *tensors)

    def sync(self, *tensors: Any) -> None:
        synchronize(self.keras, self.device, *tensors)

    def tracing_counts(self) -> dict[str, int]:
        """How often each compiled function was traced (a count that grows in steady state is a bug)."""
        return {}

    def run_facts(self) -> dict[str, Any]:
        """What a run must record besides its timings, flat (one column each): the backend and the verified
        device placement, XLA, the framework's thread counts in force, versions, the first-call time."""
        threads = thread_facts()
        versions = framework_versions(self.keras)
        return {"backend": self.backend_name, "device": self.device, "placement": self.placement,
                "jit_compile": self.jit_compile,
                "threads": threads.get("intra_op", threads.get("requested")),
                "inter_op_threads": threads.get("inter_op"), "threads_source": threads.get("source"),
                "threads_applied": threads.get("applied"), "threads_note": threads.get("note"),
                "keras_version": versions["keras"],
                "backend_version": next((versions[d] for d in BACKEND_PACKAGES.get(self.backend_name, ())
                                         if d in versions), None),
                "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TF default: on for x86)"),
                "compile_s": self.compile_seconds, "tracing_counts": self.tracing_counts()}

    def _timed_warm_up(self, warm: Callable[[], None]) -> None:
        start = time.perf_counter()
        warm()
        self.compile_seconds = time.perf_counter() - start


def seed_to_keras(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Seed layout (W_N: (n_out, n_in + 1), bias in column 0) -> Keras' [kernel (n_in, n_out), bias, ...]."""
    out = []
    for W in weights:
        W = np.asarray(W, dtype=np.float32)
        out += [np.ascontiguousarray(W[:, 1:].T), np.ascontiguousarray(W[:, 0])]
    return out


def keras_to_seed(arrays: list[Any]) -> list[np.ndarray]:
    """Keras' [kernel, bias, ...] (or their gradients) -> float64 arrays in the seed layout."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    return [np.hstack([b[:, None], k.T]) for k, b in zip(arrays[0::2], arrays[1::2], strict=True)]


# ---------------------------------------------------------------- stock Keras: compile + fit

class KerasFitTrainer(KerasTrainer):
    """Stock Keras training as a user writes it: ``model.compile`` once, then ``model.fit`` on NumPy arrays
    (``shuffle=True``, ``verbose=0``, explicit ``jit_compile``). Subclasses provide :meth:`build_model`
    (built and compiled) and :meth:`inputs`; ``loss_scale`` converts Keras' loss to the workload's units.

    Phases: ``prepare`` gathers a batch in NumPy (as ``train_on_batch`` takes it), ``forward`` is
    ``model.predict_on_batch``, ``train_step`` is ``model.train_on_batch``, ``full_run`` one ``model.fit``
    call whose epochs a callback times. Keras' train step has no separate backward pass to call."""

    phases: ClassVar[tuple[str, ...]] = ("prepare", "forward", "train_step", "full_run")
    shared_batch_order: ClassVar[bool] = False
    loss_scale: ClassVar[float] = 1.0

    def __init__(self, config: Any, data: Any) -> None:
        super().__init__(config, data)
        keras = self._start_runtime()
        keras.utils.set_random_seed(config.seed)  # the initial weights (where not given) and Keras' shuffling
        x_train, x_test = self.inputs(data)
        self._x = {"train": x_train, "test": x_test}
        self._y = data.onehot_train().astype(np.float32)
        self._labels = {"train": data.y_train, "test": data.y_test}
        self.fit_overhead_seconds: float | None = None
        with self.scope():
            self.model = self.build_model()
            self.model.optimizer.build(self.model.trainable_variables)
        self._optimizer_lr = float(np.asarray(self.model.optimizer.learning_rate))
        self._initial_model = self.initial_model_weights()
        self.set_model_weights(self._initial_model)
        self._verify(*self.model.trainable_variables)

    # -- what subclasses define ---------------------------------------------------------------------------
    def build_model(self) -> Any:
        """The compiled Keras model (called inside the device scope)."""
        raise NotImplementedError

    def inputs(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """float32 train and test inputs in the model's input shape."""
        raise NotImplementedError

    def initial_model_weights(self) -> list[np.ndarray]:
        """The weights every run starts from (default: Keras' seeded initialisation)."""
        return [np.array(w) for w in self.model.get_weights()]

    # -- weights ------------------------------------------------------------------------------------------
    def set_model_weights(self, arrays: list[np.ndarray]) -> None:
        """Load Keras-layout weights and reset the optimizer (slots and step count zero, initial lr)."""
        self.model.set_weights([np.asarray(a, dtype=np.float32) for a in arrays])
        optimizer = self.model.optimizer
        for v in optimizer.variables:
            if v is getattr(optimizer, "_learning_rate", None):
                v.assign(self._optimizer_lr)
            else:
                v.assign(np.zeros(v.shape, dtype=v.dtype))

    def reset(self) -> None:
        self.set_model_weights(self._initial_model)
        self.learn_rate = self.config.learn_rate
        self.epoch = 0

    # -- phases -------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._x["train"][idx], self._y[idx]

    def forward(self, batch: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        with self.scope():
            return self.model.predict_on_batch(batch[0])

    def batch_loss(self, state: np.ndarray, batch: tuple[np.ndarray, np.ndarray]) -> float:
        """Un-timed helper: Keras' compiled loss (plus regularisers) of the predictions, in workload units."""
        with self.scope():
            loss = self.model.compute_loss(batch[0], self.keras.ops.convert_to_tensor(batch[1]),
                                           self.keras.ops.convert_to_tensor(state), training=False)
        return self.loss_scale * float(self.keras.ops.convert_to_numpy(loss))

    def _no_backward(self) -> NotImplementedError:
        return NotImplementedError(f"{self.name} runs Keras' own train step (train_on_batch / fit), which has no "
                                   "separate backward pass or update; keras-cpu times forward+backward")

    def backward(self, state: Any, batch: Any) -> Any:
        raise self._no_backward()

    def update(self, grads: Any) -> None:
        raise self._no_backward()

    def gradients_as_arrays(self, grads: Any) -> list[np.ndarray]:
        raise self._no_backward()

    def train_step(self, idx: np.ndarray) -> float:
        """``model.train_on_batch`` on the gathered NumPy batch; returns the batch loss (it waits for it)."""
        x, y = self.prepare_batch(idx)
        with self.scope():
            logs = self.model.train_on_batch(x, y, return_dict=True)
        return self.loss_scale * float(logs["loss"])

    def run_epoch(self) -> float:
        return self.fit(1).epoch_losses[0]

    def fit(self, epochs: int | None = None,
            on_epoch: Callable[[int, float, float], None] | None = None) -> FitResult:
        """One ``model.fit`` call for all the epochs, as a user runs it; a callback records each epoch's wall
        time (epoch begin to end). Set-up outside the epochs (data adapter) is kept in
        ``fit_overhead_seconds``."""
        epochs = self.config.epochs if epochs is None else epochs
        result = FitResult()
        trainer = self

        class EpochClock(self.keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                seconds = time.perf_counter() - self.start
                loss = trainer.loss_scale * float((logs or {}).get("loss", float("nan")))
                result.per_epoch_seconds.append(seconds)
                result.epoch_losses.append(loss)
                if logs and "accuracy" in logs:
                    result.epoch_accuracies.append(float(logs["accuracy"]))
                trainer.epoch += 1
                if on_epoch is not None:
                    on_epoch(trainer.epoch, seconds, loss)

        start = time.perf_counter()
        with self.scope():
            self.model.fit(self._x["train"], self._y, batch_size=self.config.batch_size,
                           epochs=self.epoch + epochs, initial_epoch=self.epoch, shuffle=True, verbose=0,
                           callbacks=[EpochClock()])
        self.fit_overhead_seconds = time.perf_counter() - start - result.seconds
        result.final_learn_rate = self.learn_rate
        return result

    def warm_up(self) -> None:
        """Untimed: one short ``fit`` (every batch shape of an epoch), one ``train_on_batch`` and one
        ``predict_on_batch``, so tracing and compilation never fall into a timed region; then reset."""
        def warm() -> None:
            b = self.config.batch_size
            n = min(self.n_train, b + self.n_train % b)
            with self.scope():
                self.model.fit(self._x["train"][:n], self._y[:n], batch_size=b, epochs=1, shuffle=True, verbose=0)
            idx = self.batches(0)[0]
            self.train_step(idx)
            self.forward(self.prepare_batch(idx))
            self.reset()
        self._timed_warm_up(warm)

    # -- evaluation ---------------------------------------------------------------------------------------
    def accuracy(self, split: str) -> float:
        x, hits = self._x[split], 0
        with self.scope():
            for start in range(0, len(x), 10_000):
                out = self.model(self.keras.ops.convert_to_tensor(x[start:start + 10_000]), training=False)
                hits += int(np.sum(np.argmax(self.keras.ops.convert_to_numpy(out), axis=1)
                                   == self._labels[split][start:start + 10_000]))
        return hits / len(x)

    def tracing_counts(self) -> dict[str, int]:
        return {}

    def run_facts(self) -> dict[str, Any]:
        return {**super().run_facts(), "fit_overhead_s": self.fit_overhead_seconds}
