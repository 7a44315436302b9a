"""Every JSON file the project commits or writes is strict JSON (RFC 8259): no NaN or Infinity, which strict
parsers (JavaScript's JSON.parse, jq, Go) refuse."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.runs import SCHEMA_VERSION, read_run, to_json, write_json
from impl.errors import MLPBenchError

ROOT = Path(__file__).resolve().parents[1]


def _refuse(constant: str) -> None:
    raise ValueError(f"non-standard JSON constant {constant}")


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT) for p in (ROOT / "results").rglob("*.json")), ids=str)
def test_every_committed_json_is_strict(path: Path) -> None:
    json.loads((ROOT / path).read_text(), parse_constant=_refuse)


def test_not_measured_is_null_not_nan(tmp_path: Path) -> None:
    value = {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": -math.inf}, "e": (2, 3)}
    assert json.loads(to_json(value), parse_constant=_refuse) == {"a": None, "b": [1.5, None], "c": {"d": None},
                                                                  "e": [2, 3]}
    write_json(tmp_path / "x.json", {"v": float("nan")})
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=_refuse) == {"v": None}


def test_a_run_from_a_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"kind": "benchmark", "created": "2030-01-01",
                                                   "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(MLPBenchError, match="newer mlp-bench") as err:
        read_run(tmp_path)
    assert "\n" not in str(err.value)
