"""Each case measured in several fresh worker processes, one worker at a time, rounds interleaved across cases.

Much of the timing noise on a shared machine lives between processes (memory and thread placement,
neighbours), so one process's rounds are not independent samples. With ``--processes N`` the controlling
pytest session runs no benchmark itself: for process round p = 1..N it starts one worker per group of cases
(in a seeded random order that changes with p, as asv's ``--interleave-rounds``), each a plain ``pytest`` of
exactly that group's test ids. Workers never run in parallel with each other.

A group is every case of one batch size whose implementations can share a process (same device, no clash of
environment variables: NumPy's variants with each other and with the frameworks, but not Keras on two
backends); with ``--no-pair``, every case of one implementation and batch size. In a shared worker the
implementations' windows interleave, so whatever the worker's placement and the host do to it touches all of
them alike, and the run's own comparisons ("x fastest", "which is fastest", the ladder) take per-worker
differences (bench/stats.py), which cancel that part. Fewer workers also start fewer interpreters.

The worker protocol is explicit (as asv's runner and pyperf's manager): the controller writes one spec file
per worker (its frozen ``BenchSettings``, the case ids, pytest-benchmark's timing options, the process round,
the CPUs to run on, where to write) and starts the worker with ``$MLPBENCH_WORKER_SPEC`` pointing at it; a
worker never re-parses the controller's argv. Where the machine has more cores than the BLAS threads, the
controller keeps one core and pins each worker to the others (pyperf's ``--affinity``).

With ``--until-resolved`` the controller looks at the verdicts after the first rounds and adds process rounds
only for the cases still ``cannot resolve`` (bench/sequential.py), until they resolve, the budget is spent or
the last look was taken. The controller then feeds every worker's raw rounds into its own pytest-benchmark
fixtures, tagged with their process, so pytest-benchmark's table, JSON and storage hold the merged samples.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import pytest_benchmark_adapter as adapter
from bench.runs import write_json
from bench.settings import WORKER_SPEC_ENV, BenchSettings
from bench.windows import PER_CALL, merge_windows, split, window_log
from impl.data import load_dataset, save_dataset
from impl.errors import MLPBenchError

LOG_TAIL_LINES = 15
WORKER_GRACE_S = 10.0  # how long an interrupted worker may take to save the cases it finished
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
SPEC_SCHEMA = 1

CaseKey = tuple[str, str, int, str]  # impl, backend, batch size, phase


Member = tuple[str, str]  # impl, backend


@dataclass(frozen=True)
class Group:
    """The cases one worker measures: every selected phase of its implementations (one, or several sharing the
    worker) at one batch size."""

    members: tuple[Member, ...]
    batch_size: int
    node_ids: tuple[str, ...]
    keys: tuple[CaseKey, ...]
    stem: str  # the worker's file names and its id in the records, without the process round

    @property
    def label(self) -> str:
        """As in the test ids: ``name@backend`` only off the implementation's default backend."""
        names = [_member_label(impl, backend) for impl, backend in self.members]
        return f"{names[0]} B={self.batch_size}" if len(names) == 1 else f"B={self.batch_size}: {', '.join(names)}"

    @property
    def environment(self) -> dict[str, str]:
        return merged_environment(self.members) or {}


def _trainer_class(impl: str) -> type:
    from impl.registry import get_implementation

    return get_implementation(impl, require_available=False)


def _member_label(impl: str, backend: str) -> str:
    return impl if backend == _trainer_class(impl).default_backend() else f"{impl}@{backend}"


def merged_environment(members: Sequence[Member]) -> dict[str, str] | None:
    """The environment a worker for all ``members`` needs, or None where two of them need different values of
    one variable (Keras on two backends) and so cannot share a process."""
    merged: dict[str, str] = {}
    for impl, backend in members:
        for name, value in _trainer_class(impl).backend_environment(backend).items():
            if merged.setdefault(name, value) != value:
                return None
    return merged


def case_key(item: pytest.Item) -> CaseKey | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if not {"impl", "backend", "batch_size", "phase"} <= set(params) or not isinstance(params["batch_size"], int):
        return None  # not a benchmark case (or pytest's placeholder for an empty parameter set)
    return params["impl"], params["backend"], params["batch_size"], params["phase"]


def plan(items: list[pytest.Item], share: bool = True) -> list[Group]:
    """The workers of one process round. Selected, runnable benchmark items (skipped ones stay out) by
    implementation, backend and batch size; with ``share``, the implementations of one batch size that can
    share a process (same device, environments that agree) in one worker, so that their windows interleave and
    the run's own comparisons pair them per worker (bench/stats.py)."""
    cases: dict[tuple[str, str, int], list[tuple[str, CaseKey]]] = defaultdict(list)
    for item in items:
        key = case_key(item)
        if key is None or item.get_closest_marker("skip"):
            continue
        cases[key[:3]].append((f"{item.path}::{item.name}", key))
    buckets: list[list[tuple[str, str, int]]] = []
    for member in cases:
        home = next((b for b in buckets if share and _can_share(b, member)), None)
        if home is None:
            buckets.append([member])
        else:
            home.append(member)
    groups, stems = [], set()
    for bucket in buckets:
        impl, backend, size = bucket[0]
        stem = f"{impl}-{backend}-B{size}" if len(bucket) == 1 else \
            f"shared-{'+'.join(sorted({m[1] for m in bucket}))}-B{size}"
        while stem in stems:
            stem += "+"
        stems.add(stem)
        entries = [entry for member in bucket for entry in cases[member]]
        groups.append(Group(tuple(m[:2] for m in bucket), size, tuple(n for n, _ in entries),
                            tuple(k for _, k in entries), stem))
    return groups


def _can_share(bucket: list[tuple[str, str, int]], member: tuple[str, str, int]) -> bool:
    """Whether ``member`` can join the worker of ``bucket``: same batch size, same device, no clash of
    environments."""
    first = bucket[0]
    return (first[2] == member[2] and _trainer_class(first[0]).device == _trainer_class(member[0]).device
            and merged_environment([m[:2] for m in [*bucket, member]]) is not None)


def planned_seconds(groups: Sequence[Group], settings: BenchSettings, window_s: float) -> dict[str, float]:
    """Each group's planned wall time for one worker of it (bench/plan.py)."""
    from bench.plan import Shape, group_seconds

    planned = {}
    for group in groups:
        classes = [_trainer_class(impl) for impl, _ in group.members]
        shape = Shape(windows=settings.windows, window_s=window_s,
                      epochs=max(settings.epochs.get(c.workload, 1) for c in classes),
                      full_run_rounds=min(settings.full_run_rounds(c) for c in classes), rotates=settings.rotates)
        planned[group.stem] = group_seconds(group.keys, {backend for _, backend in group.members}, shape)
    return planned


def check_plan(groups: Sequence[Group], settings: BenchSettings, window_s: float) -> float:
    """The run's planned seconds; a one-line error naming the estimate when it exceeds an hour without --yes."""
    from bench.plan import CONFIRM_ABOVE_S, duration_text

    total = settings.processes * sum(planned_seconds(groups, settings, window_s).values())
    if total > CONFIRM_ABOVE_S and not settings.yes:
        raise MLPBenchError(f"this run plans about {duration_text(total)} ({len(groups)} worker group(s) x "
                            f"{settings.processes} process(es)); add --yes to run it, or choose fewer --epochs, "
                            "--processes or cases")
    return total


def cpu_plan(threads: int, pin: bool, cpus: list[int] | None = None) -> dict[str, Any]:
    """Where the controller and the workers run: with fewer BLAS threads than CPUs the controller keeps the
    first CPU and each worker gets the last ``threads``; otherwise nobody is pinned (and the reason is kept)."""
    cpus = sorted(os.sched_getaffinity(0)) if cpus is None and hasattr(os, "sched_getaffinity") else (cpus or [])
    if not pin:
        return {"controller": None, "worker": None, "why": "pinning switched off (--no-pin)"}
    if len(cpus) <= threads:
        return {"controller": None, "worker": None,
                "why": f"not pinned: {threads} BLAS thread(s) need all {len(cpus)} CPU(s)"}
    return {"controller": cpus[:1], "worker": cpus[-threads:],
            "why": f"workers pinned to CPU(s) {cpus[-threads:]}, the controller to CPU {cpus[0]}"}


def pin_process(cpus: list[int] | None) -> None:
    """Move every thread of this process onto ``cpus`` (threads started earlier, BLAS's included)."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return
    for task in Path("/proc/self/task").iterdir() if Path("/proc/self/task").is_dir() else []:
        try:
            os.sched_setaffinity(int(task.name), set(cpus))
        except (OSError, ValueError):
            continue
    os.sched_setaffinity(0, set(cpus))


class ProcessRunner:
    """Runs the workers, keeps their raw documents in the run folder, and replays them into the fixtures."""

    def __init__(self, settings: BenchSettings, config: pytest.Config, run_dir: Path, write: Any,
                 threads: int) -> None:
        self.settings = settings
        self.config = config
        self.workers_dir = run_dir / "workers"
        self.write = write  # one line of progress at a time (the terminal reporter's write_line)
        self.results: dict[CaseKey, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        self.failures: dict[CaseKey, str] = {}
        self.schedule: list[dict[str, Any]] = []
        self.machine_info: dict[str, Any] = {}
        self.cpus = cpu_plan(threads, settings.pin)
        self.timing = adapter.timing_options(adapter.session(config))
        self.sequential: dict[str, Any] | None = None
        self.dataset_dir: Path | None = None  # the run's preprocessed data, handed to every worker
        self._started = time.perf_counter()

    def run_all(self, items: list[pytest.Item]) -> None:
        groups = plan(items, share=self.settings.pair)
        if not groups:
            return
        self.workers_dir.mkdir(exist_ok=True)
        original = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        pin_process(self.cpus["controller"])
        self.dataset_dir = Path(tempfile.mkdtemp(prefix="mlp-bench-data-"))
        from bench.plan import Progress

        self.progress = Progress(planned_seconds(groups, self.settings, float(self.timing.get("max_time", 1.0))),
                                 total_workers=self.settings.processes * len(groups))
        self.queue = [g.stem for _ in range(self.settings.processes) for g in groups]  # what is left, in any order
        try:
            # decoded and standardised once here, read back by every worker in a fraction of a second
            save_dataset(load_dataset(self.settings.mnist, allow_synthetic_fallback=True), self.dataset_dir)
            for process in range(1, self.settings.processes + 1):
                self.run_round(process, groups, self.settings.processes * len(groups))
            if self.settings.until_resolved:
                from bench.sequential import run_until_resolved

                self.sequential = run_until_resolved(self, groups)
        finally:
            pin_process(original)
            shutil.rmtree(self.dataset_dir, ignore_errors=True)

    def run_round(self, process: int, groups: list[Group], total: int) -> None:
        """One process round: a worker for each group, in this round's seeded order."""
        order = list(groups)
        random.Random(f"{self.settings.seed}-{process}").shuffle(order)
        from bench.plan import duration_text

        for group in order:
            seconds, status = self._run_one(group, process)
            done = len(self.schedule)
            elapsed = time.perf_counter() - self._started
            self.progress.finished(group.stem, seconds)
            if group.stem in self.queue:
                self.queue.remove(group.stem)
            self.write(f"mlp-bench worker {done}/{max(total, done)}: process {process}, {group.label} "
                       f"({len(group.keys)} cases): {status} in {seconds:.1f} s "
                       f"[{duration_text(elapsed)}, about {duration_text(self.progress.left(self.queue))} left]")

    def seconds_of(self, group: Group) -> float:
        """Mean wall time of this group's workers so far (what one more process round of it costs)."""
        times = [s["seconds"] for s in self.schedule
                 if s["group"] == group.stem]
        return float(np.mean(times)) if times else 0.0

    def spent_seconds(self) -> float:
        return float(sum(s["seconds"] for s in self.schedule))

    def _run_one(self, group: Group, process: int) -> tuple[float, str]:
        stem = f"p{process}-{group.stem}"
        out, log = self.workers_dir / f"{stem}.json", self.workers_dir / f"{stem}.log"
        spec = self.workers_dir / "specs" / f"{stem}.json"
        spec.parent.mkdir(exist_ok=True)
        write_json(spec, {
            "schema": SPEC_SCHEMA, "settings": self.settings.to_spec(), "cases": list(group.node_ids),
            "benchmark_options": self.timing, "process": process, "cpus": self.cpus["worker"], "out": str(out),
            "dataset": str(self.dataset_dir)})
        command = [sys.executable, "-m", "pytest", *group.node_ids, "--benchmark-only", "-q", "-p",
                   "no:cacheprovider"]
        env = {**os.environ, **group.environment, WORKER_SPEC_ENV: str(spec), "MPLBACKEND": "Agg"}
        timeout = self.settings.worker_timeout * len(group.members)  # a shared worker measures them all
        start = time.perf_counter()
        with log.open("w") as log_file:
            worker = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                      cwd=self.config.invocation_params.dir, start_new_session=True,
                                      preexec_fn=die_with_parent)
            try:
                returncode = worker.wait(timeout=timeout)
                problem = None if returncode in (0, 1) else f"worker exited with status {returncode}"
            except subprocess.TimeoutExpired:
                stop_worker(worker, grace_s=0.0)
                problem = (f"worker timed out after {timeout:g} s ({self.settings.worker_timeout:g} s for each of its "
                           f"{len(group.members)} implementations)")
            except BaseException:  # Ctrl-C or SIGTERM: the worker saves the cases it finished, then the run stops
                stop_worker(worker, grace_s=WORKER_GRACE_S)
                self.schedule.append({"process": process, "group": group.stem, "worker": stem,
                                      "members": [list(m) for m in group.members], "batch_size": group.batch_size,
                                      "seconds": time.perf_counter() - start, "problem": "interrupted"})
                self._collect(out, process, stem)
                raise
        seconds = time.perf_counter() - start
        self.schedule.append({"process": process, "group": group.stem, "worker": stem,
                              "members": [list(m) for m in group.members], "batch_size": group.batch_size,
                              "seconds": seconds, "problem": problem})
        found = self._collect(out, process, stem)
        missing = [k for k in group.keys if k not in found]
        if missing:
            why = problem or "the worker measured nothing for this case"
            message = f"process {process}: {why}; last lines of {log}:\n{tail(log)}"
            for key in missing:
                self.failures.setdefault(key, message)
            return seconds, f"FAILED ({len(missing)} cases)"
        return seconds, "ok"

    def _collect(self, out: Path, process: int, worker: str) -> set[CaseKey]:
        try:
            doc = json.loads(out.read_text())
        except (OSError, json.JSONDecodeError):
            return set()
        windows: dict[CaseKey, list[dict[str, Any]]] = defaultdict(list)
        for bench in doc.get("benchmarks", []):
            info = bench.get("extra_info", {})
            key = (info.get("impl"), info.get("backend"), info.get("batch_size"), info.get("phase"))
            if bench.get("stats", {}).get("data"):
                # cases of one worker are paired in the run's own comparisons; rotated ones per phase, since each
                # phase's rotation is its own stretch of the worker's life (bench/rotation.py)
                info["worker"] = f"{worker}:{info.get('phase')}" if info.get("rotation") else worker
                windows[key].append(bench)
        for key, benches in windows.items():
            self.results[key].append((process, merge_windows(benches)))
        found = set(windows)
        if not self.machine_info:
            self.machine_info = doc.get("machine_info", {})
        return found

    def document(self) -> dict[str, Any]:
        """The merged measurements so far, shaped like pytest-benchmark's JSON (for verdicts between looks)."""
        benchmarks = []
        for key, measured in self.results.items():
            if key in self.failures:
                continue
            first = measured[0][1]
            benchmarks.append({**{k: first.get(k) for k in ("name", "fullname", "group", "param", "params")},
                               "stats": adapter.stats_of([d for _, b in measured for d in b["stats"]["data"]]),
                               "extra_info": merge_extra_info(measured)})
        return {"benchmarks": benchmarks, "machine_info": self.machine_info}

    def replay(self, benchmark: Any, key: CaseKey) -> None:
        """Feed every process's raw rounds into this test's benchmark fixture (pytest-benchmark's own stats)."""
        if key in self.failures:
            pytest.fail(self.failures[key], pytrace=False)
        measured = self.results.get(key)
        if not measured:
            pytest.fail("no worker process measured this case", pytrace=False)
        adapter.replay(benchmark, [d for _, bench in measured for d in bench["stats"]["data"]])
        benchmark.extra_info.update(merge_extra_info(measured))


def merge_extra_info(measured: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """One record from the processes' records: facts from the first, samples tagged with their process."""
    measured = sorted(measured, key=lambda pb: pb[0])
    infos = [bench.get("extra_info", {}) for _, bench in measured]
    merged = dict(infos[0])
    merged["processes"] = len(measured)
    merged["process_ids"] = [p for p, _ in measured]  # the rounds are in this order, process by process
    merged["rounds_per_process"] = [len(bench["stats"]["data"]) for _, bench in measured]
    merged["windows_per_process"] = [len(info.get("rounds_per_window") or [0]) for info in infos]
    merged["rounds_per_window"] = [n for (_, bench), info in zip(measured, infos, strict=True)
                                   for n in info.get("rounds_per_window") or [len(bench["stats"]["data"])]]
    merged["process_medians_s"] = [float(np.exp(window_log(split(bench["stats"]["data"], info.get(
        "rounds_per_window")), info.get("location", "median"), info.get("epoch_seconds")))) for (_, bench), info in
        zip(measured, infos, strict=True)]
    for name in PER_CALL:
        if all(name in info for info in infos):
            merged[name] = [v for info in infos for v in info[name]]
    if all("epoch_positions" in info for info in infos):
        merged["epoch_positions"] = [run for info in infos for run in info["epoch_positions"]]
    merged["yardstick_by_process"] = [info.get("yardstick_s") for info in infos]
    merged["worker_by_process"] = [info.get("worker") for info in infos]
    merged.pop("worker", None)
    merged["noise_by_process"] = [{k: v for k, v in info.items() if k.startswith("noise_")} for info in infos]
    merged.pop("window_medians_s", None)  # one process's: rounds_per_window splits every process's rounds
    for key in [k for k in merged if k.startswith(("noise_", "yardstick_")) and not k.endswith("_by_process")]:
        del merged[key]  # one process's readings: the lists above hold every process's
    if any(info.get("epoch_seconds") for info in infos):
        merged["epoch_seconds"] = [run for info in infos for run in info.get("epoch_seconds") or []]
    for field in ("first_call_s", "peak_step_mb", "peak_run_mb", "first_epoch_s", "floor_epoch_s"):
        values = [info[field] for info in infos if isinstance(info.get(field), int | float)]
        if values:
            merged[field] = float(np.median(values))
            merged[f"{field}_by_process"] = values
    if merged.get("samples_per_round"):
        merged["samples_per_s"] = merged["samples_per_round"] / float(np.exp(np.mean(np.log(
            merged["process_medians_s"]))))
    return merged


def die_with_parent() -> None:
    """In a new worker, before it runs: the kernel kills it if the controller dies (even by SIGKILL, which no
    handler sees), so a worker never runs on, orphaned, into a run folder (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_worker(worker: subprocess.Popen, grace_s: float) -> None:
    """Stop a worker and everything it started (its own process group): SIGTERM, up to ``grace_s`` seconds for it
    to save the cases it finished (a worker stops on SIGTERM as on Ctrl-C), then SIGKILL; always reaped."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        if worker.poll() is not None:
            break
        if sig == signal.SIGTERM and not grace_s:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=wait_s)
    worker.wait()


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])
