"""``shardkit qat``, ``shardkit convert`` and ``shardkit evaluate``: options → config → one library call.

Importing this module does not import TensorFlow. Bad options and paths that do not exist exit 2
before TensorFlow is imported; a failed conversion gate exits 1 after writing its report, with
nothing promoted.
"""

from __future__ import annotations

import click

from shardkit.cli_options import add_options, require_path, storage_option, tensorflow_required

_SHARDS = click.option("--shards", required=True, help="Shard folder or manifest (local or s3://) the samples come from.")
_OUT = click.option("--out", default=None, help="Output folder [default: the model's].")
_STORAGE = storage_option("fsspec option for the model, the shards and --out (repeatable).")
_CALIBRATION = [
    click.option("--calibration-split", default="train", show_default=True, help="Split the calibration samples are drawn from."),
    click.option("--calibration-samples", type=int, default=200, show_default=True, help="Calibration samples, stratified by class."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the deterministic sample draws."),
]


def _calibration(split: str, samples: int, seed: int):
    from shardkit.export.config import CalibrationConfig

    return CalibrationConfig(split=split, samples=samples, seed=seed)


#: file endings of models; other names are refused by the library with its own message
_MODELS = (".keras", ".tflite")


def _check_paths(storage_options: dict, *paths: tuple[str, str]) -> None:
    """Check that every ``(name, path)`` exists (before TensorFlow is imported)."""
    for what, location in paths:
        require_path(location, what, storage_options, suffixes=() if what == "--shards" else _MODELS)


def _needs_tf(command: str):
    """A missing TensorFlow or ai-edge-litert while ``command`` runs → the ``pip install`` line (exit 1)."""
    return tensorflow_required(f"shardkit {command} needs TensorFlow and ai-edge-litert; run: pip install 'shardkit[tf]'")


@click.command("qat")
@click.argument("checkpoint")
@_SHARDS
@_OUT
@click.option("--epochs", type=int, default=3, show_default=True, help="Fine-tuning epochs.")
@click.option("--learning-rate", type=float, default=1e-4, show_default=True, help="Adam learning rate.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--max-steps-per-epoch", type=int, default=None, help="Cut epochs at this many batches.")
@click.option("--teacher-weight", type=float, default=1.0, show_default=True, help="Share of the loss distilled from the float model (the rest: labels).")
@click.option(
    "--loss",
    default="bce",
    show_default=True,
    help="Distillation loss: bce (against the float scores) or tail_distill (Bernoulli KL + mean and worst cosines).",
)
@click.option("--kl-weight", type=float, default=1.0, show_default=True, help="tail_distill: weight of the Bernoulli KL.")
@click.option("--cosine-weight", type=float, default=0.10, show_default=True, help="tail_distill: weight of 1 - mean per-sample cosine.")
@click.option("--tail-cosine-weight", type=float, default=0.75, show_default=True, help="tail_distill: weight of 1 - mean of the worst cosines.")
@click.option("--tail-fraction", type=float, default=0.10, show_default=True, help="tail_distill: share of each batch's samples that are its worst.")
@click.option(
    "--distill-weight",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of the stored teacher's soft labels mixed into the labels' part (needs --teacher-weight below 1 and shards built with a teacher).",
)
@click.option("--distill-temperature", type=float, default=1.0, show_default=True, help="Temperature T of those soft labels: sigmoid(logit(p) / T).")
@click.option(
    "--monitor", default="val_roc_auc", show_default=True, help="Fake-quant validation metric that picks the epoch kept: val_roc_auc, val_cmap or val_loss."
)
@add_options(_CALIBRATION)
@_STORAGE
def qat_command(
    checkpoint: str, shards: str, out: str | None, calibration_split: str, calibration_samples: int, seed: int, storage_options: dict, **settings
) -> None:
    """Fine-tune a trained CHECKPOINT (.keras) with fake INT8 quantization; writes <name>_qat.keras."""
    _check_paths(storage_options, ("CHECKPOINT", checkpoint), ("--shards", shards))
    from shardkit.export.config import QATConfig

    config = QATConfig(**settings, seed=seed, calibration=_calibration(calibration_split, calibration_samples, seed))
    with _needs_tf("qat"):
        from shardkit.export.qat import format_qat_result, qat

        click.echo(format_qat_result(qat(checkpoint, shards, out, config, storage_options=storage_options)))


@click.command("convert")
@click.argument("checkpoint")
@_SHARDS
@_OUT
@add_options(_CALIBRATION)
@click.option("--gate-split", default="val", show_default=True, help="Split the float-vs-INT8 gates are measured on.")
@click.option("--gate-samples", type=int, default=500, show_default=True, help="Most gate samples, stratified by class.")
@click.option("--max-roc-auc-drop", type=float, default=0.005, show_default=True, help="Gate: float → INT8 drop of macro ROC-AUC (bootstrap interval).")
@click.option("--max-cmap-drop", type=float, default=0.01, show_default=True, help="Gate: float → INT8 drop of cmAP (bootstrap interval).")
@click.option("--undecided-fails", is_flag=True, help="A drop gate with too few gate samples to decide fails the conversion.")
@click.option("--min-rank-agreement", type=float, default=0.95, show_default=True, help="Gate: share of clearly ordered sample pairs INT8 orders alike.")
@click.option("--max-output-mae", type=float, default=1 / 256, show_default=True, help="Gate: mean absolute float-vs-INT8 output difference.")
@click.option("--min-score-std", type=float, default=1 / 256, show_default=True, help="Refuse a collapsed float model: every class's score std below this.")
@click.option("--min-cosine-mean", type=float, default=0.95, show_default=True, help="Gate: mean per-sample output cosine.")
@click.option("--min-cosine-p5", type=float, default=0.90, show_default=True, help="Gate: 5th percentile of the cosine.")
@click.option("--int8-io", is_flag=True, help="INT8 model input and output (default: float32 I/O, INT8 inside).")
@click.option("--allow-n6-violations", is_flag=True, help="Promote the model even when the N6 report finds violations.")
@click.option("--bundle-vectors", type=int, default=16, show_default=True, help="Validation vectors in the N6 bundle written beside the model (0: none).")
@_STORAGE
def convert_command(
    checkpoint: str,
    shards: str,
    out: str | None,
    calibration_split: str,
    calibration_samples: int,
    seed: int,
    allow_n6_violations: bool,
    storage_options: dict,
    **settings,
) -> None:
    """Convert CHECKPOINT (.keras) to a gated full-INT8 <name>_int8.tflite for the STM32N6."""
    _check_paths(storage_options, ("CHECKPOINT", checkpoint), ("--shards", shards))
    from shardkit.export.config import ConvertConfig

    config = ConvertConfig(calibration=_calibration(calibration_split, calibration_samples, seed), require_n6=not allow_n6_violations, **settings)
    with _needs_tf("convert"):
        from shardkit.export.convert import GateFailed, convert, format_convert_report

        try:
            result = convert(checkpoint, shards, out, config, storage_options=storage_options)
        except GateFailed as exc:
            click.echo(format_convert_report(exc.result.report), err=True)
            raise click.ClickException(str(exc)) from exc
    click.echo(format_convert_report(result.report))
    click.echo(f"INT8 model: {result.tflite_path}")
    click.echo(f"N6 bundle: {result.bundle_path}")


@click.command("evaluate")
@click.argument("model")
@_SHARDS
@click.option("--split", default="val", show_default=True, help="Split to evaluate on.")
@click.option("--compare", default=None, help="A second model (e.g. the .tflite of a .keras) run on the same samples; adds float-vs-INT8 agreement.")
@_OUT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_STORAGE
def evaluate_command(model: str, shards: str, split: str, compare: str | None, out: str | None, as_json: bool, storage_options: dict) -> None:
    """Evaluate MODEL (.keras or .tflite) on a split: ROC-AUC, cmAP, per-class AP; JSON, text and PNG reports."""
    _check_paths(storage_options, ("MODEL", model), ("--shards", shards), *([("--compare", compare)] if compare else []))
    with _needs_tf("evaluate"):
        from shardkit.export.evaluate import evaluate, format_eval_report, report_json

        report = evaluate(model, shards, split, compare, out, storage_options=storage_options)
    click.echo(report_json(report) if as_json else format_eval_report(report))
