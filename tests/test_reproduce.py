"""`mlp-bench reproduce` and `mlp-bench report`: the claims file, the verdict rule, the convergence rule, and one
real quick reproduction (structure only, never values), resumed and combined as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_one_line_error

from bench.reproduce.claims import Claim, Measure, load_claims, parse_claims, verdict
from bench.reproduce.common import Summary
from bench.reproduce.lambda2 import converged_epoch
from bench.reproduce.report import EXPERIMENTS, FolderSummary, claim_rows
from bench.runs import list_runs


def mlp_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=900)


# ---------------------------------------------------------------- claims and rules (no data needed)

def test_claims_file_is_valid_and_names_known_experiments() -> None:
    claims = load_claims()
    assert len({c.id for c in claims}) == len(claims) >= 40
    for claim in claims:
        assert claim.experiment in EXPERIMENTS, claim.id
        assert claim.measure.startswith(claim.experiment + ".") or (
            claim.measure == "-" and (claim.not_measured or claim.not_comparable)), claim.id
    # the two values the articles give for V3 are both rows
    figures = {c.id: c.figure for c in claims}
    assert figures["v2-over-v3-500-printed"] == pytest.approx(9.6 / 7.52)
    assert figures["v2-over-v3-500-standard"] == pytest.approx(9.6 / 7.3)


CLAIMS = """
[[claim]]
id = "rel"
experiment = "ladder"
claim = "c"
source = "s"
quality = "printed"
figure = "10 / 5"
unit = "ratio"
measure = "ladder.x"
tolerance_rel = 0.1

[[claim]]
id = "least"
experiment = "accuracy-35"
claim = "c"
source = "s"
quality = "second-hand"
figure = 0.977
unit = "accuracy"
measure = "accuracy-35.x"
at_least = 0.977

[[claim]]
id = "range"
experiment = "ladder"
claim = "c"
source = "s"
quality = "printed"
figure = 1
unit = "ratio"
measure = "ladder.y"
range = [0.9, 1.1]
"""


def test_verdicts_follow_each_check() -> None:
    rel, least, window = parse_claims(CLAIMS)
    assert rel.figure == 2.0
    assert verdict(rel, Measure(2.19), "x")[1] == "reproduced"
    assert verdict(rel, Measure(2.21), "x")[1] == "differs"
    assert verdict(least, Measure(0.977), "x")[1] == "reproduced"
    assert verdict(least, Measure(0.9769), "x")[1] == "differs"
    assert verdict(window, Measure(1.11), "x")[1] == "differs"
    assert verdict(window, Measure(0.95, 0.92, 1.05), "x") == ("0.950 [0.920, 1.050]", "reproduced")
    assert verdict(window, Measure(1.3, 1.05, 1.6), "x")[1] == (
        "unresolved (ours outside the claim's band; the interval reaches it)")
    assert verdict(window, Measure(1.3, 1.15, 1.6), "x")[1] == "differs"
    assert verdict(least, Measure(0.96, 0.95, 0.97), "x")[1] == "differs"  # no interval reaches 0.977
    assert verdict(window, None, "no GPU") == ("-", "not run here (no GPU)")


def claim(**fields: object) -> Claim:
    """One claim of claims.toml from its fields (the rest: a ratio claim of the ladder)."""
    entry = {"id": "c", "experiment": "ladder", "claim": "c", "source": "s", "quality": "printed", "unit": "ratio",
             "measure": "ladder.x", **fields}
    text = "[[claim]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in entry.items())
    return parse_claims(text)[0]


def test_a_ratio_claimed_above_1_is_never_reproduced_at_or_below_1() -> None:
    slower = claim(figure=1.07, tolerance_rel=0.15)  # a band of 0.91-1.23: below 1 is the opposite ordering
    assert slower.region() == (1.0, pytest.approx(1.2305)) and slower.tolerance_text() == "±15%, > 1"
    assert verdict(slower, Measure(1.02), "x")[1] == "reproduced"
    assert verdict(slower, Measure(0.95), "x")[1] == "differs"
    assert verdict(slower, Measure(1.0), "x")[1] == "differs"
    within_2x = claim(figure=2.0, at_most=2.0)  # "the gap shrank below a factor of 2": still slower
    assert verdict(within_2x, Measure(0.84, 0.66, 1.06), "x")[1] == (
        "unresolved (ours outside the claim's band; the interval reaches it)")
    faster = claim(figure=0.9, at_most=0.9)
    assert faster.tolerance_text() == "<= 0.900" and verdict(faster, Measure(0.8), "x")[1] == "reproduced"
    level = claim(figure=1, range=[0.9, 1.1])  # "at the same level": no ordering
    assert verdict(level, Measure(0.95), "x")[1] == "reproduced" and level.tolerance_text() == "0.900 to 1.100"


def test_a_point_in_the_band_whose_interval_leaves_it_is_unresolved_not_reproduced() -> None:
    slower = claim(figure=1.1, tolerance_rel=0.15)
    assert verdict(slower, Measure(1.03, 0.84, 1.26), "x")[1] == (
        "unresolved (ours in the claim's band; the interval leaves it, reaching the opposite ordering)")
    assert verdict(slower, Measure(1.2, 1.05, 1.4), "x")[1] == (
        "unresolved (ours in the claim's band; the interval leaves it)")
    assert verdict(slower, Measure(1.1, 1.01, 1.2), "x")[1] == "reproduced"


def test_a_claim_without_a_defined_measure_is_not_comparable_and_shows_ours() -> None:
    converged = claim(experiment="lambda2", unit="epochs", measure="lambda2.x", figure=700, tolerance_abs=150,
                      not_comparable="the article states no convergence rule")
    assert verdict(converged, Measure(230, note="epoch 230 within 0.002, 430 within 0.0005"), "x") == (
        "230", "not comparable (the article states no convergence rule; ours: epoch 230 within 0.002, 430 within "
        "0.0005)")
    assert verdict(converged, None, "not measured")[1] == "not run here (not measured)"


def test_a_difference_without_a_measured_reason_says_unexplained(tmp_path: Path) -> None:
    summary = Summary("ladder", measures={"ladder.x": Measure(1.5), "ladder.y": Measure(0.5, 0.4, 0.95)})
    summary.findings["why"] = "measured: the products take 80 %"
    folder = FolderSummary(tmp_path, {"kind": "reproduction"}, {"ladder": summary})
    claims = [claim(id="a", figure=1.1, tolerance_rel=0.1), claim(id="b", figure=0.9, at_least=0.9, measure="ladder.y"),
              claim(id="c", figure=1.1, tolerance_rel=0.1, reason="ladder:why")]
    table = claim_rows(claims, [folder])
    assert [r[-1] for r in table.rows] == ["differs (unexplained)",
                                           "unresolved (ours outside the claim's band; the interval reaches it)",
                                           "differs (reason R1)"]
    assert table.reasons == {"R1": "measured: the products take 80 %"}
    assert (table.counts["differs"], table.counts["unresolved"]) == (2, 1)
    other_model = FolderSummary(tmp_path, {"kind": "reproduction", "layers": [784, 280, 120, 10]}, {"ladder": summary})
    table = claim_rows(claims[:1], [other_model])
    assert table.rows[0][-1] == "not comparable (model 784-280-120-10; the articles' is 784-70-30-10)"
    assert table.counts["not comparable"] == 1


def test_twins_and_two_values_of_a_figure_are_one_claim_ambiguous_where_they_disagree(tmp_path: Path) -> None:
    from bench.reproduce.report import verdict_count

    summary = Summary("ladder", measures={"ladder.x": Measure(1.5), "ladder.y": Measure(1.1)})
    folder = FolderSummary(tmp_path, {"kind": "reproduction"}, {"ladder": summary})
    claims = [claim(id="k", figure=1.5, tolerance_rel=0.1), claim(id="k-loop", figure=1.5, tolerance_rel=0.1,
                                                                   measure="ladder.y"),
              claim(id="v-printed", figure=1.5, tolerance_rel=0.1), claim(id="v-standard", figure=1.4,
                                                                          tolerance_rel=0.1),
              claim(id="lr", figure=1.5, tolerance_rel=0.1, consistency=True)]
    table = claim_rows(claims, [folder])
    assert len(table.rows) == 4 and len(table.checks) == 1  # the consistency check is listed apart
    assert table.counts["ambiguous"] == 1 and table.counts["reproduced"] == 1 and table.ambiguous == ["k"]
    assert verdict_count(table) == ("2 claims (4 rows): 1 reproduced, 0 differ, 0 unresolved, 1 ambiguous, "
                                    "0 not comparable, 0 not run here")


def test_an_interpreted_quantity_says_how_it_is_read() -> None:
    readings = [c for c in load_claims() if c.quality == "interpreted" and c.figure == 0.977]
    # "over 97.7 %": the seed sets it beside "almost 98 % accuracy on a test dataset"; the training reading went
    assert {c.measure.rsplit(".", 1)[1] for c in readings} == {"test"}
    errors = [c for c in load_claims() if c.measure.endswith("mean_abs_error")]  # the seed prints its code
    assert errors and all(c.quality == "printed" and "np.average(np.abs(" in c.claim for c in errors)


@pytest.mark.parametrize("broken, words", [
    (CLAIMS.replace("tolerance_rel = 0.1", ""), "exactly one check"),
    (CLAIMS.replace('quality = "second-hand"', 'quality = "rumour"'), "quality"),
    (CLAIMS.replace('"range"', '"rel"', 1), "duplicate"),
    (CLAIMS.replace('"10 / 5"', '"ten"'), "figure"),
    (CLAIMS.replace('at_least = 0.977', 'at_least = 0.977\nsetting = { impl = "x", batch_size = "500", epochs = 35 }'),
     "setting"),
])
def test_a_broken_claims_file_is_a_one_line_error(broken: str, words: str) -> None:
    from impl.errors import MLPBenchError
    with pytest.raises(MLPBenchError, match=words):
        parse_claims(broken)


def test_train_shows_an_articles_figure_only_for_the_run_it_was_printed_for() -> None:
    from bench.train import articles_figures
    from impl.config import TrainConfig

    def ids(impl: str, default_lr: bool = True, **config: object) -> list[str]:
        return [f["id"] for f in articles_figures(impl, TrainConfig.make(**config), default_lr)]

    assert ids("numpy-v3-sliced", batch_size=500, epochs=35) == ["accuracy-500-batch-averaged"]
    assert ids("numpy-v3-sliced", batch_size=20000, epochs=35) == ["accuracy-20000-batch-averaged"]
    assert ids("numpy-tuned", batch_size=500, epochs=35) == []  # the articles never ran it
    assert ids("numpy-v3-sliced", batch_size=1000, epochs=35) == []
    assert ids("numpy-v3-sliced", batch_size=500, epochs=10) == []
    assert ids("numpy-v3-sliced", default_lr=False, batch_size=500, epochs=35) == []
    assert ids("numpy-v3-sliced", batch_size=500, epochs=35, preset="xiii") == []


def test_convergence_is_where_the_moving_average_settles() -> None:
    curve = [{"epoch": 10 * (i + 1), "test": t} for i, t in
             enumerate([0.90, 0.93, 0.95, 0.96, 0.965, 0.966, 0.967, 0.966, 0.967, 0.967])]
    # window 2: averages from epoch 20 on; 0.9625 at epoch 50 is outside 0.002 of the last (0.967), 0.9655 at
    # epoch 60 and every later one inside
    assert converged_epoch(curve, 2) == 60
    assert converged_epoch(curve, 2, within=0.001) == 70
    assert converged_epoch(curve[:1], 2) != converged_epoch(curve[:1], 2)  # NaN: shorter than the window


# ---------------------------------------------------------------- one real quick reproduction

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.environ.get("MLPBENCH_MNIST"):
        if os.environ.get("MLPBENCH_REQUIRE_DATA") == "1":
            pytest.fail("MLPBENCH_REQUIRE_DATA=1 but MLPBENCH_MNIST is not set")
        pytest.skip("real MNIST not configured (MLPBENCH_MNIST)")
    results = tmp_path_factory.mktemp("reproduce")
    done = mlp_bench("reproduce", "--quick", "--threads", "1", "--results-dir", str(results))
    assert done.returncode == 0, done.stderr[-3000:]
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


def test_quick_reproduction_writes_the_whole_report(quick_run: Path) -> None:
    record = json.loads((quick_run / "run.json").read_text())
    assert (record["kind"], record["complete"], record["profile"]["name"]) == ("reproduction", True, "quick")
    assert all(record["status"][name]["state"] == "complete" for name in EXPERIMENTS)
    assert (quick_run / "claims.toml").read_text() == (Path("bench/reproduce/claims.toml")).read_text()
    report = (quick_run / "report.md").read_text()
    assert "QUICK profile" in report
    table = report.split("## Claims", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    assert len(rows) == len(load_claims())  # every claim, one row each (one run)
    assert all(row.rstrip(" |").split("|")[-1].strip().split(" (")[0].split(",")[0]
               in ("reproduced", "differs", "not comparable", "not run here") for row in rows)
    for name in EXPERIMENTS:
        assert f"## {name}:" in report
    for figure in ("ladder/ladder.png", "batch-size/batch-size.png", "lambda2/lambda2.png", "protocol/protocol.png"):
        assert (quick_run / figure).stat().st_size > 1000 and f"]({figure})" in report
    skipped = record["skipped"].get("cnn", {})
    for name in ("batch-size", "accuracy-35", "protocol", "lambda2", "cnn"):
        if name == "cnn" and "cpu" in skipped:  # no Keras here (a core install): the report says why, CI fails
            if os.environ.get("MLPBENCH_REQUIRE_KERAS") == "1":
                pytest.fail(f"MLPBENCH_REQUIRE_KERAS=1 but the CNN did not run: {skipped['cpu']}")
            assert "not run here" in report and skipped["cpu"] in report
            continue
        assert (quick_run / name / f"{name}.csv").is_file() and list((quick_run / name / "parts").glob("*.json"))
    assert list_runs(quick_run.parent, kind="benchmark") == []  # compare and table never pick it


def test_resume_reruns_only_what_is_missing(quick_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / quick_run.name
    shutil.copytree(quick_run, folder)
    record = json.loads((folder / "run.json").read_text())
    record["complete"] = False
    record["status"]["lambda2"] = {"state": "running"}
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "lambda2" / "parts" / "lambda2-0.8-seed0.json").unlink()
    kept = folder / "lambda2" / "parts" / "lambda2-0.01-seed0.json"
    before = kept.stat().st_mtime_ns
    interrupted = mlp_bench("report", str(folder))  # what an interrupted run's report says
    assert interrupted.returncode == 0, interrupted.stderr
    assert "Incomplete run" in interrupted.stdout and "lambda2: lambda2-0.8-seed0" in interrupted.stdout
    done = mlp_bench("reproduce", "--resume", str(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (folder / "lambda2" / "parts" / "lambda2-0.8-seed0.json").is_file()
    assert kept.stat().st_mtime_ns == before  # finished parts are never redone
    assert json.loads((folder / "run.json").read_text())["complete"] is True
    assert "Incomplete run" not in (folder / "report.md").read_text()
    again = mlp_bench("reproduce", "--resume", str(folder))
    assert_one_line_error(again, "already complete")


def test_resume_refuses_another_code_version(quick_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / quick_run.name
    shutil.copytree(quick_run, folder)
    record = json.loads((folder / "run.json").read_text())
    record.update(complete=False, code_version="0123456789ab")
    (folder / "run.json").write_text(json.dumps(record))
    assert_one_line_error(mlp_bench("reproduce", "--resume", str(folder)), "code version 0123456789ab")


@pytest.mark.parametrize("args, words", [
    (["--only", "ladder,nope"], "unknown experiment nope"),
    (["--seeds", "0"], "--seeds: must be at least 1"),
    (["--impl", "keras-fit-cpu"], "equivalence"),
    (["--impl", "numpy-v9"], "unknown implementation"),
    (["--only", "lambda2", "--from", "."], "leaves out"),
    (["--resume", ".", "--quick"], "drop --quick"),
])
def test_bad_input_is_one_line_and_writes_nothing(args: list[str], words: str, tmp_path: Path) -> None:
    assert_one_line_error(mlp_bench("reproduce", "--results-dir", str(tmp_path / "r"), *args), words)
    assert not (tmp_path / "r").exists()


def test_from_needs_a_benchmark_run_with_the_ladder(quick_run: Path, tmp_path: Path) -> None:
    result = mlp_bench("reproduce", "--from", str(quick_run), "--results-dir", str(tmp_path / "r"))
    assert_one_line_error(result, "not a benchmark run")
    assert not (tmp_path / "r").exists()


def test_report_combines_runs_with_a_machine_column(quick_run: Path, tmp_path: Path) -> None:
    (benchmark,) = list_runs(quick_run / "ladder" / "benchmark", kind="benchmark")
    out = tmp_path / "combined.md"
    done = mlp_bench("report", str(quick_run), str(benchmark.path), "--output", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert any(line.startswith("| claim") and "| machine (run) " in line for line in text.splitlines())
    ladder_claims = [c for c in load_claims() if c.experiment == "ladder"]
    assert text.count(f"`{benchmark.path.name}`") >= len(ladder_claims)  # its ladder rows, labelled
    assert_one_line_error(mlp_bench("report", str(tmp_path)), "run.json missing")
    assert_one_line_error(mlp_bench("report", "no-such-run", "--results-dir", str(tmp_path)), "no run 'no-such-run'")
    by_id = mlp_bench("report", benchmark.path.name, "--results-dir", str(benchmark.path.parent))
    assert by_id.returncode == 0 and "## ladder" in by_id.stdout


def test_from_a_saved_run_by_id_reuses_its_ladder(tmp_path: Path) -> None:
    """`--from reference`: the committed reference run holds the ladder's cases; nothing is measured for it."""
    shutil.copytree(Path(__file__).resolve().parents[1] / "results" / "reference", tmp_path / "reference")
    done = mlp_bench("reproduce", "--only", "ladder", "--from", "reference", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "reference"]
    record = json.loads((folder / "run.json").read_text())
    assert record["complete"] and record["ladder_from"] == str((tmp_path / "reference").resolve())
    assert not (folder / "ladder" / "benchmark").exists()
    report = (folder / "report.md").read_text()
    ladder_rows = [line for line in report.splitlines() if line.startswith("| Steps I-III")]
    assert ladder_rows and "not run here" not in ladder_rows[0]  # a measured ratio with a verdict
    assert "experiment not selected" in report  # the other experiments' claims say why they have none


# ---------------------------------------------------------------- the protocol search (no data needed)

def _part(setting: object, size: int, printed_factor: float) -> dict[str, object]:
    """A part whose fitted figures are the printout times ``printed_factor`` (accuracy: its error rate)."""
    from bench.reproduce.protocol import PRINTED
    figures = {f: v * printed_factor for f, v in PRINTED[size].items()}
    figures["batch_averaged_train"] = 1 - (1 - PRINTED[size]["batch_averaged_train"]) * printed_factor
    figures["final_lr"] = PRINTED[size]["final_lr"]
    return {"setting": setting.name, "train": 0.9, "test": 0.9, "impl": "numpy-tuned", **figures}


def test_the_protocol_search_walks_to_the_setting_that_fits_the_printout() -> None:
    """Greedy coordinate descent over synthetic parts: momentum 0.9 and fan-out each bring the end state closer;
    the search finds both, stops after a pass without change, and a replay of the parts gives the same answer."""
    from dataclasses import replace

    from bench.reproduce import protocol

    def factor(setting: protocol.Setting) -> float:  # 1.0 is the printout exactly
        return 10.0 / (3.0 if setting.mom_rate == 0.9 else 1.0) / (3.0 if setting.init == "fan-out" else 1.0)

    parts: dict[str, dict[str, object]] = {}
    trained: list[str] = []

    def evaluate(setting: protocol.Setting) -> None:
        trained.append(setting.name)
        for size in protocol.BATCH_SIZES:
            parts[protocol.key(setting, size)] = _part(setting, size, factor(setting))

    axes = {"mom_rate": (5e-5, 0.5, 0.9), "init": ("fan-in", "fan-out")}
    best, tried = protocol.search(parts, axes, evaluate)
    assert best == replace(protocol.DEFAULT, mom_rate=0.9, init="fan-out")
    assert len(trained) == len(set(trained)) == len(tried)  # every setting trained once
    assert protocol.score(parts, best) < protocol.score(parts, protocol.DEFAULT)
    assert protocol.search(parts, axes) == (best, tried)  # the report replays the run's search from its parts
    residuals = protocol.residuals(parts[protocol.key(best, 500)], 500)
    assert residuals["last_batch_cost"] == pytest.approx(np.log10(10 / 9))
    assert residuals["final_lr"] == pytest.approx(0.0)


def test_a_replayed_search_stops_where_an_interrupted_one_stopped() -> None:
    from bench.reproduce import protocol

    parts = {protocol.key(protocol.DEFAULT, size): _part(protocol.DEFAULT, size, 5.0) for size in protocol.BATCH_SIZES}
    best, tried = protocol.search(parts, {"mom_rate": (5e-5, 0.9)})
    assert best == protocol.DEFAULT and len(tried) == 2  # 0.9 was never trained: no verdict on it yet


def test_a_diverged_setting_never_wins() -> None:
    from bench.reproduce import protocol

    part = _part(protocol.DEFAULT, 500, 1.0)
    part["last_batch_cost"] = None  # NaN is stored as null
    parts = {protocol.key(protocol.DEFAULT, 500): part,
             protocol.key(protocol.DEFAULT, 20000): _part(protocol.DEFAULT, 20000, 1.0)}
    assert protocol.score(parts, protocol.DEFAULT) == float("inf")


# ---------------------------------------------------------------- the articles' end state of a run

def test_end_state_counts_the_last_epochs_batches_with_the_weights_each_step_used(small_data: object) -> None:
    """The batch-averaged accuracy is a count over the last epoch, each batch judged by the weights before its
    own step (the float64 reference replays them); the bookkeeping's time is kept apart from the epoch's."""
    from bench.reproduce.common import train_run
    from impl.config import TrainConfig
    from impl.numpy_mlp.reference import forward, training_steps

    config = TrainConfig.make(batch_size=100, epochs=2, seed=3, n_train=small_data.n_train)
    result = train_run("numpy-v3-sliced", config, small_data, threads=1)
    steps = [s for s in training_steps(config, small_data.x_train, small_data.onehot_train(), epochs=2)
             if s.epoch == 1]
    correct = sum(int(np.sum(forward(s.weights, small_data.x_train[s.idx])[-1].argmax(axis=1)
                             == small_data.y_train[s.idx])) for s in steps)
    assert result["batch_averaged_train"] == pytest.approx(correct / small_data.n_train, abs=2 / small_data.n_train)
    assert len(result["epoch_batches"]) == len(steps)
    assert result["last_batch_cost"] == pytest.approx(steps[-1].loss, rel=1e-3)
    assert 0 < result["last_batch_reg_share"] < 1 and 0 < result["set_reg_share"] < result["last_batch_reg_share"]
    assert result["final_lr"] == pytest.approx(config.learn_rate / (1 + config.decrease_rate))
    assert result["n_weights"] == 785 * 70 + 71 * 30 + 31 * 10


def test_bookkeeping_before_each_step_is_left_out_of_the_epoch(small_data: object) -> None:
    from impl.config import TrainConfig
    from impl.registry import get_implementation

    config = TrainConfig.make(batch_size=500, epochs=1, n_train=small_data.n_train)
    trainer = get_implementation("numpy-v3-sliced")(config, small_data)
    seen: list[int] = []
    fit = trainer.fit(before_step=lambda idx: seen.append(len(idx)))
    assert len(seen) == len(trainer.batches(0)) and trainer.bookkeeping_s > 0
    assert len(fit.per_epoch_seconds) == 1


def test_carried_over_runs_start_from_the_last_weights(small_data: object) -> None:
    from bench.reproduce.common import train_run
    from impl.config import TrainConfig

    config = TrainConfig.make(batch_size=100, epochs=1, n_train=small_data.n_train)
    once, carried = (train_run("numpy-tuned", config, small_data, threads=1, runs=n) for n in (1, 2))
    assert carried["runs"] == 2 and carried["final_lr"] == once["final_lr"]  # the schedule starts afresh
    assert carried["train"] > once["train"]  # but the weights do not


def test_a_setting_is_a_reason_only_for_the_figures_it_reproduces() -> None:
    """Within the claims' tolerances at both batch sizes: the accuracy alone (a reason for the accuracy rows) or
    the whole end state (a reason for every end-state row); the finding says how far it leaves the rest."""
    from dataclasses import replace

    from bench.reproduce import protocol

    close = replace(protocol.DEFAULT, runs=3)
    parts = {protocol.key(s, size): _part(s, size, f) for s, f in ((protocol.DEFAULT, 5.0), (close, 1.1))
             for size in protocol.BATCH_SIZES}
    for size in protocol.BATCH_SIZES:
        parts[protocol.key(close, size)]["last_batch_reg_share"] *= 20  # the accuracy fits, the L2 share does not
    assert protocol._explains_accuracy(parts, close) and not protocol._explains_end_state(parts, close)
    assert not protocol._explains_accuracy(parts, protocol.DEFAULT)
    finding = protocol._finding(parts, close, "accuracy")
    assert "3 run(s) carried over" in finding and "reg. share x22" in finding and "0.99272" in finding


def test_a_setting_earns_a_reason_only_over_three_seeds_and_with_a_better_fit_than_the_defaults():
    from bench.reproduce.protocol import earns_reason

    assert earns_reason(0.171, 0.262, seeds=3)
    assert not earns_reason(0.365, 0.262, seeds=3)  # reproduces the accuracy, fits the printout worse
    assert not earns_reason(0.171, 0.262, seeds=1)  # one seed is a hypothesis


def test_no_claim_of_the_committed_report_cites_an_unearned_protocol_reason():
    from bench.reproduce.claims import load_claims
    from bench.reproduce.protocol import MIN_SEEDS, SEEDS_PER_SETTING

    report = (Path(__file__).resolve().parents[1] / "results" / "reproduction" / "report.md").read_text()
    protocol_claims = [c.claim for c in load_claims() if (c.reason or "").startswith("protocol:")]
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")}
    assert len(protocol_claims) >= 8 and all(claim in rows for claim in protocol_claims)
    if SEEDS_PER_SETTING < MIN_SEEDS:  # the search trains one seed: nothing it finds is a reason
        assert not [c for c in protocol_claims if "reason R" in rows[c]]
        assert "Hypothesis, not a reason" in report  # the carried-over runs are listed as one, with their rank


def test_the_committed_report_lists_every_edit_to_the_claims_since_its_run():
    """The report's changelog is git's, as of the commit that last rendered it (an edit committed with the report
    shows as the uncommitted line), and no edit to the claims came after it (else the report is stale)."""
    from bench.reproduce.provenance import UNCOMMITTED, claims_changelog

    root = Path(__file__).resolve().parents[1]
    folder = root / "results" / "reproduction"
    changes = claims_changelog(json.loads((folder / "run.json").read_text()))

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()

    rendered = git("log", "-1", "--format=%h", "--", "results/reproduction/report.md")
    if changes is None or not rendered:
        pytest.skip("no git history here: the changelog cannot be checked")
    assert not git("log", f"{rendered}..HEAD", "--format=%h", "--", "bench/reproduce/claims.toml"), (
        "claims.toml changed after the committed report was rendered: re-render results/reproduction/report.md")
    with_report = "bench/reproduce/claims.toml" in git("show", "--name-only", "--format=", rendered).splitlines()
    listed = changes[:-1] + UNCOMMITTED if with_report else changes
    report = (folder / "report.md").read_text()
    assert changes, "the reference run predates edits to claims.toml: the changelog must not be empty"
    assert f"`claims.toml` changed in {len(changes) - with_report} commit(s)" in report
    assert all(f"- {line}\n" in report for line in listed)
    assert claims_changelog({"code_version": "0" * 12}) is None  # an unknown commit: said, not guessed


def test_the_l2_readings_recompute_our_end_state_and_the_report_shows_them():
    from bench.reproduce.l2_readings import READINGS, residuals
    from bench.reproduce.protocol import PRINTED

    measures = {"accuracy-35.pooled-decay1e-06.last_batch_cost": Measure(200.0),
                "accuracy-35.pooled-decay1e-06.last_batch_reg_share": Measure(0.5),
                "batch-size.end.numpy-v3-sliced@20000.last_batch_cost": Measure(30000.0),
                "batch-size.end.numpy-v3-sliced@20000.last_batch_reg_share": Measure(0.001)}
    rows = residuals(measures, PRINTED)
    suites = [r for r in rows if r["reading"].endswith("(the suite's)")]
    assert [round(r["cost"], 6) for r in suites] == [200.0, 30000.0] and suites[0]["squares"] == pytest.approx(1000)
    doubled = next(r for r in rows if r["reading"] == "lambda2 * sum(w^2)" and r["batch"] == 500)
    assert doubled["cost"] == pytest.approx(300.0) and doubled["share"] == pytest.approx(200 / 300)
    assert len(rows) == 2 * len(READINGS)
    assert residuals({}, PRINTED) is None
    report = (Path(__file__).resolve().parents[1] / "results" / "reproduction" / "report.md").read_text()
    assert "## The printed L2 share: readings of its definition" in report and "| lambda2 * sum(w^2) " in report
