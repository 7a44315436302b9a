"""The JAX implementations beyond the generic equivalence tests: availability and the GPU reason, verified
placement, compilation per batch shape only (no retrace when the learning rate decays), donated buffers.

Tests that need jax skip with the install hint when it is missing, unless MLPBENCH_REQUIRE_JAX=1 (CI): then
``test_jax_is_installed_when_required`` fails.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.profile import NotProfilableError, profile_transition
from impl.config import TrainConfig
from impl.errors import UnavailableError
from impl.jax_mlp import runtime
from impl.registry import all_implementations, get_implementation

JAX_REASON = runtime.jax_unavailable_reason()
needs_jax = pytest.mark.skipif(JAX_REASON is not None, reason=f"JAX unavailable: {JAX_REASON}")


def test_jax_is_installed_when_required():
    if JAX_REASON is None:
        return
    if os.environ.get(runtime.REQUIRE_ENV) == "1":
        pytest.fail(f"{runtime.REQUIRE_ENV}=1 but {JAX_REASON}")
    pytest.skip(f"JAX unavailable: {JAX_REASON}")


def test_missing_jax_gives_the_install_hint(monkeypatch):
    monkeypatch.setattr(runtime, "installed_version", lambda dist: None if dist == "jaxlib" else "0.4.30")
    for name in ("jax-cpu", "jax-gpu"):
        assert 'jaxlib not installed; install with: pip install -e ".[jax]"' in \
            all_implementations()[name].unavailable_reason()
    with pytest.raises(UnavailableError, match="jax-cpu is not available here: jaxlib not installed"):
        get_implementation("jax-cpu")


def test_jax_gpu_says_why_it_cannot_run():
    reason = all_implementations()["jax-gpu"].unavailable_reason()
    if reason is None:
        pytest.skip("jax-gpu has a GPU here")
    assert "GPU" in reason or "jax" in reason


@needs_jax
def test_one_compilation_per_batch_shape_verified_placement_and_facts(small_data):
    cls = get_implementation("jax-cpu")
    assert "jax.jit" in cls.line_profile_refusal
    # 6,000 samples at B=700 (no other test uses it): a full batch and a 400-sample remainder; a big decay
    # changes lr every epoch
    trainer = cls(TrainConfig.make(batch_size=700, decrease_rate=0.1), small_data)
    trainer.warm_up()
    trainer.fit(2)
    facts = trainer.run_facts()
    assert facts["backend"] == "jax" and facts["placement"] == "cpu:0" and facts["compile_s"] > 0
    assert facts["jit_compile"] is True and facts["donated_buffers"] is True and facts["x64"] is False
    assert facts["tracing_counts"]["train_step"] == 2  # the two batch shapes, never a retrace
    assert all(w.dtype == np.float64 for w in trainer.get_weights())
    with pytest.raises(NotProfilableError, match="jax.jit"):
        profile_transition(trainer, "fw:1", steps=1)
