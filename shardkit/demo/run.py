"""`shardkit demo`: generate the demo corpus, build shards, inspect them, train, QAT, convert, evaluate."""

from __future__ import annotations

import os
from collections.abc import Callable

from shardkit.demo.corpus import DemoCorpusConfig, make_demo_corpus
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.ingest.summary import format_build_summary
from shardkit.read.inspect import format_summary, summarize

#: demo shards are small so that the demo shows several of them
DEMO_SHARD_MAX_SAMPLES = 32
#: the demo corpus: enough recordings per class for a held-out split of whole recordings
DEMO_CORPUS = DemoCorpusConfig(files_per_class=60, noise_files=20)
#: training settings of the demo (flat `shardkit train` options): a small model for a small
#: corpus; max pooling, because a call fills a fraction of its 3 s chunk and an average over
#: the chunk dilutes it (global average pooling over-fitted the 260 chunks: 0.49 val ROC-AUC)
DEMO_TRAINING = {
    "name": "demo",
    "architecture": "dscnn_lite",
    "alpha": 1.0,
    "embeddings_size": 64,
    "pooling": "max",
    "batch_size": 16,
    "epochs": 60,
    "learning_rate": 3e-3,
}
#: QAT settings of the demo: a few epochs at a tenth of the training rate
DEMO_QAT = {"epochs": 3, "batch_size": 16, "learning_rate": 3e-4}


def run_demo(
    out_dir: str, *, workers: int | None = None, epochs: int | None = None, train: bool = True, export: bool = True, echo: Callable[[str], None] = print
) -> dict:
    """Run the demo end to end in ``out_dir`` (``corpus/``, ``shards/`` and ``model/`` inside it).

    Args:
        out_dir: folder for the generated corpus, the shards and the model; reused if it exists
            (a finished training run is kept, an unfinished one resumed).
        workers: build worker processes (default: CPU count).
        epochs: training epochs (default: `DEMO_TRAINING`'s).
        train: also train the model (needs TensorFlow).
        export: after training, QAT, convert (with and without QAT) and evaluate.
        echo: where progress text goes (the CLI passes ``click.echo``).

    Returns:
        ``{"summary": inspect summary, "training": TrainResult or None, "export": rows of the
        float-vs-INT8 table or None}``.
    """
    corpus_dir = os.path.join(out_dir, "corpus")
    shards_dir = os.path.join(out_dir, "shards")
    if not os.path.isdir(corpus_dir):
        echo(f"generating the demo corpus in {corpus_dir}")
        calls = make_demo_corpus(corpus_dir, DEMO_CORPUS)
        echo(f"  {len(calls)} calls planted")
    config = BuildConfig(shard_max_samples=DEMO_SHARD_MAX_SAMPLES, val_fraction=0.25, codec="pcm16", **({} if workers is None else {"workers": workers}))
    echo(f"building shards in {shards_dir}")
    echo(format_build_summary(build(corpus_dir, shards_dir, config)))
    summary = summarize(shards_dir)
    echo(format_summary(summary))
    model_dir = os.path.join(out_dir, "model")
    result = _train(shards_dir, model_dir, epochs, echo) if train else None
    exported = _export(shards_dir, model_dir, echo) if train and export else None
    return {"summary": summary, "training": result, "export": exported}


def _train(shards_dir: str, model_dir: str, epochs: int | None, echo: Callable[[str], None]):
    from shardkit.train.config import config_from_options
    from shardkit.train.report import format_result
    from shardkit.train.runner import train

    options = {**DEMO_TRAINING, "sample_rate_hz": 24000, **({} if epochs is None else {"epochs": epochs})}
    config = config_from_options(options)
    resume = os.path.exists(os.path.join(model_dir, f"{config.name}_train_state.json"))
    echo(f"{'resuming' if resume else 'training'} {config.model.architecture} (alpha {config.model.alpha}) for {config.epochs} epochs in {model_dir}")
    result = train(shards_dir, model_dir, config, resume=resume, verbose=0, epoch_hook=lambda epoch, row: echo(_epoch_line(epoch, config.epochs, row)))
    echo(format_result(result))
    return result


def _epoch_line(epoch: int, epochs: int, row: dict) -> str:
    return f"  epoch {epoch + 1:>3}/{epochs}: loss {row['loss']:.4f}  val loss {row['val_loss']:.4f}  val ROC-AUC {row['val_roc_auc']:.4f}  cmAP {row['val_cmap']:.4f}  ({row['seconds']:.1f} s)"


def _export(shards_dir: str, model_dir: str, echo: Callable[[str], None]) -> dict:
    """QAT, INT8 conversion of the trained and the QAT model, evaluation; ends with the comparison table."""
    from shardkit.export.config import QATConfig
    from shardkit.export.convert import GateFailed, convert, format_convert_report
    from shardkit.export.evaluate import evaluate
    from shardkit.export.qat import format_qat_result, qat

    name = DEMO_TRAINING["name"]
    float_model = os.path.join(model_dir, f"{name}.keras")
    echo(f"QAT of {float_model} for {DEMO_QAT['epochs']} epochs")
    qat_result = qat(float_model, shards_dir, model_dir, QATConfig(**DEMO_QAT))
    echo(format_qat_result(qat_result))
    rows, promoted = [], {}
    for label, keras_path in (("post-training quantization", float_model), ("quantization-aware training", qat_result.model_path)):
        echo(f"converting {keras_path} to full INT8")
        try:
            converted = convert(keras_path, shards_dir, model_dir)
            promoted[label] = converted.tflite_path
            report = converted.report
        except GateFailed as exc:
            report = exc.result.report
            echo(str(exc))
        echo(format_convert_report(report))
        metrics = report["metrics"]  # on the gate samples: the whole val split of the demo
        rows.append({"model": f"float ({label.split()[0]})", "roc_auc": metrics["float"]["roc_auc"], "cmap": metrics["float"]["cmap"]})
        rows.append(
            {
                "model": f"INT8 ({label})",
                "roc_auc": metrics["int8"]["roc_auc"],
                "cmap": metrics["int8"]["cmap"],
                "promoted": label in promoted,
                **report["agreement"],
            }
        )
    echo(format_table(rows))
    final = promoted.get("quantization-aware training") or promoted.get("post-training quantization")
    if final:
        source = qat_result.model_path if final == promoted.get("quantization-aware training") else float_model
        evaluation = evaluate(final, shards_dir, "val", out=model_dir)
        echo(f"evaluation report: {os.path.join(model_dir, evaluation['files']['txt'])} (and .json, .png); source {source}")
    echo(f"INT8 model for the N6: {final}" if final else "no INT8 model passed its gates")
    return {"rows": rows, "tflite": final}


def format_table(rows: list[dict]) -> str:
    """The float-vs-INT8 comparison on the validation split, one row per model."""
    lines = [f"{'model':<40} {'ROC-AUC':>8} {'cmAP':>8} {'cos mean':>9} {'cos p5':>8}"]
    for row in rows:
        cosine = f"{row['cosine_mean']:>9.4f} {row['cosine_p5']:>8.4f}" if "cosine_mean" in row else f"{'-':>9} {'-':>8}"
        gates = {True: "  gates passed", False: "  gates FAILED"}.get(row.get("promoted"), "")
        lines.append(f"{row['model']:<40} {row['roc_auc']:>8.4f} {row['cmap']:>8.4f} {cosine}{gates}")
    return "\n".join(lines)
