"""The PyTorch implementations beyond the generic equivalence tests: lazy import, why the GPU variants cannot
run here, the facts a run records (threads, denormal flushing, compilation), and the line profiler on eager
PyTorch (forward transitions profiled, backward ones refused with autograd's reason).

Tests that need torch skip with the install hint when it is missing, unless MLPBENCH_REQUIRE_TORCH=1 (CI):
then ``test_torch_is_installed_when_required`` fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.profile import NotProfilableError, profile_transition
from impl.config import TrainConfig
from impl.errors import ConfigError, UnavailableError
from impl.registry import all_implementations, get_implementation
from impl.torch_mlp import runtime

ROOT = Path(__file__).resolve().parents[1]
TORCH_REASON = runtime.torch_unavailable_reason()
needs_torch = pytest.mark.skipif(TORCH_REASON is not None, reason=f"PyTorch unavailable: {TORCH_REASON}")
TORCH_IMPLS = ["torch-cpu", "torch-gpu", "torch-compile-cpu", "torch-compile-gpu"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, **(env or {})})


def test_torch_is_installed_when_required():
    if TORCH_REASON is None:
        return
    if os.environ.get(runtime.REQUIRE_ENV) == "1":
        pytest.fail(f"{runtime.REQUIRE_ENV}=1 but {TORCH_REASON}")
    pytest.skip(f"PyTorch unavailable: {TORCH_REASON}")


def test_every_torch_variant_is_registered_with_its_profiler_stance():
    found = all_implementations()
    assert set(TORCH_IMPLS) <= set(found)
    for name in ("torch-cpu", "torch-gpu"):
        assert found[name].line_profile_refusal is None and "autograd" in found[name].backward_profile_refusal
    for name in ("torch-compile-cpu", "torch-compile-gpu"):
        assert "torch.compile" in found[name].line_profile_refusal


def test_missing_torch_gives_the_install_hint(monkeypatch):
    monkeypatch.setattr(runtime, "installed_version", lambda dist: None)
    for name in TORCH_IMPLS:
        reason = all_implementations()[name].unavailable_reason()
        assert 'pip install -e ".[torch]"' in reason and "download.pytorch.org/whl/cpu" in reason
    with pytest.raises(UnavailableError, match=r"torch-cpu is not available here: PyTorch is not installed"):
        get_implementation("torch-cpu")
    monkeypatch.setattr(runtime, "installed_version", lambda dist: "2.1.0+cpu")
    assert ">= 2.3 is needed" in runtime.torch_unavailable_reason()


@pytest.mark.parametrize("name", ["torch-gpu", "torch-compile-gpu"])
def test_gpu_variants_say_why_they_cannot_run(name):
    reason = all_implementations()[name].unavailable_reason()
    if reason is None:
        pytest.skip(f"{name} has a GPU here")
    assert "GPU" in reason or "PyTorch" in reason


def test_train_on_a_missing_gpu_is_a_one_line_error():
    reason = all_implementations()["torch-gpu"].unavailable_reason()
    if reason is None:
        pytest.skip("torch-gpu has a GPU here")
    done = run("-m", "bench.cli", "train", "--impl", "torch-gpu", "--synthetic", "--epochs", "1")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 4 and lines == [f"mlp-bench: error: torch-gpu is not available here: {reason}"]


def test_a_numpy_only_run_never_imports_torch_or_jax():
    code = ("import sys\n"
            "from bench.cli import main\n"
            "main(['list'])\n"
            "from impl.config import TrainConfig\n"
            "from impl.data import preprocess, synthetic_mnist\n"
            "from impl.registry import get_implementation\n"
            "data = preprocess(synthetic_mnist(seed=1))\n"
            "get_implementation('numpy-v3-sliced')(TrainConfig.make(batch_size=1000), data).fit(1)\n"
            "loaded = [m for m in ('torch', 'jax', 'jaxlib') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    done = run("-c", code)
    assert done.returncode == 0, done.stderr


def test_bad_denormal_switch_is_a_one_line_error(monkeypatch):
    from impl.frameworks import bool_env
    monkeypatch.setenv(runtime.FLUSH_DENORMAL_ENV, "yes")
    with pytest.raises(ConfigError, match="MLPBENCH_TORCH_FLUSH_DENORMAL must be 0 or 1"):
        bool_env(runtime.FLUSH_DENORMAL_ENV, True)


# ---------------------------------------------------------------- with torch

@pytest.fixture(scope="module")
def eager(small_data):
    if TORCH_REASON:
        pytest.skip(f"PyTorch unavailable: {TORCH_REASON}")
    return get_implementation("torch-cpu")(TrainConfig.make(batch_size=512), small_data)


@needs_torch
def test_run_facts_record_threads_denormals_and_placement(eager):
    assert np.isfinite(eager.train_step(eager.batches(0)[0]))
    facts = eager.run_facts()
    assert facts["backend"] == "torch" and facts["device"] == "cpu" and facts["placement"] == "cpu"
    assert facts["threads"] >= 1 and facts["threads_source"] in ("MLPBENCH_THREADS", "blas", "cpu_count")
    assert facts["flush_denormal"] is runtime.FLUSH_DENORMAL_DEFAULT or facts["flush_denormal_source"] != "default"
    assert facts["torch_version"].startswith("2.")


@needs_torch
def test_threads_and_denormal_switch_come_from_the_environment():
    code = ("from impl.torch_mlp import runtime\n"
            "torch = runtime.load()\n"
            "facts = runtime.runtime_facts()\n"
            "assert facts['threads'] == 1 and facts['threads_source'] == 'MLPBENCH_THREADS', facts\n"
            "assert facts['flush_denormal'] is False and facts['flush_denormal_source'] != 'default', facts\n")
    done = run("-c", code, env={"MLPBENCH_THREADS": "1", runtime.FLUSH_DENORMAL_ENV: "0"})
    assert done.returncode == 0, done.stderr


@needs_torch
def test_profile_times_forward_transitions_and_refuses_backward_ones(eager):
    result = profile_transition(eager, "fw:2", steps=3, warmup_steps=1)
    assert result.function.endswith("_fw_prop_Nm1_to_N") and result.layer == 2
    assert any("addmm" in row.source and row.hits == 3 for row in result.rows)
    with pytest.raises(NotProfilableError, match="cannot line-profile bw:1: .*autograd"):
        profile_transition(eager, "bw:1", steps=3)


@needs_torch
def test_compiled_step_records_compilation_and_never_recompiles_in_steady_state(small_data):
    cls = get_implementation("torch-compile-cpu")
    with pytest.raises(NotProfilableError, match="torch.compile"):
        profile_transition(cls(TrainConfig.make(batch_size=1000), small_data), "fw:1", steps=1)
    # 6,000 samples at B=700 (no other test uses it, so nothing is compiled yet): a full batch shape and a
    # 400-sample remainder, three functions each, all compiled in warm_up
    trainer = cls(TrainConfig.make(batch_size=700, decrease_rate=0.1), small_data)
    trainer.warm_up()
    trainer.fit(2)  # the learning rate decays between the epochs: a tensor, no recompilation
    facts = trainer.run_facts()
    assert facts["jit_compile"] is True and facts["compile_mode"] == "default" and facts["compile_s"] > 0
    assert facts["graphs_compiled"] == 6 and facts["recompilations_after_warm_up"] == 0
    fresh = cls(TrainConfig.make(batch_size=700), small_data)
    fresh.fit(1)  # the same shapes: dynamo's cache is per process, nothing is compiled again
    assert fresh.run_facts()["graphs_compiled"] == 0
    assert fresh.run_facts()["recompilations_after_warm_up"] is None
    assert facts["flush_denormal"] in (True, False)
