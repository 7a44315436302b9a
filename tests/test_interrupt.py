"""Fault injection: real benchmark runs stopped at random moments, by SIGINT (to the whole process group, as a
terminal's Ctrl-C) or SIGTERM (to the controller alone, as a job manager), in one process or with worker
processes. After each: no finished case lost, no process left behind, nothing written afterwards, the folder
readable and marked incomplete with the signal."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: (worker processes, the latest moment to stop a run at, seconds): both well inside such a run's length
MODES = {"in-process": (1, 9.0), "workers": (2, 26.0)}
SEEDS = range(5)  # 5 seeds x 2 signals x 2 modes: 20 interruptions
RUN = ["--benchmark-only", "--quick", "--impl", "numpy-v1-float32,numpy-v3-sliced", "--batch-sizes", "500",
       "--full-run-batch-sizes", "500", "-p", "no:cacheprovider", "-v"]


def workers_of(results: Path) -> list[psutil.Process]:
    """Worker processes of runs under ``results`` (they carry the spec path of their run folder)."""
    found = []
    for process in psutil.process_iter():
        try:
            if str(results) in process.environ().get("MLPBENCH_WORKER_SPEC", ""):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def cases(doc: dict) -> dict[tuple, int]:
    """(impl, phase, batch size) -> rounds, of a benchmark JSON."""
    return {(b["extra_info"]["impl"], b["extra_info"]["phase"], b["extra_info"]["batch_size"]):
            len(b["stats"]["data"]) for b in doc.get("benchmarks", [])}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("mode", list(MODES))
def test_a_run_stopped_at_a_random_moment_keeps_every_finished_case(mode, sig, seed, tmp_path, real_data):
    processes, latest = MODES[mode]
    results = tmp_path / "results"
    delay = random.Random(f"{mode}-{sig}-{seed}").uniform(1.0, latest)
    run = subprocess.Popen([sys.executable, "-m", "pytest", "bench/", *RUN, "--processes", str(processes),
                            "--results-dir", str(results)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    time.sleep(delay)
    assert run.poll() is None, "the run ended before its interruption: make it longer or stop it sooner"
    (os.killpg if sig == signal.SIGINT else os.kill)(run.pid, sig)
    output, _ = run.communicate(timeout=120)
    assert "Traceback" not in output.split("KeyboardInterrupt")[0], output[-3000:]
    assert workers_of(results) == [], "a worker outlived its controller"
    folders = list(results.iterdir()) if results.exists() else []
    if not folders:  # stopped before the run folder was made: nothing to keep
        return
    (folder,) = folders
    before = snapshot(folder)
    record = json.loads((folder / "run.json").read_text())
    assert not record["complete"] and record["stopped_by"] == sig.name, record
    saved = cases(json.loads((folder / "benchmark.json").read_text())) if (folder / "benchmark.json").exists() else {}
    # every case a test finished in this process, and every case a worker saved, is in the run's JSON
    passed = [line.split(" ")[0] for line in output.splitlines() if line.endswith("]") and " PASSED" in line]
    if processes == 1:
        for node in passed:  # test_step[IMPL-B500-forward], test_full_run[IMPL-B500-full_run]
            impl, batch, phase = node.split("[")[1].rstrip("]").rsplit("-", 2)
            assert (impl, phase, int(batch.lstrip("B"))) in saved, (node, sorted(saved))
    for worker_file in (folder / "workers").glob("*.json") if (folder / "workers").exists() else []:
        try:
            worker = cases(json.loads(worker_file.read_text()))
        except json.JSONDecodeError:
            pytest.fail(f"{worker_file}: a worker's file is not whole JSON")
        for case, rounds in worker.items():
            assert saved.get(case, 0) >= rounds, (worker_file.name, case)
    shown = subprocess.run([sys.executable, "-m", "bench.cli", "table", str(folder)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert "Traceback" not in shown.stderr and (shown.returncode == 0 or len(shown.stderr.strip().splitlines()) == 1)
    if shown.returncode == 0:
        assert f"INCOMPLETE: stopped by {sig.name}" in shown.stdout
    time.sleep(0.5)
    assert snapshot(folder) == before, "something wrote into the run folder after its run ended"
