"""`mlp-bench profile`: the structure of line profiles of one layer transition (never their timings)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
from line_profiler import LineStats

from bench import profile
from bench.cli import main
from bench.runs import list_runs
from impl import registry
from impl.config import TrainConfig
from impl.contract import Trainer
from impl.numpy_mlp.v3_sliced import NumpyV3Sliced

STEPS = 3
SMALL = ["--synthetic", "--batch-size", "100", "--steps", str(STEPS)]


def make_trainer(name: str, data) -> Trainer:
    return registry.get_implementation(name)(TrainConfig.make(batch_size=100), data)


def rows_with(result: profile.ProfileResult, text: str) -> list[profile.LineRow]:
    return [row for row in result.rows if text in row.source]


@pytest.fixture(scope="module")
def v1_bw1(small_data) -> profile.ProfileResult:
    return profile.profile_transition(make_trainer("numpy-v1-float32", small_data), "bw:1", steps=STEPS)


def test_v1_bw1_shows_the_sigma_prime_recomputation(v1_bw1):
    [line] = rows_with(v1_bw1, "self._D_sigmoid(")
    assert line.hits == STEPS and line.seconds > 0
    assert v1_bw1.function.endswith("._bw_prop_Np1_to_N") and v1_bw1.transition == "bw:1"


def test_v3_bw1_has_no_sigma_prime_recomputation(small_data):
    result = profile.profile_transition(make_trainer("numpy-v3-sliced", small_data), "bw:1", steps=STEPS)
    assert not rows_with(result, "_D_sigmoid") and not rows_with(result, "expit")
    [sliced] = rows_with(result, "A_N[1:, :] * (1.0 - A_N[1:, :])")
    assert sliced.hits == STEPS


def test_only_the_asked_layer_is_counted(v1_bw1, small_data):
    # the backward loop calls this function for N = 2, 1, 0 in every step: only N == 1 may be counted
    assert {row.hits for row in v1_bw1.rows if row.hits} == {STEPS}
    assert rows_with(v1_bw1, "if N > 0")[0].hits == STEPS
    bw0 = profile.profile_transition(make_trainer("numpy-v1-float32", small_data), "bw:0", steps=STEPS)
    assert rows_with(bw0, "if N > 0")[0].hits == STEPS
    assert rows_with(bw0, "self._D_sigmoid(")[0].hits == 0  # the branch not taken at L0 stays empty
    trainer = make_trainer("numpy-v3-sliced", small_data)
    fw1, fw2 = (profile.profile_transition(trainer, t, steps=STEPS) for t in ("fw:1", "fw:2"))
    assert rows_with(fw1, "li_A[0] = ")[0].hits == STEPS
    assert rows_with(fw2, "li_A[0] = ")[0].hits == 0 and rows_with(fw2, "if N == 1")[0].hits == STEPS


@pytest.mark.parametrize("name", list(registry.all_implementations()))
def test_every_implementation_is_profiled_at_every_transition_or_refused(name, small_data):
    cls = registry.get_implementation(name, require_available=False)
    if cls.line_profile_refusal:
        with pytest.raises(profile.NotProfilableError, match=f"{name} cannot be line-profiled"):
            profile.check_profilable(cls)
        return
    if cls.unavailable_reason():
        pytest.skip(cls.unavailable_reason())
    trainer = make_trainer(name, small_data)
    transitions = trainer.transitions()
    if cls.backward_profile_refusal:  # backward transitions run in a framework's engine (autograd): refused
        assert set(transitions) == {"fw:1", "fw:2", "fw:3"}
        for transition in ("bw:0", "bw:1", "bw:2"):
            with pytest.raises(profile.NotProfilableError, match=f"{name} cannot line-profile {transition}"):
                profile.resolve_transition(trainer, transition)
    else:
        assert set(transitions) == {"fw:1", "fw:2", "fw:3", "bw:0", "bw:1", "bw:2"}
    for transition, declared in transitions.items():
        result = profile.profile_transition(trainer, transition, steps=STEPS)
        lines, first = inspect.getsourcelines(declared.function)
        assert result.filename == inspect.getsourcefile(declared.function)
        assert all(first <= row.lineno < first + len(lines) for row in result.rows)
        assert all(row.source.strip() == lines[row.lineno - first].strip() for row in result.rows)
        ran = [row for row in result.rows if row.hits]
        assert ran and ran[0].hits == STEPS and result.total_seconds > 0, (name, transition)
        text = profile.render(result)
        assert name in text and transition in text and ran[0].source.strip() in text


@pytest.fixture
def compiled_impl(monkeypatch):
    """A registered implementation that declares itself not line-profilable; gone after the test."""
    monkeypatch.setattr(Trainer, "registry", dict(Trainer.registry))

    class Compiled(NumpyV3Sliced):
        name = "test-compiled"
        line_profile_refusal = "its transitions run inside a compiled graph"

    monkeypatch.setitem(registry._discover(), Compiled.name, Compiled)
    return Compiled


def test_refused_implementation(compiled_impl, small_data, capsys):
    with pytest.raises(profile.NotProfilableError, match="compiled graph"):
        profile.profile_transition(compiled_impl(TrainConfig.make(batch_size=100), small_data), "bw:1")
    assert main(["profile", "--impl", "test-compiled", "--transition", "bw:1", *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlp-bench: error: test-compiled cannot be line-profiled: its transitions run inside")
    assert "--benchmark-only" in err and "\n" not in err


@pytest.mark.parametrize("args, words", [
    (["--impl", "numpy-v9", "--transition", "bw:1"], ["unknown implementation", "numpy-v9"]),
    (["--impl", "numpy-v1-float32", "--transition", "up:1"], ["invalid transition", "up:1"]),
    (["--impl", "numpy-v1-float32", "--transition", "bw1"], ["invalid transition"]),
    (["--impl", "numpy-v1-float32", "--transition", "bw:3"], ["no transition 'bw:3'", "valid: fw:1"]),
    (["--impl", "numpy-v1-float32", "--transition", "bw:-1"], ["no transition 'bw:-1'", "bw:0, bw:1, bw:2"]),
    (["--impl", "numpy-v1-float32", "--transition", "fw:0"], ["no transition 'fw:0'"]),
    (["--impl", "numpy-v1-float32", "--transition", "fw:4"], ["no transition 'fw:4'"]),
    (["--compare", "numpy-v1-float32", "--transition", "bw:1"], ["exactly two"]),
    (["--compare", "numpy-v1-float32,numpy-v1-float32", "--transition", "bw:1"], ["exactly two"]),
    (["--compare", "numpy-v0-naive,numpy-v1-float32,numpy-v3-sliced", "--transition", "bw:1"], ["exactly two"]),
    (["--compare", "numpy-v1-float32,nope", "--transition", "bw:1"], ["unknown implementation", "nope"]),
    (["--impl", "numpy-v1-float32", "--transition", "bw:1", "--steps", "0"], ["steps"]),
])
def test_bad_input_is_one_line_error(args, words, capsys):
    try:
        code = main(["profile", *args, *SMALL[:3]])
    except SystemExit as stop:  # a value argparse refuses as it parses
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlp-bench: error:") and "\n" not in err, err
    assert all(word in err for word in words), err


@pytest.mark.parametrize("args", [
    ["--impl", "numpy-v1-float32", "--compare", "numpy-v1-float32,numpy-v3-sliced"],
    [],
])
def test_impl_and_compare_are_mutually_exclusive_and_one_is_required(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", *args, "--transition", "bw:1", "--synthetic"])
    assert exit_info.value.code == 2
    assert "--impl" in capsys.readouterr().err


def test_bad_transition_in_a_real_process_has_no_traceback():
    result = subprocess.run([sys.executable, "-m", "bench.cli", "profile", "--impl", "numpy-v3-sliced",
                             "--transition", "up:1", "--synthetic"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("mlp-bench: error: invalid transition 'up:1'")


def test_compare_writes_a_new_profile_run_each_time(tmp_path, capsys):
    args = ["profile", "--compare", "numpy-v1-float32,numpy-v3-sliced", "--transition", "bw:1", *SMALL,
            "--results-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.index("numpy-v1-float32  bw:1") < out.index("numpy-v3-sliced  bw:1") < out.index("summary")
    [run] = list_runs(tmp_path, kind="profile")
    assert out.strip().endswith(f"saved: {run.path}")
    assert not list_runs(tmp_path, kind="benchmark")  # so `compare` and `table` never pick it up
    record = json.loads((run.path / "run.json").read_text())
    assert record["kind"] == "profile" and record["transition"] == "bw:1" and record["batch_size"] == 100
    assert record["impls"] == ["numpy-v1-float32", "numpy-v3-sliced"] and record["steps"] == STEPS
    for name in record["impls"]:
        stats = LineStats.from_files(run.path / f"{name}-bw1.lprof")
        [(_, _, function)] = stats.timings
        assert function.endswith("_bw_prop_Np1_to_N")
    markdown = (run.path / "profile.md").read_text()
    assert "### numpy-v1-float32" in markdown and "### Summary" in markdown
    assert "`        D_N = self._D_sigmoid(Z_N)" in markdown

    assert main(args) == 0
    assert len(list_runs(tmp_path, kind="profile")) == 2


def test_render_markdown_and_percentages(v1_bw1):
    assert sum(row.seconds for row in v1_bw1.rows) / v1_bw1.steps == pytest.approx(v1_bw1.seconds_per_step)
    text = profile.render(v1_bw1, unit="us")
    assert "time (us)" in text and "% of transition" in text
    markdown = profile.render([v1_bw1, v1_bw1], markdown=True)
    assert markdown.count("### numpy-v1-float32") == 2 and "| numpy-v1-float32 " in markdown
    assert "tuple[np.ndarray \\| None" in markdown  # a pipe in the source must not split the Markdown cell
