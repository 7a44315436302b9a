"""What runs under Valgrind: ``python -m bench.counts.probe SPEC.json``. One process measures every case of the
spec (Valgrind's start-up, about 15 s here, is paid once per process): it builds each case's trainer as the timed suite
does (``warm_up`` then ``reset``), builds the timed call from the phase table (:mod:`impl.phases`) so counts
measure exactly what is timed, makes one untimed warm-up call, then collects Callgrind's events only around
each of the ``calls`` timed calls (setup calls such as backward's forward stay outside) and dumps them under
the case's id. The same toggling with no call in between is dumped too: the controller subtracts it, so the
few thousand instructions of the toggles themselves cancel (a differencing of N calls against 0).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.counts import client
from impl.config import TrainConfig
from impl.data import load_dataset
from impl.phases import PHASE_TABLE
from impl.registry import get_implementation
from impl.workloads import get_workload

EMPTY = "empty"  # the suffix of a case's 0-call dump


def library_facts() -> dict[str, Any]:
    """What the libraries run in this process (under Valgrind: what Valgrind made them run)."""
    import numpy as np
    import threadpoolctl

    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
    blas = [{key: pool.get(key) for key in ("internal_api", "version", "architecture", "num_threads", "filepath")}
            for pool in threadpoolctl.threadpool_info()]
    return {"python": platform.python_version(), "numpy": np.__version__, "blas": blas,
            "numpy_simd_baseline": list(__cpu_baseline__),
            "numpy_simd_dispatch": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)],
            "on_valgrind": client.running_on_valgrind()}


def _toggled(function: Any, *args: Any, **kwargs: Any) -> None:
    client.request(client.TOGGLE_COLLECT)
    function(*args, **kwargs)
    client.request(client.TOGGLE_COLLECT)


def measure_case(case: dict[str, Any], data: Any, spec: dict[str, Any]) -> None:
    """One case: warm-up outside collection, then ``calls`` collected calls, dumped as ``id``; and the toggles
    alone, dumped as ``id|empty``."""
    cls = get_implementation(case["impl"])
    epochs = case.get("epochs", 1) if case["phase"] == "full_run" else spec["epochs"].get(cls.workload, 1)
    config = TrainConfig.make(batch_size=case["batch_size"], epochs=epochs, seed=spec["seed"],
                              n_train=data.n_train, layers=get_workload(cls.workload).layers_of(tuple(spec["layers"])))
    trainer = cls(config, data)
    trainer.warm_up()  # the first train step, as Bench.trainer does before any timing
    trainer.reset()
    client.request(client.START_INSTRUMENTATION)  # from here on simulated (caches warm up in the warm-up call)
    try:
        _measure(case, trainer)
    finally:
        client.request(client.STOP_INSTRUMENTATION)


def _measure(case: dict[str, Any], trainer: Any) -> None:
    calls = int(case["calls"])
    _count(case, trainer, calls)
    client.zero_stats()  # after the calls, so the toggling code is as warm here as around them
    for _ in range(calls):
        _toggled(lambda: None)
    client.dump_stats_at(f"{case['id']}|{EMPTY}")


def _count(case: dict[str, Any], trainer: Any, calls: int) -> None:
    if case["phase"] == "full_run":  # each round: reset (untimed), then one fit from the same state
        trainer.reset()
        trainer.train_step(trainer.batches(0)[0])  # warms the simulated caches; reset undoes it
        client.zero_stats()
        for _ in range(calls):
            trainer.reset()
            _toggled(trainer.fit)
        client.dump_stats_at(case["id"])
        return
    phase = PHASE_TABLE[case["phase"]]
    indices = [b for b in trainer.batches(0) if len(b) == trainer.config.batch_size][:8] or trainer.batches(0)[:1]
    # the timed call as bench/test_steps.py builds it, cycling through ``calls`` of the suite's batches: one
    # uncollected pass over them warms the simulated caches, so the counted pass sees the steady state the
    # timed rounds see (each batch's rows already cached) rather than first touches, which vary run to run
    timed = phase.build(trainer, indices[:calls])

    def one_call(counted: bool) -> None:
        args, kwargs = timed.setup() if timed.setup else ((), {})
        (_toggled if counted else lambda f, *a, **k: f(*a, **k))(timed.target, *args, **kwargs)

    for _ in range(calls):  # warm-up, excluded as pytest-benchmark's calibration and warm-up rounds are
        one_call(counted=False)
    client.zero_stats()
    for _ in range(calls):
        one_call(counted=True)
    client.dump_stats_at(case["id"])


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    data = load_dataset(spec.get("mnist"), allow_synthetic_fallback=True)
    facts = library_facts() | {"dataset": data.kind, "n_train": data.n_train}
    print(f"counts: {time.strftime('%H:%M:%S')} data loaded", file=sys.stderr, flush=True)
    Path(spec["facts_out"]).write_text(json.dumps(facts, indent=1))
    for case in spec["cases"]:
        print(f"counts: {time.strftime('%H:%M:%S')} {case['id']} ...", file=sys.stderr, flush=True)
        measure_case(case, data, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
