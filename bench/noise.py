"""What disturbed a measurement: counters read before and after each case in its worker process.

A between-process spread has causes, and a run can only be trusted if they are visible: the hypervisor
taking the CPU away (steal time, machine-wide, from ``/proc/stat``), the scheduler preempting the worker
(involuntary context switches, ``getrusage``), threads moving between CPUs (``se.nr_migrations`` of every
thread, from ``/proc/self/task/*/sched`` where the kernel exposes it), the CPU set the worker may use, and the
BLAS threads really in use (threadpoolctl). The counters cost microseconds and are read outside the timed
rounds.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A case whose steal share of the machine's CPU time exceeds this is flagged (the hypervisor took the CPU).
STEAL_FLAG = 0.02
#: Involuntary context switches per second of measurement above which a case is flagged (preempted).
PREEMPT_FLAG = 50.0


def _proc_stat() -> tuple[int, int]:
    """(steal ticks, all ticks) of the whole machine since boot; (0, 0) where /proc/stat is absent."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[7], sum(fields)
    return 0, 0


def _migrations() -> int | None:
    """CPU migrations summed over this process's threads (None where the kernel does not expose them)."""
    total, seen = 0, False
    for sched in Path("/proc/self/task").glob("*/sched"):
        with contextlib.suppress(OSError):
            for line in sched.read_text().splitlines():
                if line.startswith("se.nr_migrations"):
                    total += int(line.split(":")[1])
                    seen = True
                    break
    return total if seen else None


def cpu_set() -> list[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Counters:
    """One reading of the counters."""

    wall: float
    steal_ticks: int
    all_ticks: int
    involuntary: int
    voluntary: int
    migrations: int | None

    @classmethod
    def now(cls) -> Counters:
        steal, ticks = _proc_stat()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(time.perf_counter(), steal, ticks, usage.ru_nivcsw, usage.ru_nvcsw, _migrations())

    def since(self, earlier: Counters) -> dict[str, Any]:
        """What happened between two readings, as the run records it (``noise_*`` fields of a case)."""
        seconds = self.wall - earlier.wall
        ticks = self.all_ticks - earlier.all_ticks
        migrations = (None if self.migrations is None or earlier.migrations is None
                      else self.migrations - earlier.migrations)
        return {"noise_seconds": round(seconds, 4),
                "noise_steal_share": round((self.steal_ticks - earlier.steal_ticks) / ticks, 5) if ticks else 0.0,
                "noise_involuntary_switches": self.involuntary - earlier.involuntary,
                "noise_voluntary_switches": self.voluntary - earlier.voluntary,
                "noise_migrations": migrations, "noise_cpu_set": cpu_set()}


def noise_flags(info: dict[str, Any]) -> list[str]:
    """``steal`` / ``preempted`` for a case whose worker was disturbed beyond the thresholds above."""
    flags = []
    if (info.get("noise_steal_share") or 0) > STEAL_FLAG:
        flags.append("steal")
    seconds = info.get("noise_seconds") or 0
    if seconds and (info.get("noise_involuntary_switches") or 0) / seconds > PREEMPT_FLAG:
        flags.append("preempted")
    return flags
