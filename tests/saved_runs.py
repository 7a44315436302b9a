"""Small saved runs for the tests of `compare` and `table`, cut from the committed reference run (no new
measurement): a few implementations at one batch size, every phase, and edited copies of them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"
SMALL_IMPLS = ("numpy-v0-naive", "numpy-v1-float32", "numpy-v2-f", "numpy-tuned")

_cache: dict[str, Any] = {}


def reference_doc() -> dict[str, Any]:
    """The reference run's benchmark.json, read once per test process (a copy: callers edit it)."""
    if "doc" not in _cache:
        _cache["doc"] = json.loads((REFERENCE / "benchmark.json").read_text())
        _cache["record"] = json.loads((REFERENCE / "run.json").read_text())
    return copy.deepcopy(_cache["doc"])


def small_doc(impls: tuple[str, ...] = SMALL_IMPLS, size: int = 500) -> dict[str, Any]:
    doc = reference_doc()
    doc["benchmarks"] = [b for b in doc["benchmarks"]
                         if b["extra_info"]["impl"] in impls and b["extra_info"]["batch_size"] == size]
    doc.pop("mlp_bench_roofline", None)
    return doc


def write_run(folder: Path, doc: dict[str, Any], **record: Any) -> Path:
    """A run folder holding ``doc`` and the reference's record (``record`` fields changed)."""
    reference_doc()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({**_cache["record"], "run_id": folder.name, **record}, indent=1))
    (folder / "benchmark.json").write_text(json.dumps(doc))
    return folder


def edited(doc: dict[str, Any], change: Callable[[dict[str, Any]], None],
           where: Callable[[dict[str, Any]], bool] = lambda info: True) -> dict[str, Any]:
    """A copy of ``doc`` with ``change`` applied to every benchmark whose extra_info ``where`` accepts."""
    doc = copy.deepcopy(doc)
    for bench in doc["benchmarks"]:
        if where(bench["extra_info"]):
            change(bench)
    return doc


def scaled(bench: dict[str, Any], factor: float) -> None:
    """Every time of ``bench`` multiplied by ``factor`` (rounds and per-process medians alike)."""
    bench["stats"]["data"] = [v * factor for v in bench["stats"]["data"]]
    for key in ("min", "max", "mean", "median", "iqr", "stddev"):
        if isinstance(bench["stats"].get(key), float):
            bench["stats"][key] *= factor
