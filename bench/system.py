"""A short report of the machine's state at the start of a run, as `pyperf system show` gives: load, the
busiest other processes, CPU frequency scaling, and threads against cores. Printed and kept in run.json so a
surprising number can be traced back to a busy machine."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import psutil

from bench.environment import current_blas_threads

CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")
THREAD_VARIABLES = ("MLPBENCH_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
BUSIEST = 5


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text().strip()
    return None


def busiest_processes(interval: float = 0.3) -> list[dict[str, Any]]:
    """Other processes by CPU use over ``interval`` seconds (ours excluded)."""
    me = os.getpid()
    procs = [p for p in psutil.process_iter(["pid", "name"]) if p.pid != me]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.cpu_percent(None)
    psutil.cpu_percent(interval=interval)
    rows = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            rows.append({"pid": proc.pid, "name": proc.info["name"], "cpu_percent": proc.cpu_percent(None)})
    return sorted(rows, key=lambda r: -r["cpu_percent"])[:BUSIEST]


def system_report() -> dict[str, Any]:
    cores = os.cpu_count() or 1
    load = os.getloadavg()
    freq = psutil.cpu_freq()
    report = {
        "cores": cores, "load_average": [round(x, 2) for x in load],
        "cpu_percent": psutil.cpu_percent(interval=None),
        "governor": _read(CPUFREQ / "scaling_governor"), "frequency_mhz": round(freq.current) if freq else None,
        "blas_threads": current_blas_threads(),
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "busiest_processes": busiest_processes(),
    }
    report["warnings"] = system_warnings(report)
    return report


def system_warnings(report: dict[str, Any]) -> list[str]:
    notes = []
    cores = report["cores"]
    if report["load_average"][0] > cores / 2:
        notes.append(f"1-minute load average {report['load_average'][0]:.2f} exceeds half the {cores} cores: "
                     "other work competes with the measurements")
    threads = report.get("blas_threads")
    if threads and threads > cores:
        notes.append(f"{threads} BLAS threads on {cores} cores: oversubscribed")
    forced = report.get("thread_variables", {}).get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_CORETYPE")
    if forced:
        notes.append(f"OPENBLAS_CORETYPE={forced} forces OpenBLAS's {forced} kernels: NumPy's matrix products may "
                     "not use everything this CPU has, while frameworks with their own kernels (JAX, PyTorch) do; "
                     "compare only runs with the same setting")
    if report.get("governor") not in (None, "performance"):
        notes.append(f"CPU frequency governor is {report['governor']!r}, not 'performance'")
    return notes


def render_system(report: dict[str, Any]) -> str:
    busy = ", ".join(f"{p['name']} ({p['cpu_percent']:.0f}%)" for p in report["busiest_processes"]
                     if p["cpu_percent"] >= 1) or "none above 1%"
    lines = [f"system: {report['cores']} cores, load average {' / '.join(map(str, report['load_average']))}, "
             f"governor {report['governor'] or 'not readable'}, frequency "
             f"{report['frequency_mhz'] or 'not readable'} MHz, BLAS threads {report['blas_threads']}"
             + (f", {report['thread_variables']}" if report["thread_variables"] else ""),
             f"busiest other processes: {busy}"]
    lines += [f"WARNING: {note}" for note in report["warnings"]]
    return "\n".join(lines)
