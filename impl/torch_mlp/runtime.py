"""PyTorch, started once per process and only when a torch trainer is built: availability from package metadata,
the GPU probe in a subprocess, thread count and denormal flushing set before the first op, and the facts a run
records. Nothing here imports torch at module import time (the registry imports every module under ``impl``).

Environment variables:
    MLPBENCH_THREADS               intra-op threads (``torch.set_num_threads``; default: the BLAS thread count)
    MLPBENCH_TORCH_FLUSH_DENORMAL  1 (default): ``torch.set_flush_denormal(True)``, 0: IEEE denormals kept
    MLPBENCH_REQUIRE_TORCH         "1": the torch tests fail instead of skipping when torch is missing (CI)
"""

from __future__ import annotations

import os
from typing import Any

from impl.errors import UnavailableError
from impl.frameworks import (
    apply_torch_threads,
    bool_env,
    gpu_unavailable_reason,
    installed_version,
    requested_threads,
)

INSTALL_HINT = ('pip install -e ".[torch]" (CPU-only on Linux, without the CUDA stack: '
                "pip install torch --index-url https://download.pytorch.org/whl/cpu)")
REQUIRE_ENV = "MLPBENCH_REQUIRE_TORCH"
FLUSH_DENORMAL_ENV = "MLPBENCH_TORCH_FLUSH_DENORMAL"
#: Flushing is the default: sigmoid tails and tiny momentum steps produce subnormal float32 values, and x86
#: handles them in microcode (measured in README: torch-cpu at B=20000).
FLUSH_DENORMAL_DEFAULT = True
_GPU_PROBE = "import torch; print(torch.cuda.device_count())"
MIN_VERSION = (2, 3)

_RUNTIME: dict[str, Any] = {}


def torch_unavailable_reason() -> str | None:
    """None when torch >= 2.3 is installed, else why not and how to install it. Imports nothing."""
    version = installed_version("torch")
    if version is None:
        return f"PyTorch is not installed; install it with: {INSTALL_HINT}"
    parts = tuple(int(p) for p in version.split("+")[0].split(".")[:2] if p.isdigit())
    if parts < MIN_VERSION:
        return f"PyTorch {version} is installed but >= 2.3 is needed; install it with: {INSTALL_HINT}"
    return None


def torch_gpu_unavailable_reason() -> str | None:
    """None when torch sees a CUDA GPU; checked cheaply, torch itself only ever starts in a subprocess."""
    return torch_unavailable_reason() or gpu_unavailable_reason("torch", _GPU_PROBE)


def load() -> Any:
    """Import torch once per process, set its intra-op thread count and denormal flushing; returns ``torch``.
    A later call keeps the first settings (:func:`runtime_facts` says what is in force)."""
    if "torch" in _RUNTIME:
        return _RUNTIME["torch"]
    reason = torch_unavailable_reason()
    if reason:
        raise UnavailableError(reason)
    n, source = requested_threads()
    flush = bool_env(FLUSH_DENORMAL_ENV, FLUSH_DENORMAL_DEFAULT)
    torch = apply_torch_threads(n)
    supported = torch.set_flush_denormal(flush)  # False where the CPU has no FTZ/DAZ (non-x86 without SSE3)
    _RUNTIME.update(torch=torch, threads_requested=n, threads_source=source, flush_requested=flush,
                    flush_supported=bool(supported) or not flush)
    return torch


def runtime_facts() -> dict[str, Any]:
    """Threads and denormal handling in force, and the version: flat, one column each."""
    torch = _RUNTIME.get("torch")
    if torch is None:
        return {}
    return {"torch_version": torch.__version__, "torch_cuda": torch.version.cuda,
            "threads": torch.get_num_threads(), "inter_op_threads": torch.get_num_interop_threads(),
            "threads_source": _RUNTIME["threads_source"],
            "flush_denormal": _RUNTIME["flush_requested"] and _RUNTIME["flush_supported"],
            "flush_denormal_source": FLUSH_DENORMAL_ENV if os.environ.get(FLUSH_DENORMAL_ENV, "").strip()
            else "default"}


def device_of(kind: str) -> Any:
    """``torch.device`` for a variant's device kind (cpu/gpu)."""
    torch = load()
    return torch.device("cuda:0" if kind == "gpu" else "cpu")


def synchronize(kind: str) -> None:
    """Wait for the device before a clock stops; CPU kernels run synchronously in eager mode."""
    if kind == "gpu":
        load().cuda.synchronize()
