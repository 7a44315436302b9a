"""pytest-benchmark's private API, as bench/pytest_benchmark_adapter.py uses it: these fail loudly when an
upgrade of pytest-benchmark changes what the suite relies on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from pytest_benchmark.session import BenchmarkSession

from bench import pytest_benchmark_adapter as adapter


@pytest.fixture
def bench_session(pytestconfig) -> BenchmarkSession:
    session = adapter.session(pytestconfig)
    assert isinstance(session, BenchmarkSession), "pytest-benchmark no longer keeps its session on the config"
    return session


def test_the_timing_options_round_trip_through_json(bench_session):
    options = adapter.timing_options(bench_session)
    assert set(options) == set(adapter.TIMING_OPTIONS)
    assert options["timer"].endswith("perf_counter")
    saved = dict(bench_session.options)
    try:
        adapter.apply_timing_options(bench_session, {**options, "max_time": 0.25, "min_rounds": 7})
        assert float(bench_session.options["max_time"]) == 0.25 and bench_session.options["min_rounds"] == 7
        assert adapter.timing_options(bench_session)["timer"] == options["timer"]
    finally:
        bench_session.options.update(saved)


def test_replayed_rounds_become_the_fixtures_own_stats(bench_session, pytestconfig):
    node = SimpleNamespace(name="test_x", nodeid="t.py::test_x", originalname="test_x", function=lambda: None)
    fixture = BenchmarkFixture(node, add_stats=lambda stats: None, logger=bench_session.logger, warner=None,
                               disabled=False, **bench_session.options)
    adapter.replay(fixture, [0.2, 0.1, 0.3])
    assert fixture._mode == adapter.REPLAY_MODE
    assert fixture.stats.stats.rounds == 3 and fixture.stats.stats.median == pytest.approx(0.2)


def test_a_worker_session_stores_nothing():
    fake = SimpleNamespace(save="x", autosave=True, json="f.json", histogram="h")
    adapter.store_nothing(fake)
    assert (fake.save, fake.autosave, fake.json, fake.histogram) == (None, None, None, None)


def test_the_sessions_timer_is_a_clock_the_yardstick_can_call(bench_session):
    import time

    assert adapter.timer(bench_session) is time.perf_counter and adapter.timer_name(bench_session) == "perf_counter"
    saved = dict(bench_session.options)
    try:  # as a worker gets it from its spec: --benchmark-timer time.thread_time
        adapter.apply_timing_options(bench_session, {"timer": "time.thread_time"})
        clock = adapter.timer(bench_session)
        assert clock is time.thread_time and isinstance(clock(), float)
        assert adapter.timer_name(bench_session) == "thread_time"
    finally:
        bench_session.options.update(saved)
    assert adapter.timer(None) is time.perf_counter
