"""What every experiment shares: the run's context, finished parts stored as they come, one training run with
its accuracies, and the summary an experiment hands to the report."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

from bench.end_state import EndState, fit_keeping_end_state
from bench.environment import blas_threads
from bench.figures import pyplot, save
from bench.reproduce.claims import Measure
from bench.runs import atomic_write_text, write_json
from impl.config import SEED_LAYERS, TrainConfig
from impl.contract import Trainer
from impl.data import Dataset, load_dataset
from impl.numpy_mlp.reference import forward
from impl.registry import all_implementations, get_implementation

PARTS = "parts"


@dataclass(frozen=True)
class Profile:
    """Sizes of one reproduction: ``full`` (the articles' settings) or ``quick`` (CI: same code paths and report,
    tiny epochs and sweeps, a training subset)."""

    name: str
    epochs: int  # ladder / batch-size / accuracy-35 training runs (the articles: 35)
    batch_sizes: tuple[int, ...]
    seeds: int  # default of --seeds (accuracy-35)
    lambda2_epochs: int
    lambda2_every: int  # epochs between accuracy evaluations
    lambda2_window: int  # epochs of the moving average that defines convergence
    cnn_epochs: int
    n_train: int | None  # None: the whole training set


FULL = Profile("full", epochs=35, batch_sizes=(100, 500, 1000, 5000, 10000, 20000), seeds=3, lambda2_epochs=800,
               lambda2_every=10, lambda2_window=50, cnn_epochs=5, n_train=None)
QUICK = Profile("quick", epochs=1, batch_sizes=(100, 500, 1000, 5000, 10000, 20000), seeds=1, lambda2_epochs=6,
                lambda2_every=1, lambda2_window=3, cnn_epochs=1, n_train=20_000)


@dataclass
class Context:
    """One reproduction run: its folder and options, the data, progress output."""

    folder: Path
    profile: Profile
    impl: str  # the fast implementation for long training runs (lambda2)
    seeds: int
    threads: int | None
    mnist: str | None
    ladder_from: Path | None = None
    layers: tuple[int, ...] = SEED_LAYERS  # the MLP's model (--layers); the articles' figures are for the seed's
    processes: int | None = None  # worker processes per case of the ladder (None: the suite's default)
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))

    def experiment_dir(self, name: str) -> Path:
        path = self.folder / name
        (path / PARTS).mkdir(parents=True, exist_ok=True)
        return path

    def data(self, split: str = "standard", seed: int = 0, scaling: str = "standard") -> Dataset:
        """Real MNIST (never synthetic: accuracies are the point), cut to the profile's training subset."""
        data = load_dataset(self.mnist, split=split, split_seed=seed, scaling=scaling)
        if data.kind != "real":
            raise RuntimeError("reproduce needs the real MNIST")
        n = self.profile.n_train
        if n is not None and n < data.n_train:
            data = dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])
        return data

    def progress(self, total: int, desc: str) -> tqdm:
        return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, leave=True, dynamic_ncols=True)


def unavailable_reason(impl: str) -> str | None:
    """Why an implementation an experiment names cannot run here (short form), else None."""
    cls = all_implementations().get(impl)
    return "unknown implementation" if cls is None else cls.short_unavailable_reason()


# ---------------------------------------------------------------- finished parts

def part_path(experiment_dir: Path, key: str) -> Path:
    return experiment_dir / PARTS / f"{key}.json"


def read_parts(experiment_dir: Path) -> dict[str, dict[str, Any]]:
    """Every finished part of an experiment, by key (a part is written atomically, so it is whole or absent)."""
    parts = {}
    folder = experiment_dir / PARTS
    if folder.is_dir():
        for file in sorted(folder.glob("*.json")):
            parts[file.stem] = json.loads(file.read_text())
    return parts


def run_parts(ctx: Context, experiment_dir: Path, units: list[tuple[str, Callable[[], dict[str, Any]]]],
              desc: str) -> None:
    """Run the units whose part is not written yet (a resumed run skips the finished ones), each written as
    soon as it ends, with one progress bar."""
    with ctx.progress(len(units), desc) as bar:
        for key, work in units:
            path = part_path(experiment_dir, key)
            if not path.exists():
                bar.set_postfix_str(key)
                result = work()
                write_json(path, {"key": key, **result}, default=float)
            bar.update()


# ---------------------------------------------------------------- one training run

def last_batch_accuracy(trainer: Trainer, data: Dataset) -> float | None:
    """Accuracy on the last mini-batch of the last epoch, predicted with the final weights. None where Keras
    shuffles its own batches. (Not the articles' printed figure, which is the batch average: :class:`EndState`.)"""
    if not trainer.shared_batch_order or trainer.workload != "mlp":
        return None
    idx = trainer.batches(trainer.epoch - 1)[-1]
    outputs = forward(trainer.get_weights(), data.x_train[idx])[-1]
    return float(np.mean(outputs.argmax(axis=1) == data.y_train[idx]))


def build_trainer(impl: str, config: TrainConfig, data: Dataset) -> Trainer:
    return get_implementation(impl)(config, data)


def train_run(impl: str, config: TrainConfig, data: Dataset, threads: int | None,
              every: int | None = None, on_eval: Callable[[int], None] | None = None,
              runs: int = 1) -> dict[str, Any]:
    """Train from scratch; times, final whole-set, last-batch and batch-averaged accuracies and the articles'
    end state (:class:`EndState`, where the trainer shares the batch order). With ``every``, the whole-set
    accuracies are also taken every ``every`` epochs (outside the timed epochs) as a curve. ``runs`` > 1 trains
    that many runs of ``config.epochs`` one after the other, each starting from the weights the previous one
    ended with (learning rate, epoch count and momentum start afresh): one reading of the articles' "best of
    three runs"; only the last run is timed and reported."""
    with blas_threads(threads):
        trainer = build_trainer(impl, config, data)
        trainer.warm_up()
        for _ in range(runs - 1):
            trainer.fit()
            carried = trainer.get_weights()
            trainer.reset()
            trainer.set_weights(carried)
        end_state = EndState.of(trainer, data)
        seconds: list[float] = []
        epoch_accuracies: list[float] = []
        epoch_losses: list[float] = []
        curve: list[dict[str, float]] = []
        for chunk in _chunks(config.epochs, every or config.epochs):
            last = trainer.epoch + chunk == config.epochs
            fit = fit_keeping_end_state(trainer, chunk, end_state if last else None)
            seconds += fit.per_epoch_seconds
            epoch_accuracies += fit.epoch_accuracies
            epoch_losses += fit.epoch_losses
            if every:
                curve.append({"epoch": trainer.epoch, "train": trainer.accuracy("train"),
                              "test": trainer.accuracy("test")})
                if on_eval:
                    on_eval(trainer.epoch)
        result = {
            "impl": impl, "batch_size": config.batch_size, "epochs": config.epochs, "lr": config.learn_rate,
            "decrease_rate": config.decrease_rate, "lambda2": config.lambda2, "mom_rate": config.mom_rate,
            "init": config.init, "shuffle": config.shuffle, "runs": runs, "seed": config.seed,
            "seconds": float(sum(seconds)), "per_epoch_seconds": seconds,
            "median_epoch_s": float(np.median(seconds)), "n_train": data.n_train,
            "updates": config.epochs * -(-data.n_train // config.batch_size),
            "train": curve[-1]["train"] if curve else trainer.accuracy("train"),
            "test": curve[-1]["test"] if curve else trainer.accuracy("test"),
            "last_batch_train": last_batch_accuracy(trainer, data),
            "final_lr": trainer.learn_rate, "n_weights": sum(w.size for w in trainer.get_weights()),
            "epoch_losses": epoch_losses,
            "epoch_accuracies": epoch_accuracies, "curve": curve, "data_source": data.source,
        }
        if end_state is not None:
            result.update(end_state.result())
        elif epoch_accuracies:  # Keras fit: its running accuracy over the last epoch is the batch average
            result["batch_averaged_train"] = epoch_accuracies[-1]
    return result


#: The end-state figures Step III printed for one mini-batch (:class:`EndState`), by their key in a part.
LAST_BATCH_FIGURES = ("last_batch_cost", "last_batch_reg_share", "last_batch_mean_abs_error")
_PER_BATCH = {"last_batch_cost": "cost", "last_batch_reg_share": "reg_share",
              "last_batch_mean_abs_error": "mean_abs_error"}


#: The label of an end-state figure's brackets: not an interval on the mean, the spread of one batch's figure.
BATCH_RANGE = "99 % of the last epoch's batches"


def end_state_measures(prefix: str, runs: list[dict[str, Any]]) -> dict[str, Measure]:
    """The end state of one setting over its runs (seeds), as claim measures ``<prefix>.<figure>``: the
    batch-averaged accuracy (mean of the runs), each last-batch figure (mean of the runs, with the range that
    99 % of the last epoch's batches span, so a reader sees how far one batch moves a one-batch figure), the
    final learning rate and the number of weights."""
    measures: dict[str, Measure] = {}
    ended = [r for r in runs if "batch_averaged_train" in r]
    if not ended:
        return measures
    accuracies = [r["batch_averaged_train"] for r in ended]
    measures[f"{prefix}.batch_averaged_train"] = Measure(float(np.mean(accuracies)),
                                                         note=f"mean of {len(accuracies)} run(s)")
    for figure in LAST_BATCH_FIGURES:
        if not all(r.get(figure) is not None for r in ended):
            continue
        batches = [b[_PER_BATCH[figure]] for r in ended for b in r.get("epoch_batches", [])]
        value = float(np.mean([r[figure] for r in ended]))
        low, high = np.percentile(batches, [0.5, 99.5]) if batches else (None, None)
        measures[f"{prefix}.{figure}"] = Measure(value, None if low is None else min(float(low), value),
                                                 None if high is None else max(float(high), value),
                                                 note=f"mean of {len(ended)} run(s); brackets: the last epoch's "
                                                      "batches", bracket=BATCH_RANGE)
    measures[f"{prefix}.final_lr"] = Measure(float(ended[0]["final_lr"]))
    measures[f"{prefix}.n_weights"] = Measure(float(ended[0]["n_weights"]))
    return measures


def _chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size


# ---------------------------------------------------------------- what an experiment reports

@dataclass
class Summary:
    """An experiment's contribution to the report: measures (keys of claims.toml), findings (sentences a claim
    may cite as its reason), the Markdown section and what is missing."""

    name: str
    measures: dict[str, Measure] = field(default_factory=dict)
    findings: dict[str, str] = field(default_factory=dict)
    section: str = ""
    missing: list[str] = field(default_factory=list)
    not_run_reason: str = ""  # why claims without a measure are not run here (else: "not measured")
    measure_reasons: dict[str, str] = field(default_factory=dict)  # the same, for single measures


def write_csv(experiment_dir: Path) -> Path | None:
    """The finished parts as one flat table (lists such as per-epoch seconds and curves stay in the JSON)."""
    import pandas as pd

    parts = read_parts(experiment_dir)
    if not parts:
        return None
    frame = pd.DataFrame([{k: v for k, v in p.items() if not isinstance(v, list | dict)} for p in parts.values()])
    path = experiment_dir / f"{experiment_dir.name}.csv"
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def two_panels(**kwargs: Any) -> tuple[Any, Any, Any]:
    """A figure with two panels side by side, as the experiments draw them: (figure, left, right)."""
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(10, 3.8), **kwargs)
    return fig, left, right


def save_figure(fig: Any, path: Path, grid: str = "major") -> Path:
    """Grid on every panel, tight layout, written atomically (PNG), then closed."""
    for ax in fig.axes:
        ax.grid(True, which=grid, alpha=0.3)
    fig.tight_layout()
    return save(fig, path)


def markdown_table(head: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table, cells as given (no number parsing)."""
    return tabulate(rows, headers=head, tablefmt="github", disable_numparse=True)


def elapsed(start: float) -> str:
    seconds = time.perf_counter() - start
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def layers_of(record: dict[str, Any]) -> tuple[int, ...]:
    """The run's MLP model: a record from before --layers trained the seed's."""
    return tuple(record.get("layers") or SEED_LAYERS)


def profile_of(record: dict[str, Any]) -> Profile:
    """The profile a reproduction ran with, as stored in its run.json."""
    values = dict(record.get("profile") or dataclasses.asdict(FULL))
    values["batch_sizes"] = tuple(values["batch_sizes"])
    return Profile(**values)
