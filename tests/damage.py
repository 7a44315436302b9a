"""A corpus of damaged saved runs, generated (never hand-edited) from a small run cut from the committed
reference: every kind of damage a run folder meets in practice (truncated or binary files, folders where files
belong, wrong types, impossible values, stray files of the workers), each made by one function.

``KINDS`` maps a kind's name to (function, expected outcome): ``"error"`` (the run is refused with a one-line
error that names the file, exit 3), ``"damaged"`` (read; one case is listed as damaged and left out of every
statistic) or ``"ok"`` (read correctly: the damage touches nothing the command relies on).
tests/test_damage.py runs every kind through `table`, `compare`, `report` and the default forms.

Run it as a script to write the corpus somewhere to look at: ``python -m tests.damage DIR``.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saved_runs import reference_doc, write_run

#: the ladder's implementations (full runs at both sizes, so that `report` has its ladder) and two at B=500
LADDER = ("numpy-v0-naive", "numpy-v1-float32", "numpy-v2-c", "numpy-v2-f", "numpy-v3-sliced", "numpy-tuned")
STEPS = ("numpy-v1-float32", "numpy-tuned")
#: the case every per-case damage hits
VICTIM = "numpy-v2-f"


def base_doc() -> dict[str, Any]:
    doc = reference_doc()
    doc.pop("mlp_bench_roofline", None)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if
                         (b["extra_info"]["phase"] == "full_run" and b["extra_info"]["impl"] in LADDER)
                         or (b["extra_info"]["batch_size"] == 500 and b["extra_info"]["impl"] in STEPS)]
    return doc


def good_run(folder: Path, doc: dict[str, Any] | None = None, **record: Any) -> Path:
    return write_run(folder, doc if doc is not None else base_doc(), **record)


# ------------------------------------------------------------------ the kinds, one function each

def _json(name: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    """Damage by editing a file's JSON: ``change`` edits it in place or returns a replacement."""
    def damage(folder: Path) -> None:
        file = folder / name
        value = json.loads(file.read_text())
        new = change(value)
        file.write_text(json.dumps(value if new is None else new))
    return damage


def _bytes(name: str, make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        file = folder / name
        file.write_bytes(make(file.read_bytes()))
    return damage


def _folder_instead(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
        (folder / name / "inside").write_text("{}")
    return damage


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def _record(**fields: Any) -> Callable[[Path], None]:
    return _json("run.json", lambda r: r.update(fields))


def _drop_record(key: str) -> Callable[[Path], None]:
    return _json("run.json", lambda r: r.pop(key))


def _every(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Apply ``change`` to every benchmark entry."""
    return _json("benchmark.json", lambda d: [change(b) for b in d["benchmarks"]] and None)


def _victim(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Apply ``change`` to the victim's full run at B=500 only."""
    def edit(doc: dict[str, Any]) -> None:
        for bench in doc["benchmarks"]:
            info = bench["extra_info"]
            if info["impl"] == VICTIM and info["phase"] == "full_run" and info["batch_size"] == 500:
                change(bench)
    return _json("benchmark.json", edit)


def _times(values: Callable[[list[float]], list[Any]]) -> Callable[[Path], None]:
    return _victim(lambda b: b["stats"].update(data=values(b["stats"]["data"])))


def _raw_times(text: str) -> Callable[[Path], None]:
    """The victim's times as raw JSON text (numbers json.dumps cannot write: 1e400, a 400-digit integer)."""
    def damage(folder: Path) -> None:
        _times(lambda d: ["@RAW@"] * len(d))(folder)
        file = folder / "benchmark.json"
        file.write_text(file.read_text().replace('"@RAW@"', text))
    return damage


def _deep(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text("[" * 100000 + "]" * 100000)


def _workers(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        make(folder / "workers")
    return damage


def _garbage_worker(workers: Path) -> None:
    workers.mkdir()
    (workers / "p1-w1.json").write_bytes(b"\x00\xff\xfe garbage")
    (workers / "p1-w1.log").write_bytes(b"\xff" * 100)


def _folder_worker(workers: Path) -> None:
    (workers / "p1-w1.json").mkdir(parents=True)


def _gzip_only(folder: Path) -> None:
    (folder / "benchmark.json").unlink()
    (folder / "benchmark.json.gz").write_bytes(b"\x1f\x8b not really gzip")


def _duplicate(doc: dict[str, Any]) -> None:
    doc["benchmarks"].append(json.loads(json.dumps(doc["benchmarks"][0])))


def _png_folder(folder: Path) -> None:
    (folder / "mlp-ladder.png").mkdir()


def _stray_file_as_run(folder: Path) -> None:
    (folder / "notes.txt").write_bytes(b"\xff\xfe binary notes")


ERROR, OK, DAMAGED = "error", "ok", "damaged"
KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    # run.json
    "run.json missing": (_remove("run.json"), ERROR),
    "run.json empty": (_bytes("run.json", lambda b: b""), ERROR),
    "run.json binary garbage": (_bytes("run.json", lambda b: b"\x89PNG\r\n\x1a\n\xff\xfe\x00" * 20), ERROR),
    "run.json truncated": (_bytes("run.json", lambda b: b[: len(b) // 2]), ERROR),
    "run.json a list": (_json("run.json", lambda r: [r]), ERROR),
    "run.json a folder": (_folder_instead("run.json"), ERROR),
    "run.json nested too deep": (_deep("run.json"), ERROR),
    "run.json complete is a string": (_record(complete="false"), ERROR),
    "run.json schema_version is a string": (_record(schema_version="3"), ERROR),
    "run.json schema_version newer": (_record(schema_version=99), ERROR),
    "run.json schema_version NaN": (_bytes("run.json", lambda b: b.replace(b'"schema_version": 3',
                                                                            b'"schema_version": NaN')), ERROR),
    "run.json kind is a number": (_record(kind=5), ERROR),
    "run.json kind missing": (_drop_record("kind"), ERROR),
    "run.json created is null": (_record(created=None), ERROR),
    "run.json a profile run": (_record(kind="profile"), ERROR),
    "run.json tag is a list": (_record(tag=["a"]), ERROR),
    "run.json unknown extra field": (_record(favourite_colour="blue"), OK),
    # benchmark.json, the whole file
    "benchmark.json missing": (_remove("benchmark.json"), ERROR),
    "benchmark.json empty": (_bytes("benchmark.json", lambda b: b""), ERROR),
    "benchmark.json binary garbage": (_bytes("benchmark.json", lambda b: bytes(range(256)) * 4), ERROR),
    "benchmark.json truncated": (_bytes("benchmark.json", lambda b: b[: len(b) // 3]), ERROR),
    "benchmark.json a folder": (_folder_instead("benchmark.json"), ERROR),
    "benchmark.json a list": (_json("benchmark.json", lambda d: d["benchmarks"]), ERROR),
    "benchmark.json nested too deep": (_deep("benchmark.json"), ERROR),
    "benchmark.json only a broken gzip": (_gzip_only, ERROR),
    "benchmarks not a list": (_json("benchmark.json", lambda d: d.update(benchmarks={})), ERROR),
    "benchmarks empty": (_json("benchmark.json", lambda d: d.update(benchmarks=[])), ERROR),
    "no extra_info.impl anywhere": (_every(lambda b: b["extra_info"].pop("impl")), ERROR),
    "a benchmark is a string": (_json("benchmark.json", lambda d: d["benchmarks"].append("x")), ERROR),
    "a case twice": (_json("benchmark.json", _duplicate), ERROR),
    "mlp_bench_sequential max_looks 0": (_json("benchmark.json",
                                               lambda d: d.update(mlp_bench_sequential={"max_looks": 0})), ERROR),
    "machine_info a string": (_json("benchmark.json", lambda d: d.update(machine_info="x")), ERROR),
    # benchmark.json, one case's types
    "batch_size a string": (_victim(lambda b: b["extra_info"].update(batch_size="500")), ERROR),
    "batch_size zero": (_victim(lambda b: b["extra_info"].update(batch_size=0)), ERROR),
    "impl a number": (_victim(lambda b: b["extra_info"].update(impl=7)), ERROR),
    "extra_info null": (_victim(lambda b: b.update(extra_info=None)), ERROR),
    "stats.data a string": (_victim(lambda b: b["stats"].update(data="fast")), ERROR),
    "a time is a string": (_times(lambda d: [str(v) for v in d]), ERROR),
    "threads negative": (_victim(lambda b: b["extra_info"].update(threads=-1)), ERROR),
    "quick a string": (_victim(lambda b: b["extra_info"].update(quick="false")), ERROR),
    "epochs a float": (_victim(lambda b: b["extra_info"].update(epochs=35.5)), ERROR),
    "timer a number": (_victim(lambda b: b["options"].update(timer=1)), ERROR),
    "floor negative": (_victim(lambda b: b["extra_info"].update(floor_epoch_s=-1.0)), ERROR),
    "process ids strings": (_victim(lambda b: b["extra_info"].update(process_ids=["a", "b"])), ERROR),
    # one case's times: damaged, listed, kept out of every pooled quantity
    "times missing": (_victim(lambda b: b["stats"].pop("data")), DAMAGED),
    "times empty": (_times(lambda d: []), DAMAGED),
    "stats missing": (_victim(lambda b: b.pop("stats")), DAMAGED),
    "one time NaN": (_raw_times("NaN"), DAMAGED),
    "every time null": (_times(lambda d: [None] * len(d)), DAMAGED),
    "one time zero": (_times(lambda d: [0.0, *d[1:]]), DAMAGED),
    "times negative": (_times(lambda d: [-v for v in d]), DAMAGED),
    "times absurd (1e300 s)": (_times(lambda d: [1e300] * len(d)), DAMAGED),
    "times infinite (1e400)": (_raw_times("1e400"), DAMAGED),
    "times a 400-digit integer": (_raw_times("1" + "0" * 400), DAMAGED),
    "rounds and process tags disagree": (_victim(lambda b: b["extra_info"].update(rounds_per_process=[1, 99])),
                                         DAMAGED),
    "yardstick zero": (_victim(lambda b: b["extra_info"].update(yardstick_by_process=[0.0, 0.0])), DAMAGED),
    "yardstick readings miscounted": (_victim(lambda b: b["extra_info"].update(yardstick_by_process=[0.01])),
                                      OK),
    "yardstick a null reading": (_victim(lambda b: b["extra_info"].update(yardstick_by_process=[None, 0.01])),
                                 DAMAGED),
    # the folder's other files
    "workers/ holds binary garbage": (_workers(_garbage_worker), OK),
    "a worker file is a folder": (_workers(_folder_worker), OK),
    "workers is a file": (lambda folder: (folder / "workers").write_bytes(b"\xff"), OK),
    "a figure is a folder": (_png_folder, OK),
    "a binary stray file": (_stray_file_as_run, OK),
    "tables.md binary garbage": (lambda folder: (folder / "tables.md").write_bytes(b"\xff\xfe\x00"), OK),
}


def make(kind: str, folder: Path, **record: Any) -> Path:
    """A run folder damaged in one way, under ``folder`` (``record``: fields of its run.json before the damage)."""
    good_run(folder, **record)
    KINDS[kind][0](folder)
    return folder


def make_corpus(root: Path) -> dict[str, Path]:
    """Every kind, one folder each (named after its kind), under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, kind in enumerate(KINDS):
        out[kind] = make(kind, root / f"{i:02d}-{''.join(c if c.isalnum() else '-' for c in kind)}")
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1])
    if target.exists():
        shutil.rmtree(target)
    for kind, path in make_corpus(target).items():
        print(f"{path}: {kind}")
