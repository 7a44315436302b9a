"""The Keras runtime: availability without importing anything heavy, the GPU probe, the one-time runtime set-up
(thread counts before the framework starts), device names and placement, synchronisation before a clock stops,
and the versions a run records. The trainers' base class is in :mod:`impl.keras.base`.

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
import json
import os
from pathlib import Path
from typing import Any

from impl.contract import Reason, needs_extra
from impl.errors import UnavailableError
from impl.frameworks import (
    apply_torch_threads,
    apply_xla_threads,
    installed_version,
    positive_int_env,
    requested_threads,
)
from impl.frameworks import gpu_unavailable_reason as probe_gpu

INSTALL_HINT = 'pip install -e ".[keras]"'
REQUIRE_ENV = "MLPBENCH_REQUIRE_KERAS"
REQUIRE_BACKENDS_ENV = "MLPBENCH_REQUIRE_KERAS_BACKENDS"
INTEROP_ENV = "MLPBENCH_INTEROP_THREADS"
#: Distributions that provide each Keras backend (any one is enough).
BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos", "tf-nightly"),
    "jax": ("jax",),
    "torch": ("torch",),
}
_GPU_PROBES = {
    "tensorflow": "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))",
    "jax": "import jax\ntry:\n    print(len(jax.devices('gpu')))\nexcept RuntimeError:\n    print(0)",
    "torch": "import torch; print(torch.cuda.device_count())",
}


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
    backend = configured_backend()
    none_visible = " (tensorflow-cpu has no GPU support)" if installed_version("tensorflow-cpu") else ""
    return keras_unavailable_reason() or probe_gpu(backend, _GPU_PROBES[backend], env={"TF_CPP_MIN_LOG_LEVEL": "3"},
                                                   none_visible=none_visible)


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
        facts["applied"], note = apply_xla_threads(n)
        if note:
            facts["note"] = note
    elif backend == "torch":
        apply_torch_threads(n)
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
