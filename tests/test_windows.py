"""Measurement windows (bench/windows.py): a worker's passes, and one process's value from its windows."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from bench.results import process_logs, process_windows
from bench.windows import PassClock, merge_windows, plan_passes, split, window_log
from impl.errors import MLPBenchError


def phase(item: str) -> str:
    return item.split(":")[1]


def test_passes_visit_every_step_case_once_each_and_the_full_runs_once_after_the_first():
    items = ["a:forward", "a:backward", "a:train_step", "a:full_run"]
    passes = plan_passes(items, 3, "0-1", phase)
    assert [len(p) for p in passes] == [3, 1, 3, 3]
    assert passes[1] == ["a:full_run"]
    for one_pass in (passes[0], passes[2], passes[3]):
        assert sorted(one_pass) == sorted(items[:3])
    assert plan_passes(items, 3, "0-1", phase) == passes  # the same seed, the same order
    assert plan_passes(["a:full_run"], 3, "s", phase) == [["a:full_run"]]  # no empty passes
    assert len(plan_passes(items[:3], 1, "s", phase)) == 1  # one window: one pass, no full run
    assert plan_passes(["a:forward"], 3, "s", phase) == [["a:forward"]]  # one step case: one window


@pytest.mark.parametrize("seed", range(40))
def test_a_case_never_runs_twice_in_a_row(seed):
    flat = [i for p in plan_passes(["a:forward", "a:backward", "a:prepare"], 5, str(seed), phase) for i in p]
    assert all(x != y for x, y in zip(flat, flat[1:], strict=False))


def test_a_process_value_is_the_geometric_mean_of_its_window_medians():
    windows = [[1.0, 2.0, 3.0], [4.0, 4.0, 100.0]]  # medians 2 and 4; the stalled round moves nothing
    assert window_log(windows) == pytest.approx(math.log(math.sqrt(2 * 4)))
    assert split([1, 2, 3, 4, 5], [2, 3]) == [[1, 2], [3, 4, 5]]
    assert split([1, 2], None) == [[1, 2]]
    with pytest.raises(MLPBenchError, match="5 rounds but windows of 4"):
        split([1, 2, 3, 4, 5], [2, 2])


def window(index: int, data: list[float], yardstick: float, switches: int) -> dict:
    return {"name": "t", "stats": {"data": data}, "extra_info": {
        "impl": "x", "window": index, "pass": index * 2, "yardstick_s": yardstick, "noise_seconds": 1.0,
        "noise_steal_share": 0.01 * index, "noise_involuntary_switches": switches, "noise_voluntary_switches": 1,
        "noise_migrations": 0, "noise_cpu_set": [1]}}


def test_one_process_windows_merge_into_one_entry_that_keeps_them_apart():
    merged = merge_windows([window(1, [3.0, 3.0], 4.0, 2), window(0, [1.0, 1.0, 1.0], 1.0, 3)])
    info = merged["extra_info"]
    assert merged["stats"]["data"] == [1.0, 1.0, 1.0, 3.0, 3.0]  # window order, not arrival order
    assert info["rounds_per_window"] == [3, 2] and info["window_medians_s"] == [1.0, 3.0]
    assert info["yardstick_s"] == pytest.approx(2.0)  # geometric mean of the windows' yardsticks
    assert info["noise_seconds"] == 2.0 and info["noise_involuntary_switches"] == 5
    assert info["noise_steal_share"] == pytest.approx(0.005)
    assert "window" not in info and "pass" not in info


def test_a_saved_case_splits_into_processes_and_windows_and_old_runs_read_as_one_window():
    bench = {"stats": {"data": [1.0, 1.0, 4.0, 4.0, 2.0, 2.0, 2.0]}, "extra_info": {
        "process_ids": [1, 2], "rounds_per_process": [4, 3], "windows_per_process": [2, 1],
        "rounds_per_window": [2, 2, 3]}}
    assert process_windows(bench) == [[[1.0, 1.0], [4.0, 4.0]], [[2.0, 2.0, 2.0]]]
    np.testing.assert_allclose(process_logs(bench), [math.log(2.0), math.log(2.0)])
    old = {"stats": {"data": [1.0, 1.0, 4.0, 2.0]}, "extra_info": {"process_ids": [1, 2], "rounds_per_process": [3, 1]}}
    assert process_windows(old) == [[[1.0, 1.0, 4.0]], [[2.0]]]
    np.testing.assert_allclose(process_logs(old), [0.0, math.log(2.0)])


def test_the_yardstick_reads_the_benchmarks_own_clock_at_every_pass_boundary():
    ticks = []

    def clock() -> float:  # a CPU-seconds clock, say: the yardstick must time with it, not with the wall
        ticks.append(1)
        return float(len(ticks))

    passes = plan_passes(["a:forward", "a:backward", "a:full_run"], 2, "s", phase)
    pass_clock = PassClock(passes, yardstick=True, clock=clock, phase_of=phase)
    built = len(ticks)
    assert built > 0  # the first, discarded, reading
    for _ in range(sum(len(p) for p in passes)):
        pass_clock.next_item()
    assert len(pass_clock.readings) == len(passes)  # one as every pass begins
    bench = SimpleNamespace(extra_info={"pass": 1})
    pass_clock.finish([bench])
    assert len(pass_clock.readings) == len(passes) + 1 and bench.extra_info["yardstick_s"] > 0
    assert len(ticks) > built and pass_clock.windows == 2  # two passes over the step cases
    assert PassClock(passes, yardstick=False, clock=clock, phase_of=phase).readings == []


def test_a_saved_dataset_reads_back_as_it_was_and_a_missing_one_is_one_data_error(tmp_path):
    from impl.data import Dataset, load_saved_dataset, save_dataset
    from impl.errors import DataError

    rng = np.random.default_rng(0)
    data = Dataset(rng.normal(size=(4, 784)), np.arange(4), rng.normal(size=(2, 784)), np.arange(2),
                   source="synthetic(seed=0)", kind="synthetic", genuine=None, warnings=("w",))
    back = load_saved_dataset(save_dataset(data, tmp_path / "data"))
    assert np.array_equal(back.x_train, data.x_train) and back.warnings == ("w",) and back.kind == "synthetic"
    assert not back.x_train.flags.writeable  # shared read-only, as load_dataset's
    with pytest.raises(DataError, match="cannot read the saved dataset"):
        load_saved_dataset(tmp_path / "missing")
