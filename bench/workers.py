"""Each case measured in several fresh worker processes, one worker at a time, rounds interleaved across cases.

Much of the timing noise on a shared machine lives between processes (memory and thread placement,
neighbours), so one process's rounds are not independent samples. With ``--processes N`` the controlling
pytest session runs no benchmark itself: for process round p = 1..N it starts one worker per implementation
and batch size (in a seeded random order that changes with p, as asv's ``--interleave-rounds``), each a plain
``pytest`` of exactly that group's test ids in this process's settings, measuring in-process with one
process's share of the rounds. Workers never run in parallel with each other. The controller then feeds every
worker's raw rounds into its own pytest-benchmark fixtures, tagged with their process, so pytest-benchmark's
table, JSON and storage hold the merged samples.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.settings import OPTIONS, WORKER_ENV, BenchSettings

#: Suite options a worker must see as the controller saw them (the rest concern the controller only).
FORWARDED = {flag for flag, _ in OPTIONS} - {"--worker-timeout", "--results-dir", "--tag", "--line-profile"}
#: pytest-benchmark's options that change how a worker times (storage, display and comparison stay here).
FORWARDED_BENCHMARK = {"--benchmark-min-time", "--benchmark-max-time", "--benchmark-min-rounds",
                       "--benchmark-timer", "--benchmark-calibration-precision", "--benchmark-warmup-iterations",
                       "--benchmark-disable-gc", "--benchmark-warmup"}
FLAGS = {flag for flag, kw in OPTIONS if kw.get("action") == "store_true"} | {"--benchmark-disable-gc"}
OPTIONAL_VALUE = {"--benchmark-warmup": {"true", "false", "yes", "no", "on", "off", "auto"}}
LOG_TAIL_LINES = 15

CaseKey = tuple[str, str, int, str]  # impl, backend, batch size, phase


@dataclass(frozen=True)
class Group:
    """The cases one worker measures: every selected phase of one implementation on one backend at one batch
    size."""

    impl: str
    backend: str
    batch_size: int
    node_ids: tuple[str, ...]
    keys: tuple[CaseKey, ...]

    @property
    def trainer_class(self) -> type:
        from impl.registry import get_implementation

        return get_implementation(self.impl, require_available=False)

    @property
    def label(self) -> str:
        """As in the test ids: ``name@backend`` only off the implementation's default backend."""
        name = self.impl if self.backend == self.trainer_class.default_backend() else f"{self.impl}@{self.backend}"
        return f"{name} B={self.batch_size}"

    @property
    def environment(self) -> dict[str, str]:
        return self.trainer_class.backend_environment(self.backend)


def case_key(item: pytest.Item) -> CaseKey | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if not {"impl", "backend", "batch_size", "phase"} <= set(params) or not isinstance(params["batch_size"], int):
        return None  # not a benchmark case (or pytest's placeholder for an empty parameter set)
    return params["impl"], params["backend"], params["batch_size"], params["phase"]


def plan(items: list[pytest.Item]) -> list[Group]:
    """Group the selected, runnable benchmark items by implementation, backend and batch size (skipped ones stay
    out)."""
    groups: dict[tuple[str, str, int], list[tuple[str, CaseKey]]] = defaultdict(list)
    for item in items:
        key = case_key(item)
        if key is None or item.get_closest_marker("skip"):
            continue
        groups[key[:3]].append((f"{item.path}::{item.name}", key))
    return [Group(impl, backend, size, tuple(n for n, _ in cases), tuple(k for _, k in cases))
            for (impl, backend, size), cases in groups.items()]


def forwarded_args(args: list[str]) -> list[str]:
    """The controller's command-line options that a worker must repeat (an allowlist: the rest stay here)."""
    keep = FORWARDED | FORWARDED_BENCHMARK
    out, i = [], 0
    while i < len(args):
        token = args[i]
        flag = token.split("=", 1)[0]
        if flag in keep:
            out.append(token)
            takes_value = "=" not in token and flag not in FLAGS
            if takes_value and flag in OPTIONAL_VALUE:
                takes_value = i + 1 < len(args) and args[i + 1].lower() in OPTIONAL_VALUE[flag]
            if takes_value and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        i += 1
    return out


class ProcessRunner:
    """Runs the workers, keeps their raw documents in the run folder, and replays them into the fixtures."""

    def __init__(self, settings: BenchSettings, config: pytest.Config, run_dir: Path, write: Any) -> None:
        self.settings = settings
        self.config = config
        self.workers_dir = run_dir / "workers"
        self.write = write  # one line of progress at a time (the terminal reporter's write_line)
        self.results: dict[CaseKey, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        self.failures: dict[CaseKey, str] = {}
        self.schedule: list[dict[str, Any]] = []

    def run_all(self, items: list[pytest.Item]) -> None:
        groups = plan(items)
        if not groups:
            return
        self.workers_dir.mkdir(exist_ok=True)
        total, done, started = len(groups) * self.settings.processes, 0, time.perf_counter()
        for process in range(1, self.settings.processes + 1):
            order = list(groups)
            random.Random(f"{self.settings.seed}-{process}").shuffle(order)
            for group in order:
                done += 1
                seconds, status = self._run_one(group, process)
                elapsed = time.perf_counter() - started
                self.write(f"mlp-bench worker {done}/{total}: process {process}/{self.settings.processes}, "
                           f"{group.label} ({len(group.keys)} cases): {status} in {seconds:.1f} s "
                           f"[{elapsed / 60:.1f} min, about {elapsed / done * (total - done) / 60:.1f} min left]")

    def _run_one(self, group: Group, process: int) -> tuple[float, str]:
        stem = f"p{process}-{group.impl}-{group.backend}-B{group.batch_size}"
        out, log = self.workers_dir / f"{stem}.json", self.workers_dir / f"{stem}.log"
        command = [sys.executable, "-m", "pytest", *group.node_ids, "--benchmark-only", "-q", "-p",
                   "no:cacheprovider", *forwarded_args(list(self.config.invocation_params.args))]
        env = {**os.environ, **group.environment, WORKER_ENV: str(out), "MLPBENCH_PROCESS": str(process),
               "MPLBACKEND": "Agg"}
        start = time.perf_counter()
        with log.open("w") as log_file:
            try:
                done = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                      cwd=self.config.invocation_params.dir, timeout=self.settings.worker_timeout)
                problem = None if done.returncode in (0, 1) else f"worker exited with status {done.returncode}"
            except subprocess.TimeoutExpired:
                problem = f"worker timed out after {self.settings.worker_timeout:g} s"
        seconds = time.perf_counter() - start
        self.schedule.append({"process": process, "impl": group.impl, "backend": group.backend,
                              "batch_size": group.batch_size,
                              "seconds": seconds, "problem": problem})
        found = self._collect(out, process)
        missing = [k for k in group.keys if k not in found]
        if missing:
            why = problem or "the worker measured nothing for this case"
            message = f"process {process}: {why}; last lines of {log}:\n{tail(log)}"
            for key in missing:
                self.failures.setdefault(key, message)
            return seconds, f"FAILED ({len(missing)} cases)"
        return seconds, "ok"

    def _collect(self, out: Path, process: int) -> set[CaseKey]:
        try:
            doc = json.loads(out.read_text())
        except (OSError, json.JSONDecodeError):
            return set()
        found = set()
        for bench in doc.get("benchmarks", []):
            info = bench.get("extra_info", {})
            key = (info.get("impl"), info.get("backend"), info.get("batch_size"), info.get("phase"))
            if bench.get("stats", {}).get("data"):
                self.results[key].append((process, bench))
                found.add(key)
        if not hasattr(self, "machine_info"):
            self.machine_info = doc.get("machine_info", {})
        return found

    def replay(self, benchmark: Any, key: CaseKey) -> None:
        """Feed every process's raw rounds into this test's benchmark fixture (pytest-benchmark's own stats)."""
        if key in self.failures:
            pytest.fail(self.failures[key], pytrace=False)
        measured = self.results.get(key)
        if not measured:
            pytest.fail("no worker process measured this case", pytrace=False)
        stats = benchmark._make_stats(1)  # the fixture's stats holder; durations below are per iteration
        benchmark._mode = "mlp-bench worker processes"
        for _, bench in measured:
            for duration in bench["stats"]["data"]:
                stats.update(duration)
        benchmark.extra_info.update(merge_extra_info(measured))


def merge_extra_info(measured: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """One record from the processes' records: facts from the first, samples tagged with their process."""
    infos = [bench.get("extra_info", {}) for _, bench in measured]
    merged = dict(infos[0])
    merged["processes"] = len(measured)
    merged["process_of_round"] = [p for p, bench in measured for _ in bench["stats"]["data"]]
    merged["process_medians_s"] = [float(np.median(bench["stats"]["data"])) for _, bench in measured]
    if any(info.get("epoch_seconds") for info in infos):
        merged["epoch_seconds"] = [run for info in infos for run in info.get("epoch_seconds") or []]
    for field in ("first_call_s", "peak_step_mb", "peak_run_mb", "first_epoch_s"):
        values = [info[field] for info in infos if isinstance(info.get(field), int | float)]
        if values:
            merged[field] = float(np.median(values))
            merged[f"{field}_by_process"] = values
    if merged.get("samples_per_round"):
        merged["samples_per_s"] = merged["samples_per_round"] / float(np.exp(np.mean(np.log(
            merged["process_medians_s"]))))
    return merged


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])
