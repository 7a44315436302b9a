"""Running the probe under Callgrind and reading its dumps back."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from impl.errors import MLPBenchError

#: Instrumentation starts only for a case (start-up, data loading and trainer building run uninstrumented,
#: several times faster); events are collected only around the timed calls. Callgrind's cache simulation takes
#: the machine's cache sizes from CPUID; its branch simulation adds the mispredictions.
VALGRIND_ARGS = ("--tool=callgrind", "--cache-sim=yes", "--branch-sim=yes", "--collect-atstart=no",
                 "--instr-atstart=no", "--dump-instr=no", "--dump-line=no", "--compress-strings=no",
                 "--compress-pos=no")
#: Counts are single-threaded: Valgrind runs one thread at a time, and a BLAS thread pool's spin-waits would
#: make the counts depend on the scheduler. Set before the libraries start.
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "BLIS_NUM_THREADS", "MLPBENCH_THREADS")}
#: What --counts-kernel may name: an OpenBLAS core type (OPENBLAS_CORETYPE) or ``machine`` (OpenBLAS's own pick).
KERNELS = ("Sandybridge", "Haswell", "machine")
#: The default: AVX without FMA. Valgrind 3.19 executes FMA instructions through slow helper calls: one B=5000
#: forward ran 74 s on Haswell's FMA kernel and under 6 s on Sandybridge's (docs/counts.md), so the whole
#: matrix of NumPy cases fits minutes instead of hours. The kernel is recorded, and compare calls counts taken on
#: different kernels not comparable.
DEFAULT_KERNEL = "Sandybridge"
MISSING = ("counts need Valgrind: no `valgrind` on PATH; install Debian's package (apt-get install valgrind) "
           "or your system's")


def valgrind_version() -> str:
    """``valgrind-3.19.0``; a one-line error naming the package when Valgrind is missing."""
    exe = shutil.which("valgrind")
    if exe is None:
        raise MLPBenchError(MISSING)
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def parse_dump(text: str) -> tuple[str, dict[str, int], list[str]]:
    """(trigger, event totals, cache descriptions) of one Callgrind output file."""
    trigger, events, summary, caches = "", [], [], []
    for line in text.splitlines():
        if line.startswith("desc: Trigger:"):
            trigger = line.split(":", 2)[2].strip()
        elif re.match(r"desc: (I1|D1|LL) cache:", line):
            caches.append(line[len("desc: "):])
        elif line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            summary = [int(v) for v in line.split()[1:]]
    if not events or not summary:
        raise MLPBenchError("counts: a Callgrind dump without events or summary (Valgrind stopped early?)")
    return trigger, dict(zip(events, summary + [0] * (len(events) - len(summary)), strict=True)), caches


def read_dumps(folder: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Every client-request dump in ``folder`` by its name, and the simulated caches."""
    found, caches = {}, []
    for file in sorted(folder.glob("callgrind.out*")):
        trigger, events, caches = parse_dump(file.read_text())
        prefix = "Client Request:"
        if trigger.startswith(prefix):
            found[trigger[len(prefix):].strip()] = events
    return found, caches


def kernel_env(kernel: str) -> dict[str, str]:
    """The probe's environment for ``kernel``: the thread settings, and OpenBLAS's core type unless ``machine``.
    Only the Valgrind process gets it; the timings run on the environment's kernels as ever."""
    return {**ONE_THREAD, **({} if kernel == "machine" else {"OPENBLAS_CORETYPE": kernel})}


def check_kernel(kernel: str, facts: dict[str, Any]) -> None:
    """A one-line error where OpenBLAS ran another kernel than the one asked for (an unknown core type falls
    back silently)."""
    ran = [b.get("architecture") for b in facts.get("blas", []) if b.get("internal_api") == "openblas"]
    if kernel != "machine" and any(str(arch).lower() != kernel.lower() for arch in ran):
        raise MLPBenchError(f"counts: OpenBLAS ran its {', '.join(map(str, ran))} kernel under Valgrind, not the "
                            f"{kernel} kernel --counts-kernel asked for")


def run_probe(spec: dict[str, Any], log_to: Path, timeout_s: float,
              kernel: str = DEFAULT_KERNEL) -> tuple[dict[str, dict[str, int]], list[str], dict[str, Any]]:
    """Run ``python -m bench.counts.probe`` under Callgrind on ``spec`` with OpenBLAS on ``kernel``: the dumps
    by name, the simulated caches, and the library facts the probe saw. Valgrind's own log goes to ``log_to``."""
    valgrind_version()
    with tempfile.TemporaryDirectory(prefix="mlpbench-counts-") as tmp:
        folder = Path(tmp)
        spec = dict(spec, facts_out=str(folder / "facts.json"))
        (folder / "spec.json").write_text(json.dumps(spec))
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, **kernel_env(kernel), PYTHONPATH=os.pathsep.join(
            [root, *filter(None, [os.environ.get("PYTHONPATH")])]))
        command = ["valgrind", *VALGRIND_ARGS, f"--callgrind-out-file={folder}/callgrind.out.%p",
                   sys.executable, "-m", "bench.counts.probe", str(folder / "spec.json")]
        with open(log_to, "w") as log:
            try:
                done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise MLPBenchError(f"counts: Valgrind ran past {timeout_s:g} s (log: {log_to})") from None
        if done.returncode != 0:
            raise MLPBenchError(f"counts: Valgrind's probe exited {done.returncode} (log: {log_to})")
        dumps, caches = read_dumps(folder)
        facts = json.loads((folder / "facts.json").read_text())
        check_kernel(kernel, facts)
        return dumps, caches, facts


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n")
