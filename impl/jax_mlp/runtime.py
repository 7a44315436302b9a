"""JAX, started once per process and only when a JAX trainer is built: availability from package metadata, the
GPU probe in a subprocess, XLA's CPU thread setting (it must be in ``XLA_FLAGS`` before jax is imported), and
the facts a run records. Nothing here imports jax at module import time.

Environment variables:
    MLPBENCH_THREADS      1: XLA:CPU's Eigen pool switched off (``--xla_cpu_multi_thread_eigen=false
                          intra_op_parallelism_threads=1``); XLA:CPU has no other thread-count setting, so a
                          larger value is recorded as not applied (XLA uses one thread per core)
    MLPBENCH_REQUIRE_JAX  "1": the JAX tests fail instead of skipping when jax is missing (CI)
"""

from __future__ import annotations

import os
from typing import Any

from impl.errors import UnavailableError
from impl.frameworks import apply_xla_threads, gpu_unavailable_reason, installed_version, requested_threads

INSTALL_HINT = 'pip install -e ".[jax]"'
GPU_INSTALL_HINT = 'pip install "jax[cuda12]"'
REQUIRE_ENV = "MLPBENCH_REQUIRE_JAX"
_GPU_PROBE = "import jax\ntry:\n    print(len(jax.devices('gpu')))\nexcept RuntimeError:\n    print(0)"

_RUNTIME: dict[str, Any] = {}


def jax_unavailable_reason() -> str | None:
    """None when jax and jaxlib are installed, else why not and how to install them. Imports nothing."""
    missing = [d for d in ("jax", "jaxlib") if installed_version(d) is None]
    if missing:
        return f"{' and '.join(missing)} not installed; install with: {INSTALL_HINT}"
    return None


def jax_gpu_unavailable_reason() -> str | None:
    """None when jax sees a GPU; jax itself only ever starts in a subprocess here."""
    reason = jax_unavailable_reason() or gpu_unavailable_reason("jax", _GPU_PROBE)
    if reason and "visible to jax" in reason:
        reason += f"; a CUDA build of jax: {GPU_INSTALL_HINT}"
    return reason


def load() -> Any:
    """Import jax once per process, after setting XLA's thread flags; returns ``jax``."""
    if "jax" in _RUNTIME:
        return _RUNTIME["jax"]
    reason = jax_unavailable_reason()
    if reason:
        raise UnavailableError(reason)
    n, source = requested_threads()
    facts: dict[str, Any] = {"threads_requested": n, "threads_source": source}
    facts["threads_applied"], note = apply_xla_threads(n)
    if note:
        facts["threads_note"] = note
    import jax

    _RUNTIME.update(jax=jax, facts=facts)
    return jax


def runtime_facts() -> dict[str, Any]:
    jax = _RUNTIME.get("jax")
    if jax is None:
        return {}
    return {"jax_version": jax.__version__, "jaxlib_version": installed_version("jaxlib"),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "x64": bool(jax.config.jax_enable_x64),
            **_RUNTIME["facts"]}
