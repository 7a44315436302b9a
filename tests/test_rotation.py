"""Call-by-call rotation (bench/rotation.py), the --baseline loader (bench/baseline.py) and the paired verdicts
they feed: the rotation's bookkeeping, that alternating epochs changes no mathematics, one-line errors for
bad revisions, and the verdict rule's calibration at rotation-sized spreads."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench.baseline import Baseline, contract_differences, label_of, load, prepare
from bench.rotation import Grain, Member, alternate_epochs, own_fit, rotate
from impl.config import TrainConfig
from impl.errors import MLPBenchError
from impl.registry import get_implementation

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """A clock that only the members move: every call of member i takes i + 1 ticks, every setup 100."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_members(clock: FakeClock, count: int, with_setup: bool = False) -> tuple[list[Member], list[str]]:
    log: list[str] = []

    def member(i: int) -> Member:
        def target(*args: object) -> None:
            clock.now += i + 1
            log.append(f"m{i}")

        def setup() -> tuple[tuple, dict]:
            clock.now += 100  # untimed: must not show in the call's time
            return (), {}
        return Member(f"m{i}", target, setup if with_setup else None)
    return [member(i) for i in range(count)], log


@pytest.mark.parametrize("text, calls", [("call", 1), ("block:1", 1), ("block:8", 8)])
def test_grains_parse(text, calls):
    assert Grain.parse(text).calls == calls


@pytest.mark.parametrize("text", ["", "block", "block:0", "block:-2", "blocks:3", "window", "call:2"])
def test_a_bad_grain_is_one_line(text):
    with pytest.raises(MLPBenchError, match="--grain"):
        Grain.parse(text)


def test_every_cycle_calls_each_member_once_in_a_fresh_order():
    clock = FakeClock()
    members, log = fake_members(clock, 3)
    calls = rotate(members, budget_s=600, seed="s", clock=clock, warmup=1, min_cycles=5, max_cycles=200)
    cycles = len(calls["m0"].seconds)
    assert cycles == 100  # the budget at 6 ticks a cycle
    assert all(len(c.seconds) == cycles for c in calls.values())
    for cycle in range(cycles):
        positions = sorted(calls[m].positions[cycle] for m in calls)
        assert positions == [0, 1, 2]
    assert calls["m2"].seconds == [3.0] * cycles  # each call timed on its own
    followers = Counter(zip(log[3:], log[4:], strict=False))  # after the warm-ups
    assert {pair for pair in followers if pair[0] != pair[1]} == set(itertools.permutations(["m0", "m1", "m2"], 2))


def test_the_setup_stays_out_of_the_timed_call():
    clock = FakeClock()
    members, _ = fake_members(clock, 2, with_setup=True)
    calls = rotate(members, budget_s=1e6, seed="s", clock=clock, min_cycles=5, max_cycles=7)
    assert calls["m0"].seconds == [1.0] * 7 and calls["m1"].seconds == [2.0] * 7


def test_a_block_grain_runs_calls_of_one_member_in_a_row(monkeypatch):
    monkeypatch.setattr("bench.rotation.BLOCK_MAX_S", 1e9)  # the fake calls take seconds
    clock = FakeClock()
    members, log = fake_members(clock, 2)
    calls = rotate(members, budget_s=1e6, seed="s", clock=clock, grain=Grain(4), warmup=1, min_cycles=3,
                   max_cycles=3)
    runs = [len(list(group)) for _, group in itertools.groupby(log[2:])]
    assert all(run % 5 == 0 for run in runs), runs  # one untimed call, then four timed ones
    assert len(calls["m0"].seconds) == 12 and Grain(4).text == "block:4" and Grain(1).text == "call"


def test_a_block_holds_no_more_calls_than_fit_in_its_time():
    from bench.rotation import BLOCK_MAX_S

    grain = Grain.parse("block:64")
    assert grain.block_for(0.0009) == 64 and grain.block_for(BLOCK_MAX_S / 10.5) == 10
    assert grain.block_for(0.05) == 1 and grain.block_for(0.0) == 64 and Grain.parse("call").block_for(1e-6) == 1


def test_a_member_named_twice_is_refused():
    clock = FakeClock()
    members, _ = fake_members(clock, 1)
    with pytest.raises(MLPBenchError, match="twice"):
        rotate(members * 2, budget_s=1, seed="s", clock=clock)


def test_alternating_epochs_changes_no_mathematics(small_data):
    """Two trainers whose epochs alternate end exactly where each ends training alone."""
    names = ["numpy-v1-float32", "numpy-v3-sliced"]
    config = TrainConfig.make(batch_size=500, epochs=3, n_train=small_data.n_train)
    together = {n: get_implementation(n)(config, small_data) for n in names}
    runs = alternate_epochs(together, 3, seed="t")
    for name in names:
        alone = get_implementation(name)(config, small_data)
        fit = alone.fit()
        assert runs[name].alternated and len(runs[name].per_epoch_seconds) == 3
        assert runs[name].epoch_losses == fit.epoch_losses
        assert runs[name].final_learn_rate == fit.final_learn_rate
        for a, b in zip(together[name].get_weights(), alone.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_framework_loop_is_not_cut_into_epochs():
    assert not own_fit(get_implementation("numpy-v3-sliced", require_available=False).__new__(
        get_implementation("numpy-v3-sliced", require_available=False)))
    assert own_fit(get_implementation("keras-fit-cpu", require_available=False).__new__(
        get_implementation("keras-fit-cpu", require_available=False)))


# -- --baseline -------------------------------------------------------------------------------------------------
def test_a_baseline_of_head_loads_beside_the_working_tree():
    base = prepare("HEAD", ROOT)
    try:
        classes = load(base)
        twin = classes["numpy-tuned@HEAD"]
        assert twin.name == "numpy-tuned@HEAD" and twin.base_of == "numpy-tuned"
        assert twin.__module__.startswith("mlpbench_base.")
        assert get_implementation("numpy-tuned").__module__.startswith("impl.")  # the working tree's untouched
    finally:
        base.remove()
    assert not base.root.exists()


@pytest.mark.parametrize("rev, message", [("no-such-revision-xyz", "unknown revision"),
                                          ("HEAD~100000", "unknown revision")])
def test_an_unknown_revision_is_one_line(rev, message):
    with pytest.raises(MLPBenchError, match=message) as err:
        prepare(rev, ROOT)
    assert "\n" not in str(err.value)


def test_a_folder_that_is_no_checkout_is_one_line(tmp_path):
    with pytest.raises(MLPBenchError, match="not a checkout"):
        prepare(str(tmp_path), ROOT)


def test_a_revision_without_impl_is_one_line(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "README.md").write_text("no code here\n")
    git("add", "README.md")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    with pytest.raises(MLPBenchError, match="has no impl/ package"):
        prepare("HEAD", tmp_path)


def test_another_contract_is_one_line(tmp_path):
    """A base whose phase table differs (a phase added) cannot be timed beside this one."""
    shutil.copytree(ROOT / "impl", tmp_path / "impl")
    phases = tmp_path / "impl" / "phases.py"
    phases.write_text(phases.read_text().replace(
        '    Phase("full_run", "full_run", ("fit",), "total"),',
        '    Phase("full_run", "full_run", ("fit",), "total"),\n    Phase("extra", "calibrated", ("train_step",), '
        '"total", _on_indices("train_step")),'))
    script = ("from bench.baseline import load, prepare\n"
              f"load(prepare({str(tmp_path)!r}, __import__('pathlib').Path('.')))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "another contract (phases" in done.stderr


def test_identical_contracts_have_no_differences():
    import impl.contract

    assert contract_differences(impl.contract, impl.contract) == []


def test_labels_are_safe_names(tmp_path):
    assert label_of("HEAD~1") == "HEAD~1" and label_of("feature/x y") == "feature_x_y"
    assert label_of(str(tmp_path)) == tmp_path.name


def test_a_bad_baseline_writes_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "--quick", "--baseline",
                           "no-such-revision-xyz", "--results-dir", str(tmp_path / "out")], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--baseline no-such-revision-xyz: unknown revision" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_baseline_run_leads_with_the_change_over_its_base(tmp_path):
    """The usual case: the working tree (changed or not) against HEAD, in one quick in-process run."""
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "--quick", "--impl",
                           "numpy-v1-float32", "--phases", "train_step,full_run", "--baseline", "HEAD",
                           "--results-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = done.stdout.split("mlp-bench results")[1]
    assert results.lstrip("= \n").startswith("### change over base")
    assert "| numpy-v1-float32 | full_run" in results and "| numpy-v1-float32 | train_step" in results
    run = next(tmp_path.iterdir())
    assert "numpy-v1-float32@HEAD" in (run / "benchmark.json").read_text()


# -- the verdict rule at rotation-sized spreads ---------------------------------------------------------------
def rotated_run(rng: np.random.Generator, change: float, processes: int) -> list:
    """Six cases rotated together (three implementations and their bases) in ``processes`` workers: a large
    shared process effect (0.065, as measured between processes) and a small own scatter (0.004-0.008, as the
    ratio's between-process spread measured)."""
    from bench.stats import Case

    true = np.repeat(rng.uniform(-8, -2, 3), 2) + np.tile([0.0, np.log(change)], 3)
    process = rng.normal(0, 0.065, processes)
    names = tuple(f"p{p + 1}-shared:train_step" for p in range(processes))
    return [Case(mu + process + rng.normal(0, rng.uniform(0.004, 0.008), processes), None, names) for mu in true]


def rotated_verdicts(seed: int, change: float, processes: int = 2) -> Counter:
    from bench.stats import Covariate, PairedPool, compare_cases

    rng, counts = np.random.default_rng(seed), Counter()
    for _ in range(400):
        cases = rotated_run(rng, change, processes)
        covariate = Covariate.fit(cases, allowed=False, why_not="no yardstick")
        paired = PairedPool.of(cases)
        counts.update(compare_cases(cases[i], cases[i + 1], covariate, paired=paired).verdict for i in (0, 2, 4))
    return counts


@pytest.mark.parametrize("processes", [2, 3])
def test_rotated_a_a_is_same_at_five_percent_and_rarely_false(processes):
    counts = rotated_verdicts(seed=35, change=1.0, processes=processes)
    total = sum(counts.values())
    assert (counts["slower"] + counts["faster"]) / total <= 0.02, counts
    assert counts["same"] / total >= 0.90, counts


def test_a_rotated_five_percent_change_is_found():
    counts = rotated_verdicts(seed=36, change=1.05, processes=3)
    assert counts["slower"] / sum(counts.values()) >= 0.5, counts
    assert counts["faster"] == 0, counts


def test_baseline_record_round_trips():
    base = Baseline("HEAD", Path("/tmp/x"), "abc", temporary=True)
    assert base.record() == {"label": "HEAD", "commit": "abc", "root": None}
    assert base.name_of("numpy-tuned") == "numpy-tuned@HEAD"


def test_per_call_tags_follow_the_rounds_through_windows_and_processes():
    """A case's call tags are concatenated in the order its rounds are, window by window, process by process."""
    from bench.windows import merge_windows
    from bench.workers import merge_extra_info

    def window(index: int, data: list[float], cycles: list[int]) -> dict:
        return {"stats": {"data": data}, "extra_info": {"window": index, "call_cycles": cycles,
                                                        "call_positions": [0] * len(cycles), "location": "median"}}

    first = merge_windows([window(1, [3.0, 4.0], [0, 1]), window(0, [1.0, 2.0], [5, 6])])
    assert first["stats"]["data"] == [1.0, 2.0, 3.0, 4.0] and first["extra_info"]["call_cycles"] == [5, 6, 0, 1]
    second = merge_windows([window(0, [9.0], [7])])
    merged = merge_extra_info([(2, second), (1, first)])
    assert merged["call_cycles"] == [5, 6, 0, 1, 7] and merged["rounds_per_process"] == [4, 1]


@pytest.mark.parametrize("location", ["median", "p25", "p10", "min"])
def test_a_recorded_location_is_what_the_process_time_uses(location):
    from bench.results import process_logs
    from bench.windows import LOCATIONS

    data = [1.0, 2.0, 3.0, 4.0, 50.0]
    bench = {"stats": {"data": data}, "extra_info": {"location": location}}
    assert process_logs(bench)[0] == pytest.approx(np.log(LOCATIONS[location](np.array(data))))


@pytest.mark.parametrize("args, message", [
    (["--baseline", "HEAD", "--grain", "window"], "needs --grain call"),
    (["--grain", "blocks:2"], "--grain 'blocks:2'"),
    (["--grain", "block:0"], "--grain 'block:0'"),
    (["--grain="], "--grain ''"),
    (["--baseline="], "--baseline needs a git revision"),
    (["--baseline", "/no/such/dir"], "unknown revision"),
])
def test_options_that_cannot_rotate_are_one_line(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "--quick", *args,
                           "--results-dir", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 4 and message in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def baseline_doc(change_over_base: list[float]) -> dict:
    """A saved --baseline run of one case a side, rotated in two workers: the base's per-process times are 1 ms
    (scattering by 5 % between processes), the change's those times the factors given, one per process."""
    def bench(impl: str, factors: list[float]) -> dict:
        process_times = [1e-3, 1.05e-3]
        data = [t * f for t, f in zip(process_times, factors, strict=True) for _ in range(9)]
        return {"name": f"test_step[{impl}-B500-train_step]", "stats": {"data": data},
                "extra_info": {"impl": impl, "backend": "numpy", "workload": "mlp", "phase": "train_step",
                               "batch_size": 500, "layers": "784-70-30-10", "rotation": True,
                               "process_ids": [1, 2], "rounds_per_process": [9, 9],
                               "worker_by_process": ["p1-shared-B500:train_step", "p2-shared-B500:train_step"]}}
    return {"benchmarks": [bench("numpy-tuned@HEAD", [1.0, 1.0]), bench("numpy-tuned", change_over_base)],
            "mlp_bench_baseline": {"label": "HEAD", "commit": "0" * 40, "root": None}}


def test_the_change_table_and_until_resolved_read_the_paired_change():
    from bench.results import base_changes, tidy_frame
    from bench.sequential import open_against_base

    steady = baseline_doc([1.002, 1.004])  # the change moved with its base in both processes
    table = base_changes(tidy_frame(steady), steady)
    assert list(table["impl"]) == ["numpy-tuned"] and table["paired"].iloc[0] == "yes"
    assert table["change / base"].iloc[0] == pytest.approx(np.sqrt(1.002 * 1.004))
    torn = baseline_doc([0.97, 1.10])  # the processes disagree: the change is open, on both sides
    wide = base_changes(tidy_frame(torn), torn)
    assert wide["verdict"].iloc[0] == "cannot resolve"
    assert wide["high"].iloc[0] / wide["low"].iloc[0] > table["high"].iloc[0] / table["low"].iloc[0]
    assert open_against_base(torn) == {("numpy-tuned", "numpy", 500, "train_step"),
                                       ("numpy-tuned@HEAD", "numpy", 500, "train_step")}


def test_a_rotated_step_case_is_the_median_of_all_its_calls_in_a_process():
    """One window's few slow calls (a burst) do not decide the process: the median over all of its calls."""
    from bench.results import process_logs

    data = [1.0, 1.0, 1.0, 9.0, 9.0, 1.0, 1.0, 1.0, 1.0]  # the middle window is slow
    bench = {"stats": {"data": data}, "extra_info": {"location": "calls-median", "rounds_per_window": [3, 3, 3],
                                                     "windows_per_process": [3], "process_ids": [1],
                                                     "rounds_per_process": [9]}}
    assert process_logs(bench)[0] == pytest.approx(0.0)
    bench["extra_info"]["location"] = "median"  # the windows' medians, as before: the slow window counts
    assert process_logs(bench)[0] == pytest.approx(np.log(9.0) / 3)


def test_a_rotated_full_run_is_its_epochs_times_its_median_epoch():
    from bench.results import process_logs

    runs = [[1.0, 1.0, 5.0, 1.0], [2.0, 2.0, 2.0, 2.0]]  # a stalled epoch in the first process
    bench = {"stats": {"data": [sum(r) for r in runs]},
             "extra_info": {"location": "epoch-median", "epoch_seconds": runs, "process_ids": [1, 2],
                            "rounds_per_process": [1, 1]}}
    np.testing.assert_allclose(process_logs(bench), np.log([4.0, 8.0]))


def test_sigterm_stops_the_run_and_its_worker(tmp_path):
    """A controller stopped by SIGTERM leaves no worker running into the abandoned folder."""
    import signal
    import time

    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "--processes", "2",
                            "--impl", "numpy-v1-float32,numpy-tuned", "--phases", "train_step", "--batch-sizes",
                            "500", "--no-roofline", "--results-dir", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/workers/specs/*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(out.glob("*/workers/specs/*.json")), "no worker started"
    time.sleep(2)  # the worker is measuring now
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    time.sleep(1)
    found = [proc.name for proc in Path("/proc").iterdir() if proc.name.isdigit() and str(out).encode() in
             _environ(proc)]
    assert not found, f"worker process(es) {found} outlived their controller"
    assert (next(out.iterdir()) / "run.json").is_file()


def _environ(proc: Path) -> bytes:
    try:
        return (proc / "environ").read_bytes()
    except OSError:
        return b""
