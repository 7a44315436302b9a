"""Run folders under results/: one new folder per run, never overwritten, written atomically.

Each folder holds ``run.json`` (schema version, kind, created, tag, machine facts, ``complete``) next to what
the run produced. ``kind`` is ``"benchmark"`` or ``"profile"``; `mlp-bench compare` and `table` look only at
benchmark runs. A run folder is created when the run starts, with ``"complete": false``, and marked complete
only when the run ended normally: an interrupted or crashed run keeps what finished and is never picked by
default. Records written before schema version 2 have no marker and count as complete.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from impl.errors import MLPBenchError

RUN_FILE = "run.json"
#: 2: "complete" marker, worker processes per case; 3: plain strict JSON (no NaN, never gzipped), a pytest-benchmark
#: group per benchmark, rounds per process run-length coded (``rounds_per_process``)
SCHEMA_VERSION = 3
REFERENCE_RUN = "reference"  # the committed run; never picked as a default for comparisons
DEFAULT_RESULTS_DIR = Path("results")
MAX_TAG = 64  # characters of a run folder's tag: its name stays far below the file system's 255
_UMASK = os.umask(0)
os.umask(_UMASK)


def check_writable(path: Path | None) -> None:
    """Refuse an output whose folder does not exist: commands call this before their work, so that nothing is
    half done when the result cannot be written."""
    if path is not None and not path.parent.is_dir():
        raise MLPBenchError(f"cannot write {path}: no folder {path.parent}")
    if path is not None and path.is_dir():
        raise MLPBenchError(f"cannot write {path}: a folder (name a file in it)")


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and rename: readers never see half a file. A path
    that cannot be written is a one-line error, and nothing is left behind."""
    check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise MLPBenchError(f"cannot write {path}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise MLPBenchError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None: strict JSON parsers refuse NaN and Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def to_json(value: Any, indent: int | None = 1, default: Callable[[Any], Any] = str) -> str:
    """Strict JSON text (RFC 8259: no NaN/Infinity; an unmeasured number is null)."""
    return json.dumps(strict(value), indent=indent, default=lambda v: strict(default(v)), allow_nan=False)


def write_json(path: Path, value: Any, indent: int | None = 1, default: Callable[[Any], Any] = str) -> None:
    atomic_write_text(path, to_json(value, indent, default))


def check_results_dir(results_dir: Path) -> None:
    """A one-line error unless run folders can be made under ``results_dir``: a folder, or a path whose nearest
    existing parent is a writable folder (checked before any work, so a bad path costs nothing)."""
    existing = next((p for p in (results_dir, *results_dir.absolute().parents) if p.exists()), Path("/"))
    if existing == results_dir and not results_dir.is_dir():
        raise MLPBenchError(f"--results-dir {results_dir}: not a folder")
    if not existing.is_dir():
        raise MLPBenchError(f"--results-dir {results_dir}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MLPBenchError(f"--results-dir {results_dir}: {existing} is not writable")


def check_tag(tag: str) -> None:
    """A one-line error for a tag that would make a run folder's name too long for the file system."""
    if len(tag) > MAX_TAG:
        raise MLPBenchError(f"--tag: at most {MAX_TAG} characters (a run folder's name), got {len(tag)}")


def new_run_dir(results_dir: Path, tag: str, kind: str, meta: dict[str, Any] | None = None) -> Path:
    """Create ``results_dir/<UTC date-time>-<tag>`` (suffixed -2, -3, ... if taken) and its run.json."""
    check_results_dir(results_dir)
    check_tag(tag)
    now = datetime.now(UTC)
    safe_tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).strip("-") or kind
    base = f"{now:%Y%m%d-%H%M%S}-{safe_tag}"
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MLPBenchError(f"--results-dir {results_dir}: {err.strerror}") from None
    for n in range(1, 1000):
        path = results_dir / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise MLPBenchError(f"{path}: {err.strerror}") from None
        record = {"schema_version": SCHEMA_VERSION, "run_id": path.name, "kind": kind, "tag": tag,
                  "created": now.isoformat(), "complete": False, **(meta or {})}
        write_json(path / RUN_FILE, record, indent=2)
        return path
    raise MLPBenchError(f"could not create a new run folder under {results_dir}")


def update_run_record(path: Path, **fields: Any) -> None:
    """Rewrite a run's record with ``fields`` added (atomically: a reader sees the old or the new record)."""
    record = json.loads((path / RUN_FILE).read_text())
    record.update(fields)
    write_json(path / RUN_FILE, record, indent=2)


@dataclass(frozen=True)
class RunInfo:
    path: Path
    kind: str
    created: str
    record: dict[str, Any]

    @property
    def complete(self) -> bool:
        return bool(self.record.get("complete", True))


def read_run(path: Path) -> RunInfo:
    """A run folder's record; one-line errors naming the file for missing, unreadable or corrupt ones (types
    checked against bench/schema.py: ``"complete": "false"`` is no boolean, ``"schema_version": "3"`` no
    version)."""
    from bench.schema import RunRecord, check

    file = path / RUN_FILE
    if not path.is_dir():
        raise MLPBenchError(f"{path}: no such run folder")
    try:
        record = json.loads(file.read_text())
    except FileNotFoundError:
        raise MLPBenchError(f"{path}: not a run folder ({RUN_FILE} missing)") from None
    except IsADirectoryError:
        raise MLPBenchError(f"{file}: a folder, not a run record") from None
    except OSError as err:
        raise MLPBenchError(f"{file}: cannot read ({err.strerror or err})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as err:
        raise MLPBenchError(f"{file}: corrupt run record ({brief_error(err)})") from None
    if not isinstance(record, dict):
        raise MLPBenchError(f"{file}: corrupt run record (not a JSON object)")
    version = record.get("schema_version", 1)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise MLPBenchError(f"{path}: written by a newer mlp-bench (schema version {version}, this one reads up to "
                            f"{SCHEMA_VERSION}): upgrade mlp-bench to read it")
    check(RunRecord, record, file, "run record")
    return RunInfo(path, record["kind"], record["created"], record)


def brief_error(err: Exception, limit: int = 80) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def list_runs(results_dir: Path, kind: str | None = None, include_reference: bool = False,
              include_incomplete: bool = False) -> list[RunInfo]:
    """Readable runs of ``kind``, oldest first by recorded date; damaged folders are skipped with a one-line
    warning on stderr (one bad folder must not stop every default command), and so are incomplete runs unless
    asked for."""
    runs = []
    if results_dir.is_dir():
        for path in sorted(results_dir.iterdir()):
            if not (path / RUN_FILE).exists() or (path.name == REFERENCE_RUN and not include_reference):
                continue
            try:
                info = read_run(path)
            except MLPBenchError as err:
                print(f"mlp-bench: warning: skipped {path.name}: {err}", file=sys.stderr)
                continue
            if (kind is None or info.kind == kind) and (include_incomplete or info.complete):
                runs.append(info)
    return sorted(runs, key=lambda r: r.created)
