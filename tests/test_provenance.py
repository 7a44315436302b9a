"""Data provenance: every benchmark run records the checksums of the MNIST files it read and whether they are the
official ones; a run on other files says so in its tables (a warning, a flag on every case) and is never paired
with a run on other data."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from saved_runs import small_doc, write_run

from bench import cli
from bench.environment import machine_record
from bench.identity import data_checksum
from bench.results import OTHER_DATA, tidy_frame
from impl.data import IDX_NAMES, load_dataset, load_idx_dir, provenance, write_idx

OFFICIAL = {"train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"}


def tiny_idx(folder, seed=0):
    """Four small IDX files (not the official ones)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in IDX_NAMES:
        n = 20 if name.startswith("train") else 10
        array = (rng.integers(0, 256, (n, 28, 28)) if "images" in name else rng.integers(0, 10, n)).astype(np.uint8)
        write_idx(folder / name, array)
    return folder


def test_the_checksums_of_what_was_read_are_kept(tmp_path):
    raw = load_idx_dir(tiny_idx(tmp_path / "mnist"))
    assert raw.genuine is False and dict(raw.checksums).keys() == set(IDX_NAMES)
    gz = tmp_path / "gz"
    gz.mkdir()
    for name in IDX_NAMES:  # the checksum is of the uncompressed bytes: .gz or not, the same data
        (gz / f"{name}.gz").write_bytes(gzip.compress((tmp_path / "mnist" / name).read_bytes()))
    assert load_idx_dir(gz).checksums == raw.checksums


def test_a_loaded_dataset_is_in_the_machine_record(tmp_path):
    load_dataset.cache_clear()
    data = load_dataset(tiny_idx(tmp_path / "mnist", seed=1))
    record = machine_record()["data"]
    assert record == provenance(data) and record["genuine"] is False and record["kind"] == "real"
    assert set(record["checksums"]) == set(IDX_NAMES)
    load_dataset.cache_clear()


def with_data(doc, genuine, digest="0" * 64):
    doc = json.loads(json.dumps(doc))
    doc["machine_info"].setdefault("mlp_bench", {})["data"] = {
        "source": "idx:/somewhere", "kind": "real", "genuine": genuine,
        "checksums": {"train-images-idx3-ubyte": digest}}
    return doc


def test_a_run_on_other_files_warns_and_flags_every_case(tmp_path, capsys):
    run = write_run(tmp_path / "run", with_data(small_doc(), genuine=False))
    assert cli.main(["table", str(run)]) == 0
    out = capsys.readouterr().out
    assert "WARNING: data: the MNIST files' checksums differ from the official ones" in out
    frame = tidy_frame(json.loads((run / "benchmark.json").read_text()))
    assert all(OTHER_DATA in flags.split(",") for flags in frame["flags"])
    official = tidy_frame(with_data(small_doc(), genuine=True, digest=OFFICIAL["train-images-idx3-ubyte"]))
    assert not any(OTHER_DATA in flags for flags in official["flags"])


def test_runs_on_different_files_are_not_comparable(tmp_path, capsys):
    a = write_run(tmp_path / "a", with_data(small_doc(), True, "1" * 64))
    b = write_run(tmp_path / "b", with_data(small_doc(), True, "2" * 64))
    assert cli.main(["compare", str(a), str(b)]) == 3
    assert "data_checksum" in capsys.readouterr().err
    same = write_run(tmp_path / "same", with_data(small_doc(), True, "1" * 64))
    assert cli.main(["compare", str(a), str(same)]) == 0
    capsys.readouterr()
    assert data_checksum(small_doc()) is None  # a run from before the record: unknown, no difference


@pytest.mark.parametrize("record", [{"genuine": "yes"}, {"checksums": ["x"]}, "x"])
def test_a_damaged_data_record_is_one_line(record, tmp_path, capsys):
    doc = small_doc()
    doc["machine_info"].setdefault("mlp_bench", {})["data"] = record
    run = write_run(tmp_path / "run", doc)
    assert cli.main(["table", str(run)]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "benchmark.json" in err and "data" in err
