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


def run_probe(spec: dict[str, Any], log_to: Path, timeout_s: float) -> tuple[dict[str, dict[str, int]], list[str],
                                                                            dict[str, Any]]:
    """Run ``python -m bench.counts.probe`` under Callgrind on ``spec``: the dumps by name, the simulated
    caches, and the library facts the probe saw. Valgrind's own log goes to ``log_to``."""
    valgrind_version()
    with tempfile.TemporaryDirectory(prefix="mlpbench-counts-") as tmp:
        folder = Path(tmp)
        spec = dict(spec, facts_out=str(folder / "facts.json"))
        (folder / "spec.json").write_text(json.dumps(spec))
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, **ONE_THREAD, PYTHONPATH=os.pathsep.join(
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
        return dumps, caches, json.loads((folder / "facts.json").read_text())


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n")
