"""batch-size (Steps II/III): time per epoch and final accuracies across batch sizes for V3, numpy-tuned and
both Keras twins (stock fit and our own loop); where the time per sample stops falling, and why B=20000 ends far
below B=500 in accuracy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.figures import batch_axis, colour_of, plain_log_y
from bench.reproduce.claims import Measure
from bench.reproduce.common import (
    Context,
    Profile,
    Summary,
    end_state_measures,
    markdown_table,
    profile_of,
    read_parts,
    run_parts,
    save_figure,
    train_run,
    two_panels,
    unavailable_reason,
)
from impl.config import TrainConfig

NAME = "batch-size"
TITLE = "Batch size: time per sample and accuracy"
IMPLS = ("numpy-v3-sliced", "numpy-tuned", "keras-fit-cpu", "keras-cpu")  # both Keras twins: fit and our loop
FLAT = 0.10  # "no faster": time per sample within 10 % of the previous batch size's
EQUAL_UPDATES = "equal-updates"  # the extra run: B=20000 trained for as many updates as B=500 makes
METRIC_MATTERS = 0.01  # a metric difference above this is named as part of the gap


def key(impl: str, size: int) -> str:
    return f"{impl}-B{size}"


def expected(profile: Profile) -> list[str]:
    return [key(impl, size) for impl in IMPLS for size in profile.batch_sizes] + [EQUAL_UPDATES]


def equal_updates_epochs(epochs: int, n_train: int, small: int = 500, big: int = 20000) -> int:
    """Epochs at B=``big`` that make as many updates as ``epochs`` at B=``small``."""
    return epochs * -(-n_train // small) // -(-n_train // big)


def run(ctx: Context) -> dict[str, str]:
    """Runs what this machine can; returns the parts it cannot run, with the reason."""
    folder = ctx.experiment_dir(NAME)
    data = ctx.data()
    units, skipped = [], {}
    for impl in IMPLS:
        if unavailable_reason(impl):
            skipped.update({key(impl, size): f"{impl}: {unavailable_reason(impl)}" for size in ctx.profile.batch_sizes})
            continue
        for size in ctx.profile.batch_sizes:
            config = TrainConfig.make(batch_size=size, epochs=ctx.profile.epochs, seed=0, n_train=data.n_train,
                                      layers=ctx.layers)
            units.append((key(impl, size), lambda c=config, i=impl: train_run(i, c, data, ctx.threads)))
    if not unavailable_reason("numpy-tuned"):  # the same mathematics, the fastest trainer: 40x the epochs at B=20000
        epochs = equal_updates_epochs(ctx.profile.epochs, data.n_train)
        config = TrainConfig.make(batch_size=20000, epochs=epochs, seed=0, n_train=data.n_train, layers=ctx.layers)
        units.append((EQUAL_UPDATES, lambda: train_run("numpy-tuned", config, data, ctx.threads)))
    run_parts(ctx, folder, units, "batch-size")
    return skipped


def summarise(folder: Path, record: dict[str, Any], link: Callable[[Path], str]) -> Summary:
    summary = Summary(NAME)
    parts = read_parts(folder / NAME)
    profile = profile_of(record)
    profile_sizes = profile.batch_sizes
    skipped = record.get("skipped", {}).get(NAME, {})
    summary.missing = [k for k in [*(key(i, s) for i in IMPLS for s in profile_sizes), EQUAL_UPDATES]
                       if k not in parts and k not in skipped]
    summary.not_run_reason = "; ".join(sorted(set(skipped.values())))
    if not parts:
        summary.not_run_reason = summary.not_run_reason or "batch-size not measured"
        return summary
    equal = parts.pop(EQUAL_UPDATES, None)
    by = {(p["impl"], p["batch_size"]): p for p in parts.values()}
    rows, findings = [], []
    for impl in IMPLS:
        sizes = sorted(s for i, s in by if i == impl)
        per_sample = {s: by[(impl, s)]["median_epoch_s"] / by[(impl, s)]["n_train"] for s in sizes}
        for s in sizes:
            p = by[(impl, s)]
            last = p["last_batch_train"]
            rows.append([impl, s, f"{p['median_epoch_s']:.3f}", f"{per_sample[s] * 1e6:.2f}", p["updates"],
                         f"{p['lr']:.3g}", f"{p['train']:.4f}", f"{p['test']:.4f}",
                         "-" if last is None else f"{last:.4f}"])
            if last is not None:
                summary.measures[f"batch-size.last_batch_train.{impl}@{s}"] = Measure(last)
            summary.measures.update(end_state_measures(f"batch-size.end.{impl}@{s}", [p]))
            summary.measures[f"batch-size.train.{impl}@{s}"] = Measure(p["train"])
        if 1000 in per_sample and 5000 in per_sample:
            summary.measures[f"batch-size.per_sample_ratio.{impl}@5000/1000"] = Measure(
                per_sample[5000] / per_sample[1000], note="median epoch time per sample, B=5000 over B=1000")
        falls = [b for a, b in zip(sizes, sizes[1:], strict=False) if per_sample[b] <= (1 - FLAT) * per_sample[a]]
        if len(sizes) > 1:
            flat_from = falls[-1] if falls else sizes[0]
            findings.append(f"{impl}: the time per sample falls by more than {FLAT:.0%} per step up to B={flat_from} "
                            + ("and no more above it" if flat_from != sizes[-1] else "(the largest size measured)")
                            + f" ({per_sample[sizes[0]] * 1e6:.2f} µs at B={sizes[0]}, "
                            f"{per_sample[flat_from] * 1e6:.2f} at B={flat_from}, "
                            f"{per_sample[sizes[-1]] * 1e6:.2f} at B={sizes[-1]})")
    gap = _gap_20000(by, equal)
    if gap:
        summary.findings["gap-20000"] = gap
    head = ["implementation", "B", "median epoch s", "µs per sample", "updates", "lr", "train (whole set)",
            "test (whole set)", "last mini-batch"]
    text = [f"{profile.epochs} epochs per run, one run per cell, the learning rate as configured "
            "(`impl/config.py`: 1e-3 at B=500, 1e-4 at B=20000, the power law between). Time per sample = the "
            "median epoch time over the training-set size.", "", markdown_table(head, rows), "",
            *([f"Equal updates: numpy-tuned at B=20000 for {equal['epochs']} epochs ({equal['updates']} updates): "
               f"train {equal['train']:.4f}, test {equal['test']:.4f}, {equal['seconds']:.1f} s.", ""]
              if equal else []),
            *[f"- {f}" for f in findings]]
    if gap:
        text.append(f"- B=20000 accuracy: {gap}")
    figure = folder / NAME / "batch-size.png"
    if figure.is_file():
        text += ["", f"![batch size]({link(figure)})"]
    summary.section = "\n".join(text)
    return summary


def _gap_20000(by: dict[tuple[str, int], dict[str, Any]], equal: dict[str, Any] | None) -> str:
    """Why V3 at B=20000 ends far below B=500, from measurements: the metric (last batch against the whole
    set) and the number of updates (a B=20000 run as long in updates as B=500's)."""
    big, small = by.get(("numpy-v3-sliced", 20000)), by.get(("numpy-v3-sliced", 500))
    if not big or not small or big["last_batch_train"] is None:
        return ""
    metric = big["last_batch_train"] - big["train"]
    text = (f"V3 at B=20000 reads {big['last_batch_train']:.4f} on its last mini-batch and {big['train']:.4f} on "
            f"the whole training set (the metric moves it by {metric:+.4f}, "
            f"{'part of' if abs(metric) > METRIC_MATTERS else 'not'} the gap); it makes {big['updates']} updates "
            f"with lr {big['lr']:.3g}, B=500 makes {small['updates']} with lr {small['lr']:.3g} and reaches "
            f"{small['train']:.4f}")
    if equal:
        closed = (equal["train"] - big["train"]) / (small["train"] - big["train"]) if small["train"] != big["train"] \
            else float("nan")
        text += (f"; trained for {equal['updates']} updates ({equal['epochs']} epochs, numpy-tuned), B=20000 "
                 f"reaches {equal['train']:.4f} train / {equal['test']:.4f} test: the number of updates closes "
                 f"{closed:.0%} of the gap to our own B=500 run. It does not explain the gap to the article: its "
                 f"B=20000 run had the same batch size and epochs, so the same {big['updates']} updates")
    return text


def draw(folder: Path, record: dict[str, Any]) -> Path | None:
    parts = read_parts(folder / NAME)
    if not parts:
        return None
    fig, left, right = two_panels()
    measured: set[int] = set()
    for impl in IMPLS:
        points = sorted(((p["batch_size"], p) for k, p in parts.items() if p["impl"] == impl and k != EQUAL_UPDATES),
                        key=lambda point: point[0])
        if not points:
            continue
        sizes = [s for s, _ in points]
        measured.update(sizes)
        left.plot(sizes, [p["median_epoch_s"] / p["n_train"] * 1e6 for _, p in points], marker="o", label=impl,
                  color=colour_of(impl))
        right.plot(sizes, [p["test"] for _, p in points], marker="o", label=impl, color=colour_of(impl))
    left.set(ylabel="µs per sample (median epoch)", title="time per sample")
    plain_log_y(left)
    right.set(ylabel="test accuracy (whole set)", title=f"accuracy after {profile_of(record).epochs} epochs")
    for ax in (left, right):
        batch_axis(ax, measured)
    left.legend(fontsize="small")
    return save_figure(fig, folder / NAME / "batch-size.png", grid="both")
