"""The benchmark suite as a user drives it: a real (tiny) pytest-benchmark run writes a new run folder with
tables and plots; compare/table read saved runs; bad options and bad runs are one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.results import COLUMNS, against_fastest, load_run, process_of_round
from bench.settings import BenchSettings

ROOT = Path(__file__).resolve().parents[1]
# one BLAS thread: on a busy 2-core machine two OpenBLAS threads can stall a product 50-fold
TINY = ["--quick", "--impl", "numpy-v3-sliced,numpy-v0-naive", "--batch-sizes", "2000",
        "--full-run-batch-sizes", "20000", "--threads", "1", "-p", "no:cacheprovider"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def bench_run(results: Path, *extra: str) -> subprocess.CompletedProcess:
    return run("-m", "pytest", "bench/", "--benchmark-only", "--results-dir", str(results), *TINY, *extra)


def mlp_bench(*args: str) -> subprocess.CompletedProcess:
    return run("-m", "bench.cli", *args)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, real_data) -> Path:
    """Two real tiny runs, each case measured in two worker processes: the first with the implementations sharing
    their workers (the default), the second with a worker per implementation."""
    results = tmp_path_factory.mktemp("results")
    for extra in ([], ["--phases", "forward,full_run", "--no-pair"]):  # the second only as much as compare needs
        done = bench_run(results, "--processes", "2", *extra)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results


def edited_copy(run: Path, to: Path, edit) -> Path:
    """A copy of a saved run with ``edit`` applied to every benchmark of its JSON."""
    to.mkdir()
    (to / "run.json").write_text((run / "run.json").read_text())
    doc = json.loads((run / "benchmark.json").read_text())
    for bench in doc["benchmarks"]:
        edit(bench)
    (to / "benchmark.json").write_text(json.dumps(doc))
    return to


def run_folders(results: Path) -> list[Path]:
    return sorted(p for p in results.iterdir() if p.is_dir())


def test_a_run_writes_json_tables_and_plots(two_runs):
    folders = run_folders(two_runs)
    assert len(folders) == 2  # the second run never overwrote the first
    folder = folders[0]
    for name in ("run.json", "benchmark.json", "benchmarks.csv", "benchmarks.md", "tables.md", "mlp-steps.png",
                 "mlp-ladder.png"):
        assert (folder / name).is_file(), name
    frame = pd.read_csv(folder / "benchmarks.csv")
    assert set(COLUMNS) <= set(frame.columns)
    phases = set(frame["phase"])
    assert phases == {"prepare", "forward", "backward", "forward_backward", "train_step", "full_run"}
    assert set(frame["impl"]) == {"numpy-v3-sliced", "numpy-v0-naive"} and set(frame["dataset"]) == {"real"}
    full = frame[frame["phase"] == "full_run"]
    assert full["test_accuracy"].notna().all() and (full["rounds"] == 2).all()  # one round in each process
    doc = json.loads((folder / "benchmark.json").read_text())
    assert all(b["stats"]["data"] for b in doc["benchmarks"])  # raw rounds kept
    full_run = next(b for b in doc["benchmarks"] if b["extra_info"]["phase"] == "full_run")
    assert len(full_run["extra_info"]["epoch_seconds"][0]) == 1 and full_run["extra_info"]["first_call_s"] > 0
    assert "mlp_bench" in doc["machine_info"] and doc["machine_info"]["mlp_bench"]["blas"]
    record = json.loads((folder / "run.json").read_text())
    assert record["kind"] == "benchmark" and record["complete"] is True and record["schema_version"] == 3
    assert record["system"]["cores"] >= 1 and "load_average" in record["system"]
    tables = (folder / "tables.md").read_text()
    assert "speed-up vs numpy-v0-naive" in tables and "QUICK" in tables and "which is fastest" in tables


def test_every_case_is_measured_in_two_processes(two_runs):
    folder = run_folders(two_runs)[0]
    frame = pd.read_csv(folder / "benchmarks.csv")
    assert (frame["processes"] == 2).all()
    doc = json.loads((folder / "benchmark.json").read_text())
    for bench in doc["benchmarks"]:
        owners = process_of_round(bench)  # run-length coded: process ids and rounds per process
        assert sorted(set(owners)) == [1, 2] and len(owners) == len(bench["stats"]["data"])
        phase = bench["params"]["phase"]  # a quick run: its groups say so, and a full run's its 1 epoch
        assert bench["group"] == (f"mlp {phase} B={bench['params']['batch_size']}"
                                  f"{' 1 epochs' if phase == 'full_run' else ''} quick")
    schedule = doc["mlp_bench_schedule"]  # one worker at a time: process 1 of every group before process 2
    assert [w["process"] for w in schedule] == sorted(w["process"] for w in schedule)
    assert len(list((folder / "workers").glob("p2-*.json"))) == 2  # one worker per batch size, shared
    assert {tuple(m) for w in schedule for m in w["members"]} == {("numpy-v3-sliced", "numpy"),
                                                                ("numpy-v0-naive", "numpy")}


def test_implementations_of_one_batch_size_share_their_workers_and_are_paired(two_runs):
    shared, alone = run_folders(two_runs)
    workers: dict[int, set] = {}
    for bench in json.loads((shared / "benchmark.json").read_text())["benchmarks"]:
        info = bench["extra_info"]
        # rotated cases carry their phase after the worker (each phase's rotation is paired on its own)
        workers.setdefault(info["batch_size"], set()).add(tuple(w.split(":")[0] for w in info["worker_by_process"]))
    assert {size: len(seen) for size, seen in workers.items()} == {2000: 1, 20000: 1}
    assert all(w.startswith(("p1-shared-numpy-B", "p2-shared-numpy-B")) for seen in workers.values() for w in
               next(iter(seen)))
    doc, frame = load_run(shared)
    table = against_fastest(frame, doc)
    assert table[table["verdict"] != "fastest"]["paired"].all()  # V0 against V3: per-worker differences
    doc, frame = load_run(alone)  # --no-pair: a worker per implementation and batch size, nothing to pair
    assert not against_fastest(frame, doc)["paired"].any()
    assert len(list((alone / "workers").glob("p2-*.json"))) == len(frame.groupby(["impl", "batch_size"]))


def test_memory_belongs_to_its_row(two_runs):
    frame = pd.read_csv(run_folders(two_runs)[0] / "benchmarks.csv")
    at_20000 = frame[frame["batch_size"] == 20000].set_index("impl")
    assert set(frame["mem_method"]) == {"tracemalloc"}
    # float64 with a bias row inserted per batch needs far more temporary memory than float32 V3
    assert at_20000.loc["numpy-v0-naive", "peak_step_mb"] > at_20000.loc["numpy-v3-sliced", "peak_step_mb"]
    assert (frame["peak_run_mb"] >= frame["peak_step_mb"] * 0.5).all()


def test_compare_defaults_to_the_two_newest_runs(two_runs):
    done = mlp_bench("compare", "--results-dir", str(two_runs))
    assert done.returncode == 0, done.stderr
    assert "B/A" in done.stdout and "full_run" in done.stdout and "99% interval" in done.stdout
    assert "pooled between-process spread" in done.stdout and "2+2" in done.stdout
    table = mlp_bench("table", "--results-dir", str(two_runs))
    assert table.returncode == 0 and "full runs" in table.stdout


def test_compare_fail_above_trips_on_a_slowdown(two_runs, tmp_path):
    a, _ = run_folders(two_runs)

    def ten_times_slower(bench: dict) -> None:  # far beyond any between-process spread
        bench["stats"]["data"] = [x * 10 for x in bench["stats"]["data"]]

    slow = edited_copy(a, tmp_path / "slow", ten_times_slower)
    done = mlp_bench("compare", str(a), str(slow), "--fail-above", "10%")
    assert done.returncode == 1 and "FAILED" in done.stdout and "slower" in done.stdout, done.stdout
    same = mlp_bench("compare", str(a), str(a), "--fail-above", "10%")
    assert same.returncode == 0 and "0 slower, 0 faster" in same.stdout


def test_pytest_benchmarks_own_compare_shows_one_group_per_phase_and_size(two_runs):
    """pytest-benchmark's own CLI on a fresh run's benchmark.json: grouped tables, nothing it cannot load."""
    file = run_folders(two_runs)[0] / "benchmark.json"
    done = subprocess.run([str(Path(sys.executable).with_name("pytest-benchmark")), "compare", str(file)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Failed to load" not in done.stdout + done.stderr, done.stdout + done.stderr
    groups = set(re.findall(r"benchmark '([^']+)'", done.stdout))
    expected = {"mlp forward B=2000 quick", "mlp train_step B=2000 quick", "mlp full_run B=20000 1 epochs quick"}
    assert expected <= groups, groups
    assert "benchmark: " not in done.stdout.replace("benchmark '", "")  # no ungrouped table


def test_compare_and_table_read_a_plain_pytest_benchmark_json(two_runs):
    a, b = (folder / "benchmark.json" for folder in run_folders(two_runs))
    table = mlp_bench("table", str(a))
    assert table.returncode == 0 and "full runs" in table.stdout, table.stderr
    done = mlp_bench("compare", str(a), str(b))
    assert done.returncode == 0 and "B/A" in done.stdout, done.stderr
    foreign = a.with_name("foreign.json")
    foreign.write_text(json.dumps({"benchmarks": [{"name": "x", "stats": {"data": [1.0]}, "extra_info": {}}]}))
    refused = mlp_bench("table", str(foreign))
    assert refused.returncode == 3 and "no mlp-bench benchmarks" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_reference_run_loads():
    done = mlp_bench("table", str(ROOT / "results" / "reference"))
    assert done.returncode == 0, done.stderr
    assert "which is fastest" in done.stdout and "numpy-tuned" in done.stdout


def test_a_single_process_run_from_before_still_loads_and_says_so(two_runs, tmp_path):
    """A run as written before worker processes: no process tags, one process's rounds."""
    old = tmp_path / "old"
    old.mkdir()
    a = run_folders(two_runs)[0]
    record = json.loads((a / "run.json").read_text())
    for key in ("complete", "schema_version", "processes"):
        record.pop(key)
    (old / "run.json").write_text(json.dumps(record))
    doc = json.loads((a / "benchmark.json").read_text())
    for bench in doc["benchmarks"]:
        owners = process_of_round(bench)
        for key in ("process_ids", "rounds_per_process"):
            bench["extra_info"].pop(key)
        bench["stats"]["data"] = [x for x, p in zip(bench["stats"]["data"], owners, strict=True) if p == 1]
    (old / "benchmark.json").write_text(json.dumps(doc))
    done = mlp_bench("compare", str(old), str(old))
    assert done.returncode == 0, done.stderr
    assert "1+1" in done.stdout and "one process" in done.stdout and " slower " not in done.stdout


def test_an_interrupted_run_is_marked_incomplete_and_skipped(two_runs, tmp_path):
    results = tmp_path / "results"
    copied = {folder.name for folder in run_folders(two_runs)}
    for folder in run_folders(two_runs):
        shutil.copytree(folder, results / folder.name)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "--results-dir",
                             str(results), *TINY, "--processes", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "MPLBACKEND": "Agg"},
                            # a shell's background job ignores SIGINT, and children inherit that: undo it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not [p for p in results.glob("*/workers/*.log")
                                               if p.parents[1].name not in copied]:
        time.sleep(0.2)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground process group
    out, _ = proc.communicate(timeout=120)
    newest = max((p for p in results.iterdir() if p.is_dir()), key=lambda p: p.name)
    assert newest.name not in copied, out[-2000:]
    assert json.loads((newest / "run.json").read_text())["complete"] is False
    assert "INCOMPLETE" in out
    done = mlp_bench("compare", "--results-dir", str(results))
    assert done.returncode == 0 and f"skipped incomplete run(s): {newest.name}" in done.stdout


def test_a_worker_that_times_out_fails_its_cases_with_its_log(tmp_path, real_data):
    done = bench_run(tmp_path, "--processes", "2", "--worker-timeout", "0.5", "--phases", "prepare")
    assert done.returncode == 1
    assert "worker timed out after 1 s (0.5 s for each of its 2 implementations)" in done.stdout
    assert "last lines of" in done.stdout
    (folder,) = run_folders(tmp_path)
    assert json.loads((folder / "run.json").read_text())["complete"] is False


@pytest.mark.parametrize("args, words", [
    (["--impl", "numpy-v42"], "unknown implementation"),
    (["--phases", "sideways"], "unknown phase"),
    (["--batch-sizes", "0"], "batch size"),
    (["--full-run-batch-sizes", "70000"], "batch size"),
    (["--epochs", "0"], "--epochs"),
    (["--workload", "rnn"], "unknown workload"),
    (["--processes", "0"], "argument --processes: must be at least 1, got '0'"),
    (["--processes", "two"], "argument --processes: expected an integer, got 'two'"),
    (["--windows", "0"], "argument --windows: must be at least 1, got '0'"),
    (["--windows", "1.5"], "argument --windows: expected an integer, got '1.5'"),
    (["--worker-timeout", "0"], "argument --worker-timeout: must be above 0, got '0'"),
    (["--until-resolved", "--budget", "0"], "argument --budget: must be above 0, got '0'"),
    (["--until-resolved", "--budget", "-3"], "argument --budget: must be above 0, got '-3'"),
    (["--until-resolved", "--budget", "inf"], "argument --budget: expected a finite number, got 'inf'"),
    (["--until-resolved", "--budget", "ten"], "argument --budget: expected a number, got 'ten'"),
    (["--budget", "5"], "--budget goes with --until-resolved"),
    (["--against", "reference"], "--against goes with --until-resolved"),
    (["--until-resolved", "--against", "no-such-run"], "no run 'no-such-run'"),
    (["--until-resolved", "--quick"], "does not go with --quick"),
    (["--until-resolved", "--processes", "1"], "needs --processes 2 or more"),
])
def test_bad_bench_options_are_usage_errors(tmp_path, args, words):
    done = run("-m", "pytest", "bench/", "--benchmark-only", "--results-dir", str(tmp_path), *args)
    assert done.returncode == 4  # pytest's usage error
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def test_bad_saved_runs_are_one_line_errors(tmp_path):
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "run.json").write_text('{"kind": "benchmark", "created": "2026"}')
    (tmp_path / "corrupt" / "benchmark.json").write_text("{not json")
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "run.json").write_text('{"kind": "profile", "created": "2026"}')
    for args, word in ((["table", str(tmp_path / "missing")], "no run"),
                       (["table", str(tmp_path / "corrupt")], "corrupt"),
                       (["table", str(tmp_path / "profile")], "not a benchmark run"),
                       (["compare", "--results-dir", str(tmp_path)], "need 2 more")):
        done = mlp_bench(*args)  # 3: missing or unreadable runs (2 is a usage error)
        assert done.returncode == 3 and word in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_system_report_warns_about_forced_openblas_kernels(monkeypatch):
    from bench.system import system_warnings

    report = {"cores": 2, "load_average": [0.0, 0.0, 0.0], "blas_threads": 1, "governor": None,
              "thread_variables": {}}
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    assert system_warnings(report) == []
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    (warning,) = system_warnings(report)
    assert "OPENBLAS_CORETYPE=Haswell" in warning


def test_a_worker_gets_its_settings_from_a_spec_file_and_records_its_noise(two_runs):
    folder = run_folders(two_runs)[0]
    specs = sorted((folder / "workers" / "specs").glob("*.json"))
    assert len(specs) == 4  # 2 processes x 2 batch sizes, the implementations sharing each worker
    spec = json.loads(specs[0].read_text())
    assert {"settings", "cases", "benchmark_options", "process", "cpus", "out"} <= set(spec)
    assert spec["settings"]["impls"] == ["numpy-v3-sliced", "numpy-v0-naive"] and spec["settings"]["threads"] == 1
    assert BenchSettings.from_spec(spec["settings"]).layers == (784, 70, 30, 10)  # the model reaches the worker
    assert spec["benchmark_options"]["max_time"] == 0.05  # the controller's --quick timing, handed over
    doc = json.loads((folder / "benchmark.json").read_text())
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        assert len(info["yardstick_by_process"]) == 2 and all(y > 0 for y in info["yardstick_by_process"])
        noise = info["noise_by_process"][0]
        assert noise["noise_seconds"] > 0 and noise["noise_involuntary_switches"] >= 0 and noise["noise_cpu_set"]
    assert doc["mlp_bench_cpus"]["worker"] == [1] or "not pinned" in doc["mlp_bench_cpus"]["why"]


def test_a_worker_times_each_step_case_in_windows_over_passes_with_the_yardstick_between(two_runs):
    folder = run_folders(two_runs)[0]
    passes: dict[str, list[int]] = {}
    for path in (folder / "workers").glob("p1-shared-numpy-*.json"):  # B=2000: steps; B=20000: full runs
        for bench in json.loads(path.read_text())["benchmarks"]:
            info = bench["extra_info"]
            if info["impl"] != "numpy-v3-sliced":
                continue
            passes.setdefault(info["phase"], []).append(info["pass"])
            assert info["yardstick_s"] > 0  # from the readings either side of its pass
    assert passes.pop("full_run") == [0]  # the full run: one window (its worker has no step case here)
    assert len(passes) == 5
    for phase, seen in passes.items():  # every step case once in each of three passes
        assert sorted(seen) == [0, 1, 2], phase
    doc = json.loads((folder / "benchmark.json").read_text())
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        expected = 1 if info["phase"] == "full_run" else 3
        assert info["windows_per_process"] == [expected, expected]
        assert sum(info["rounds_per_window"]) == len(bench["stats"]["data"])


def test_compare_refuses_runs_timed_with_other_clocks(two_runs, tmp_path):
    a, b = run_folders(two_runs)
    other = edited_copy(b, tmp_path / "cpu", lambda bench: bench["options"].update(timer="thread_time"))
    done = mlp_bench("compare", str(a), str(other))
    assert done.returncode == 3 and "different clocks (perf_counter vs thread_time)" in done.stderr, done.stderr


def test_compare_refuses_cases_measured_with_other_thread_counts(two_runs, tmp_path):
    a, b = run_folders(two_runs)
    other = edited_copy(b, tmp_path / "other", lambda bench: bench["extra_info"].update(threads=2))
    done = mlp_bench("compare", str(a), str(other))
    assert done.returncode == 3 and "different BLAS threads (1 vs 2)" in done.stderr, done.stderr


def test_until_resolved_adds_processes_only_where_needed_and_records_its_looks(tmp_path, real_data):
    done = run("-m", "pytest", "bench/", "--benchmark-only", "--results-dir", str(tmp_path), "--impl",
               "numpy-v3-sliced,numpy-tuned", "--phases", "forward", "--batch-sizes", "2000", "--threads", "1",
               "--until-resolved", "--budget", "1", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "mlp-bench look 1/10" in done.stdout
    (folder,) = run_folders(tmp_path)
    doc = json.loads((folder / "benchmark.json").read_text())
    sequential = doc["mlp_bench_sequential"]
    assert sequential["looks"] >= 1 and sequential["alpha_per_look"] == pytest.approx(0.001)
    assert sequential["stopped"] and sequential["history"][0]["open"] >= 0
    tables = (folder / "tables.md").read_text()
    assert "99.9% interval" in tables
    processes = [b["extra_info"]["processes"] for b in doc["benchmarks"]]
    assert min(processes) >= 2 and len(processes) == 2


def test_against_a_run_from_another_machine_is_refused_before_anything_runs(tmp_path):
    saved = tmp_path / "saved" / "elsewhere"
    saved.mkdir(parents=True)
    shutil.copy(ROOT / "results" / "reference" / "run.json", saved / "run.json")
    doc = json.loads((ROOT / "results" / "reference" / "benchmark.json").read_text())
    doc["machine_info"]["mlp_bench"]["cpu_model"] = "Another CPU (tests)"
    (saved / "benchmark.json").write_text(json.dumps(doc))
    results = tmp_path / "results"
    done = run("-m", "pytest", "bench/", "--benchmark-only", "--results-dir", str(results), "--until-resolved",
               "--against", str(saved))
    assert done.returncode == 4 and "measured on another machine" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not results.exists()


def test_compare_for_scripts_and_for_eyes(two_runs):
    from bench.tables import too_wide

    a, b = run_folders(two_runs)
    done = mlp_bench("compare", str(a), str(b), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout, parse_constant=lambda c: 1 / 0)  # strict JSON
    compared = [c for c in doc["cases"] if c["ratio_b_over_a"] is not None]  # B measured forward and full runs
    assert len(compared) == 4 and {"id", "ratio_b_over_a", "low", "high", "verdict"} <= set(doc["cases"][0])
    assert {c["verdict"] for c in doc["cases"] if c not in compared} == {"only in A"}  # listed, no verdict
    csv = mlp_bench("compare", str(a), str(b), "--csv", "-k", "numpy-v3-sliced-B2000-")
    frame = pd.read_csv(__import__("io").StringIO(csv.stdout))
    assert csv.returncode == 0 and set(frame["impl"]) == {"numpy-v3-sliced"} and set(frame["batch_size"]) == {2000}
    changed = mlp_bench("compare", str(a), str(b), "--only-changed", "--sort", "verdict", "--time-unit", "us")
    assert changed.returncode == 0 and "4 cases" in changed.stdout
    for text in (changed.stdout, mlp_bench("compare", str(a), str(b)).stdout, mlp_bench("table", str(a)).stdout):
        assert too_wide(text) == [], too_wide(text)
    wide = mlp_bench("compare", str(a), str(b), "--wide")
    assert wide.returncode == 0 and "note" in wide.stdout and "flags" in wide.stdout
    nothing = mlp_bench("compare", str(a), str(b), "-k", "no-such-case")
    assert nothing.returncode == 2 and "no case matches" in nothing.stderr
    page = a / "index.html"
    assert page.is_file() and page.read_text().count("<table") >= 4 and "data:image/png;base64," in page.read_text()


def test_a_run_of_another_model_carries_it_everywhere_and_is_never_compared_with_the_seeds(two_runs, tmp_path):
    """In this process (the worker path gets its model from the spec file: the test above)."""
    results = tmp_path / "wide"
    done = bench_run(results, "--phases", "forward", "--layers", "784,40,20,16,10")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = run_folders(results)
    assert folder.name.endswith("-quick-784-40-20-16-10")
    assert json.loads((folder / "run.json").read_text())["layers"] == [784, 40, 20, 16, 10]
    doc = json.loads((folder / "benchmark.json").read_text())
    for bench in doc["benchmarks"]:  # from the trainer's own config
        assert bench["extra_info"]["layers"] == "784-40-20-16-10" and "-784-40-20-16-10-B" in bench["name"]
    tables = (folder / "tables.md").read_text()
    assert "### mlp 784-40-20-16-10 / forward" in tables
    seed_run = run_folders(two_runs)[0]
    compared = mlp_bench("compare", str(seed_run), str(folder))
    assert compared.returncode == 3, compared.stdout + compared.stderr
    assert "different models (784-70-30-10 vs 784-40-20-16-10)" in compared.stderr


def test_the_noise_study_shows_what_pairing_leaves_for_a_shared_run_only(two_runs):
    shared, alone = run_folders(two_runs)
    done = run("scripts/noise_study.py", str(shared), str(alone))
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.split(f"## {alone.name}")
    assert "paired raw" in first and "unpaired yardstick" in first
    assert "paired raw" not in second  # a worker per implementation: nothing was paired
