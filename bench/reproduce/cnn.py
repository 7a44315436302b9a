"""cnn (CNN article II): the seed's Keras CNN, 5 epochs at B=64 on the articles' pooled split; per-epoch time, loss
and Keras' running training accuracy, the test accuracy and the weight count. The GPU rows run where a GPU is
available.

The article's progress bar counts samples (``60000/60000``), so it does not show the batch size; the article
builds on Chollet's MNIST convnet, which trains with 64 per batch: B=64 is that reading, recorded in every part."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.reproduce.claims import Measure
from bench.reproduce.common import (
    Context,
    Summary,
    markdown_table,
    profile_of,
    read_parts,
    run_parts,
    train_run,
    unavailable_reason,
)
from impl.config import TrainConfig

NAME = "cnn"
TITLE = "The Keras CNN (article II): 5 epochs at B=64"
BATCH_SIZE = 64
DEVICES = {"cpu": "keras-cnn-cpu", "gpu": "keras-cnn-gpu"}


def run(ctx: Context) -> dict[str, str]:
    """Runs what this machine can; returns the parts it cannot run, with the reason."""
    folder = ctx.experiment_dir(NAME)
    units, skipped = [], {}
    for device, impl in DEVICES.items():
        reason = unavailable_reason(impl)
        if reason:
            skipped[device] = f"{impl}: {reason}"
            continue
        def work(impl: str = impl) -> dict[str, Any]:
            data = ctx.data("pooled", 0)  # the article's protocol
            config = TrainConfig.make(batch_size=BATCH_SIZE, epochs=ctx.profile.cnn_epochs, seed=0,
                                      n_train=data.n_train)
            return train_run(impl, config, data, ctx.threads)
        units.append((device, work))
    run_parts(ctx, folder, units, "cnn")
    return skipped


def summarise(folder: Path, record: dict[str, Any], link: Callable[[Path], str]) -> Summary:
    summary = Summary(NAME)
    parts = read_parts(folder / NAME)
    skipped = record.get("skipped", {})
    summary.missing = [d for d in DEVICES if d not in parts and d not in skipped.get(NAME, {})]
    reasons = skipped.get(NAME, {})
    epochs = profile_of(record).cnn_epochs
    summary.not_run_reason = f"{epochs} epoch(s) in this profile" if parts else "cnn not measured"
    if "gpu" in reasons:
        summary.measure_reasons["cnn.gpu_seconds"] = reasons["gpu"]
        summary.measure_reasons["cnn.gpu_epoch_seconds"] = reasons["gpu"]
    rows = []
    for device, part in sorted(parts.items()):
        accuracies, losses = part["epoch_accuracies"], part.get("epoch_losses", [])
        if device == "cpu" or "cpu" not in parts:
            for n, value in enumerate(accuracies, 1):
                summary.measures[f"cnn.train_epoch{n}"] = Measure(value)
            for n, value in enumerate(losses, 1):
                summary.measures[f"cnn.loss_epoch{n}"] = Measure(value)
            summary.measures["cnn.test"] = Measure(part["test"])
            if "n_weights" in part:
                summary.measures["cnn.n_weights"] = Measure(float(part["n_weights"]))
        summary.measures[f"cnn.{device}_seconds"] = Measure(part["seconds"])
        summary.measures[f"cnn.{device}_epoch_seconds"] = Measure(float(np.median(part["per_epoch_seconds"])),
                                                                  note=f"median of {len(part['per_epoch_seconds'])} "
                                                                       f"epochs on {device}")
        epochs = " / ".join(f"{s:.1f}" for s in part["per_epoch_seconds"])
        rows.append([device, part["impl"], part["batch_size"], f"{part['seconds']:.1f}", epochs,
                     " / ".join(f"{v:.4f}" for v in losses) or "-", " / ".join(f"{a:.4f}" for a in accuracies),
                     f"{part['test']:.4f}"])
    if "cpu" in parts and "gpu" in parts:
        summary.measures["cnn.gpu_over_cpu"] = Measure(parts["gpu"]["seconds"] / parts["cpu"]["seconds"],
                                                       note="GPU seconds over CPU seconds, one machine")
    if "gpu" in reasons:
        summary.measure_reasons["cnn.gpu_over_cpu"] = reasons["gpu"]
    text = [f"{BATCH_SIZE} images per batch, {profile_of(record).cnn_epochs} epochs, rmsprop with Keras' defaults, "
            "the articles' pooled split (seed 0). Training accuracy is Keras' running average over each epoch, "
            "as its progress bar prints it.", "",
            markdown_table(["device", "implementation", "B", "seconds", "per epoch (s)", "loss per epoch",
                            "train accuracy per epoch", "test"], rows) if rows else "Not run."]
    text += [f"- {d}: not run here ({r})" for d, r in reasons.items()]
    summary.section = "\n".join(text)
    return summary
