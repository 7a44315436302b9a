"""`mlp-bench train`: train one implementation on MNIST, time the epochs, report whole-set accuracy."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tqdm import tqdm

from bench.end_state import EndState, fit_keeping_end_state
from bench.environment import blas_threads, current_blas_threads, library_versions
from bench.options import BATCH_SIZE, EPOCHS, IMPL, LAYERS, add_data_options, add_run_options, load_data, positive_float
from bench.reproduce.claims import figures_for
from impl.config import PRESETS, SEED_LAYERS, TrainConfig, layer_text
from impl.errors import ConfigError
from impl.registry import get_implementation
from impl.workloads import get_workload


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train one implementation and report time and accuracy",
                                   description=__doc__)
    IMPL.add_to(parser, required=True)
    EPOCHS.but(default_help="the preset's, else the workload's: 35").add_to(parser)
    BATCH_SIZE.add_to(parser)
    LAYERS.add_to(parser)
    parser.add_argument("--lr", type=positive_float, help="initial learning rate (default: 1e-3 at B=500, 1e-4 at "
                                                 "B=20000, the power law between them elsewhere)")
    parser.add_argument("--preset", default="seed", choices=list(PRESETS),
                        help="hyperparameter preset (default: seed = the Step III timing runs)")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    add_run_options(parser)
    add_data_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cls = get_implementation(args.impl)
    workload = get_workload(cls.workload)
    epochs = args.epochs if args.epochs is not None else PRESETS[args.preset].get("epochs", workload.epochs)
    batch_size = workload.batch_size if args.batch_size is None else args.batch_size
    config = TrainConfig.make(preset=args.preset, batch_size=batch_size, learn_rate=args.lr, epochs=epochs,
                              seed=args.seed, layers=workload.layers_of(args.layers))
    if cls.workload != "mlp" and (args.lr is not None or args.preset != "seed"):
        print(f"note: --lr and --preset set the MLP's hyperparameters; {cls.name} ({cls.workload}) uses its "
              "framework's stock optimiser and ignores them", file=sys.stderr)
    if not workload.sized and args.layers != LAYERS.default:
        print(f"note: --layers sets the MLP's widths; {cls.name} ({cls.workload}) trains a fixed model and ignores "
              "it", file=sys.stderr)
    refusal = cls.layers_refusal(config.layers) if workload.sized else None
    if refusal:
        raise ConfigError(f"{cls.name} cannot train layers {layer_text(config.layers)}: {refusal}")
    data = load_data(args)
    with blas_threads(args.threads):
        trainer = cls(config, data)
        with tqdm(total=config.epochs, desc=cls.name, unit="epoch", file=sys.stderr, leave=False) as bar:
            def progress(epoch: int, seconds: float, loss: float) -> None:
                bar.set_postfix(seconds=f"{seconds:.3f}", loss=f"{loss:.4g}")
                bar.update()

            real = data.kind == "real"
            end_state = EndState.of(trainer, data) if real else None  # the articles' figures, measured their way
            fit = fit_keeping_end_state(trainer, config.epochs, end_state, on_epoch=progress)
        threads = current_blas_threads()
        report = {
            "impl": cls.name, "workload": cls.workload, "layers": layer_text(config.layers) if workload.sized else None,
            "batch_size": config.batch_size, "epochs": config.epochs,
            "lr": config.learn_rate, "final_lr": fit.final_learn_rate, "preset": config.preset, "seed": config.seed,
            "threads": threads, "dtype": cls.dtype, "device": cls.device, "backend": cls.backend,
            "seconds": fit.seconds, "first_epoch_seconds": fit.per_epoch_seconds[0],
            "per_epoch_seconds": fit.per_epoch_seconds, "epoch_losses": fit.epoch_losses,
            "train_accuracy": trainer.accuracy("train") if real else None,
            "test_accuracy": trainer.accuracy("test") if real else None,
            "batch_averaged_accuracy": (end_state.result()["batch_averaged_train"] if end_state is not None
                                        else fit.epoch_accuracies[-1] if real and fit.epoch_accuracies else None),
            "dataset": data.kind, "split": args.split, "data_source": data.source, "data_warnings": list(data.warnings),
            "versions": library_versions(),
        }
        report["articles_figures"] = articles_figures(cls.name, config, default_lr=args.lr is None)
        if hasattr(trainer, "run_facts"):  # a framework's own facts: verified device, its threads, jit_compile
            report.update(trainer.run_facts())
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
    return 0


def articles_figures(impl: str, config: TrainConfig, default_lr: bool) -> list[dict[str, Any]]:
    """The articles' accuracy figures printed for exactly this run (claims.toml's ``setting``): only with the
    seed's hyperparameters, model and default learning rate, since a figure says nothing about another setting."""
    if config.preset != "seed" or not default_lr or config.layers != SEED_LAYERS:
        return []
    return [{"figure": c.figure, "claim": c.claim, "source": c.source, "id": c.id}
            for c in figures_for(impl, config.batch_size, config.epochs)]


def format_report(r: dict[str, Any]) -> str:
    epochs = " ".join(f"{s:.3f}" for s in r["per_epoch_seconds"])
    lines = [
        f"{r['impl']}  workload={r['workload']}{'  layers=' + r['layers'] if r.get('layers') else ''}  "
        f"B={r['batch_size']}  epochs={r['epochs']}  lr={r['lr']:.4g}  "
        f"preset={r['preset']}  seed={r['seed']}  threads={r['threads']}  "
        f"data={r['dataset']} ({r['data_source']}), {r['split']} split",
        f"training time: {r['seconds']:.3f} s   first epoch: {r['first_epoch_seconds']:.3f} s   "
        f"(epochs only: no data loading, imports or evaluation)",
        f"per-epoch seconds: {epochs}",
        f"final learning rate: {r['final_lr']:.10g}   last epoch's mean batch loss: {r['epoch_losses'][-1]:.6g}",
    ]
    if r["train_accuracy"] is None:
        lines.append("accuracy: not measured (synthetic data are for timing only)")
    else:
        lines += [f"train accuracy (whole training set): {r['train_accuracy']:.4f}",
                  f"test accuracy  (whole test set):     {r['test_accuracy']:.4f}"]
        if r.get("batch_averaged_accuracy") is not None:
            lines.append(f"batch-averaged accuracy (last epoch, each batch before its own step; the articles' "
                         f"measure): {r['batch_averaged_accuracy']:.5f}")
        lines += [f"the articles printed {f['figure']:g} for this setting ({f['source']}: \"{f['claim']}\")"
                  for f in r.get("articles_figures", [])]
    lines += [f"WARNING: {w}" for w in r["data_warnings"]]
    return "\n".join(lines)
