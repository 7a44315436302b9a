"""The run's plan: its estimate before any work, the --yes gate on long plans, and progress that tells the truth."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.plan import Progress, duration_text, unit_seconds

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"mlp-bench worker \d+/\d+: .*\[([\d.]+) (s|min|h), about ([\d.]+) (s|min|h) left\]")
UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0}


def test_progress_scales_the_plan_by_what_finished_and_reuses_a_groups_own_time():
    progress = Progress({"a": 10.0, "b": 30.0}, total_workers=4)
    progress.finished("a", 20.0)  # this machine runs at half the plan's speed
    assert progress.left(["b", "a", "b"]) == pytest.approx(60 + 20 + 60)
    progress.finished("b", 45.0)
    assert progress.left(["a", "b"]) == pytest.approx(20 + 45)  # each group's own time, once it ran


def test_a_base_revisions_twin_costs_what_its_implementation_costs_and_an_unknown_one_the_median():
    assert unit_seconds("numpy-tuned@HEAD", "train_step", 500) == unit_seconds("numpy-tuned", "train_step", 500)
    assert unit_seconds("numpy-tuned", "train_step", 1000) == pytest.approx(
        2 * unit_seconds("numpy-tuned", "train_step", 500))  # the nearest batch size, scaled
    assert 0 < unit_seconds("no-such-impl", "forward", 500) < 0.1


def test_durations_read_at_a_glance():
    assert [duration_text(s) for s in (45, 750, 4 * 3600)] == ["45 s", "12.5 min", "4.0 h"]


def test_a_plan_of_hours_stops_before_any_work_unless_yes(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "-p", "no:cacheprovider",
                           "--impl", "numpy-v3-sliced", "--epochs", "20000", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 4, done.stdout[-2000:]
    assert re.search(r"this run plans about [\d.]+ h .*add --yes to run it", done.stdout + done.stderr)
    assert "Traceback" not in done.stdout + done.stderr and not any(tmp_path.iterdir())


def test_the_estimate_after_the_first_worker_is_within_half_again_of_the_real_total(tmp_path, real_data):
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "-p", "no:cacheprovider",
                           "--quick", "--processes", "2", "--impl", "numpy-v1-float32,numpy-v3-sliced",
                           "--batch-sizes", "500,5000", "--full-run-batch-sizes", "500,5000",
                           "--results-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    lines = [LINE.search(line) for line in done.stdout.splitlines() if LINE.search(line)]
    assert len(lines) == 4
    first, last = lines[0], lines[-1]
    estimate = float(first[1]) * UNIT[first[2]] + float(first[3]) * UNIT[first[4]]
    real = float(last[1]) * UNIT[last[2]]
    assert 1 / 1.5 <= estimate / real <= 1.5, (estimate, real)
