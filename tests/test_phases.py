"""The phase table is the one place a phase is defined: a row added to it is parametrised by the benchmarks,
built into a timed call, counted by the FLOP model and checked by the contract, with no other edit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench import roofline
from impl.config import TrainConfig
from impl.numpy_mlp.v3_sliced import NumpyV3Sliced
from impl.phases import PHASE_TABLE, Phase, TimedCall, step_phases

ROOT = Path(__file__).resolve().parents[1]

#: A new phase for the test: the loss of a gathered batch from a fresh forward state (a calibrated call).
ADD_LOSS_PHASE = '''
from itertools import cycle
from impl.phases import PHASE_TABLE, Phase, TimedCall

def _loss(trainer, indices):
    states = cycle([(trainer.forward(b), b) for b in (trainer.prepare_batch(i) for i in indices)]).__next__
    return TimedCall(lambda: trainer.batch_loss(*states()))

PHASE_TABLE["loss"] = Phase("loss", "calibrated", ("prepare_batch", "forward", "batch_loss"), "forward", _loss)
'''


def test_step_phases_are_the_table_rows_that_are_not_full_runs():
    assert step_phases() == tuple(n for n, p in PHASE_TABLE.items() if p.mode != "full_run")
    assert "full_run" in PHASE_TABLE and "full_run" not in step_phases()


def test_the_flop_model_is_the_tables():
    per = roofline.flops_per_sample()
    flops = roofline.phase_flops(500)
    assert flops["forward"] == per["forward"] * 500 and flops["backward"] == per["backward"] * 500
    assert flops["train_step"] == flops["forward_backward"] == per["total"] * 500 and flops["prepare"] == 0
    assert flops["full_run"] == roofline.run_flops()


def test_every_step_phase_builds_a_timed_call(small_data):
    trainer = NumpyV3Sliced(TrainConfig.make(batch_size=500), small_data)
    indices = trainer.batches(0)[:2]
    for name in step_phases():
        timed = PHASE_TABLE[name].build(trainer, indices)
        args, kwargs = timed.setup() if timed.setup else ((), {})
        assert timed.target(*args, **kwargs) is not None, name


def test_a_phase_added_to_the_table_is_benchmarked_with_no_other_edit(tmp_path):
    """In one process, as if the row were in the source: add it before the contract is imported, then collect
    the benchmarks. An implementation on the default phases (all of the table) gets it; one that lists its
    phases does not."""
    code = ADD_LOSS_PHASE + '''
import sys, pytest
from impl.numpy_mlp.v3_sliced import NumpyV3Sliced

class WithoutLoss(NumpyV3Sliced):  # lists its phases itself, and not the new one
    name = "numpy-without-loss"
    phases = ("prepare", "forward")

sys.exit(pytest.main(["bench/", "--benchmark-only", "--collect-only", "-q", "-p", "no:cacheprovider",
                      "--impl", "numpy-v3-sliced,numpy-without-loss", "--batch-sizes", "500",
                      "--results-dir", sys.argv[1]]))
'''
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "test_step[numpy-v3-sliced-B500-loss]" in done.stdout
    assert "test_step[numpy-without-loss-B500-forward]" in done.stdout
    assert "test_step[numpy-without-loss-B500-loss]" not in done.stdout


def test_the_added_phase_is_built_counted_and_checked(small_data, monkeypatch):
    namespace: dict = {}
    exec(ADD_LOSS_PHASE.replace('PHASE_TABLE["loss"] = ', "row = "), namespace)
    monkeypatch.setitem(PHASE_TABLE, "loss", namespace["row"])
    assert "loss" in step_phases()
    assert roofline.phase_flops(500)["loss"] == roofline.flops_per_sample()["forward"] * 500
    trainer = NumpyV3Sliced(TrainConfig.make(batch_size=500), small_data)
    timed: TimedCall = PHASE_TABLE["loss"].build(trainer, trainer.batches(0)[:2])
    assert np.isfinite(timed.target())
    assert isinstance(PHASE_TABLE["loss"], Phase)
