"""Benchmark length-bucketed training against fixed crops, both deployed at the same fixed length as INT8.

On each corpus, built once with ``--variable-length`` (segments of 1-10 s), two `shardkit train`
runs with the same settings (the demo's ``[train]`` table; ``--epochs`` to shorten them):

- ``fixed``: every segment cropped (randomly in training) or padded to the frontend's 3 s chunk;
- ``bucketed``: length buckets planned from the manifest, about ``batch_size x 3 s`` of audio a
  batch, the model on a free time axis with padding masked out.

Both saved models take 3 s chunks (the bucketed run saves its fixed-length copy). Each is
converted to full INT8 (post-training quantization, gates reported, not enforced) and
scored on the whole val split as the deployed model is (`shardkit evaluate`: a centred 3 s
crop of each segment), float and INT8. Also per run: the padding share of an epoch of
buckets, the seconds of real signal the model sees per epoch (a bucket row's valid samples;
a fixed row's ``min(segment, 3 s)``: the rest is padding or cropped away) and per second of
training (the median epoch's fit time after the first).

Corpora (made once, cached under ``--work``): ``demo`` (the demo's synthetic corpus,
pcm16 shards) and ``real`` (tools/real_corpus.py: real animal recordings from Debian packages,
flac shards), where that tool can fetch its packages.

Usage::

    python tools/bench_bucketed.py [--work bench-out/bucketed] [--corpora demo,real] [--epochs 60] [--demo-files N] [--json b.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

TOOLS_DIR = Path(__file__).resolve().parent
CORPORA = ("demo", "real")
MODES = ("fixed", "bucketed")
#: conversion gates opened wide: the benchmark reports the INT8 model's scores, it does not promote it
OPEN_GATES = {
    "max_roc_auc_drop": 1.0,
    "max_cmap_drop": 1.0,
    "min_rank_agreement": 0.0,
    "max_output_mae": 1.0,
    "min_score_std": 0.0,
    "min_cosine_mean": -1.0,
    "min_cosine_p5": -1.0,
    "bundle_vectors": 0,
}


def defaults_tool():
    """tools/bench_defaults.py, whose demo settings and tool loader this benchmark shares."""
    if str(TOOLS_DIR) not in sys.path:
        sys.path.insert(0, str(TOOLS_DIR))
    import bench_defaults

    return bench_defaults


def demo_train_settings() -> dict:
    """The demo pipeline's ``[train]`` table, as flat train options."""
    return defaults_tool().demo_train_settings()


def variable_shards(corpus: Path, shards: Path, codec: str) -> Path:
    """``corpus`` built once with variable-length segments (1-10 s, the build's defaults) into ``shards``."""
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    if not (shards / "manifest.json").exists():
        build(str(corpus), str(shards), BuildConfig(workers=2, codec=codec, variable_length=True, shard_max_samples=32, val_fraction=0.25), progress=False)
    return shards


def corpus_shards(work: Path, name: str, demo_files: int | None = None) -> Path | None:
    """The variable-length shards of a corpus (made and cached under ``work``); None when it cannot be made here.

    ``demo_files``: recordings per class of the demo corpus (None: the demo's own).
    """
    if name == "demo":
        from dataclasses import replace

        from shardkit.audio.synthetic import DEMO_CORPUS, make_demo_corpus

        spec = DEMO_CORPUS if demo_files is None else replace(DEMO_CORPUS, files_per_class=demo_files, noise_files=max(1, demo_files // 3))
        corpus = work / f"demo{spec.files_per_class}-corpus"
        if not (corpus / "truth.json").exists():
            make_demo_corpus(corpus, spec)
        return variable_shards(corpus, work / f"demo{spec.files_per_class}-shards", "pcm16")
    corpus = work / f"{name}-corpus"
    if not corpus.exists() and defaults_tool()._tool("real_corpus").main([str(corpus)]) != 0:
        return None
    return variable_shards(corpus, work / "real-shards", "flac")


def signal_seconds(shards: Path, batch_size: int, frontend) -> dict:
    """One training epoch of buckets: padding share, and the real signal a bucketed and a fixed epoch carry (seconds)."""
    from shardkit.read.config import BucketConfig, ReaderConfig
    from shardkit.read.dataset import ShardReader

    config = ReaderConfig(
        split="train",
        training=True,
        batching="bucketed",
        placement="deferred",
        frontend=frontend,
        batch_size=batch_size,
        epochs=1,
        bucket=BucketConfig(seconds_per_batch=batch_size * frontend.chunk_s),
    )
    lengths, padded, shapes = [], 0, set()
    for x, _labels in ShardReader(str(shards), config).dataset().as_numpy_iterator():
        lengths.extend(int(n) for n in x["lengths"])
        padded += x["features"].size
        shapes.add(x["features"].shape[1])
    lengths = np.array(lengths)
    rate = frontend.sample_rate_hz
    return {
        "samples": len(lengths),
        "padding": 1.0 - lengths.sum() / padded,
        "shapes": len(shapes),
        "bucketed_signal_s": lengths.sum() / rate,
        "fixed_signal_s": np.minimum(lengths, frontend.chunk_samples).sum() / rate,
        "mean_segment_s": lengths.mean() / rate,
    }


def deployed_scores(model: Path, shards: Path, out: Path) -> dict:
    """Float and INT8 val ROC-AUC of the saved (3 s) model, the INT8 from a post-training conversion."""
    from shardkit.export.config import ConvertConfig
    from shardkit.export.convert import convert
    from shardkit.export.evaluate import score_split

    converted = convert(str(model), str(shards), str(out), ConvertConfig(**OPEN_GATES))
    report = score_split(str(model), str(shards), "val", compare=converted.tflite_path).report
    float_model, int8_model = report["models"]
    return {
        "val_samples": report["samples"],
        "float_roc_auc": float_model["roc_auc"],
        "int8_roc_auc": int8_model["roc_auc"],
        "float_cmap": float_model["cmap"],
        "int8_cmap": int8_model["cmap"],
        "gate_failures": converted.report["failures"],
    }


def run_mode(shards: Path, work: Path, corpus: str, mode: str, options: dict, signal: dict) -> dict:
    """One train() run in ``mode``, its conversion and scores; its row."""
    from shardkit.train.runner import train

    out = work / "runs" / f"{corpus}-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    result = train(str(shards), str(out), {**options, "batching": mode, "name": "model"}, verbose=0)
    history = result.history
    later = [row["seconds"] for row in history[1:]] or [history[0]["seconds"]]
    epoch_s = float(np.median(later))
    steps = float(np.median([row["steps"] for row in history]))
    if mode == "bucketed":
        signal_s = signal["bucketed_signal_s"]
    else:  # full batches only: the fixed reader drops an epoch's last partial batch in training
        signal_s = signal["fixed_signal_s"] * min(1.0, steps * result.config.batch_size / signal["samples"])
    return {
        "corpus": corpus,
        "mode": mode,
        "epochs": result.epochs_done,
        "steps_per_epoch": steps,
        "padding": signal["padding"] if mode == "bucketed" else None,
        "signal_s_per_epoch": signal_s,
        "epoch_s": epoch_s,
        "signal_s_per_train_s": signal_s / epoch_s,
        "best_val_roc_auc": result.best.get("val_roc_auc"),
        **deployed_scores(out / "model.keras", shards, out),
    }


def format_table(rows: Sequence[dict]) -> str:
    """The rows as a Markdown table."""
    head = (
        "| corpus | batching | padding | signal s / epoch | epoch s | signal s / train s | best val ROC-AUC (train) | "
        "deployed 3 s float ROC-AUC | INT8 ROC-AUC | INT8 cmAP |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        padding = "–" if r["padding"] is None else f"{100 * r['padding']:.1f} %"
        lines.append(
            f"| {r['corpus']} | {r['mode']} | {padding} | {r['signal_s_per_epoch']:.0f} | {r['epoch_s']:.1f} | {r['signal_s_per_train_s']:.0f} | "
            f"{r['best_val_roc_auc']:.4f} | {r['float_roc_auc']:.4f} | {r['int8_roc_auc']:.4f} | {r['int8_cmap']:.4f} |"
        )
    return "\n".join(lines)


def _names(value: str) -> list[str]:
    names = [v for v in value.split(",") if v]
    bad = [v for v in names if v not in CORPORA]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--corpora must be a comma list of {list(CORPORA)}; got {value!r}")
    return names


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {value!r}")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (and write JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("bench-out/bucketed"), help="corpora, shards and runs are kept here")
    parser.add_argument("--corpora", type=_names, default=list(CORPORA), help="comma list of demo, real (default both)")
    parser.add_argument("--epochs", type=_positive_int, default=None, help="epochs of each run (default: the demo's)")
    parser.add_argument("--demo-files", type=_positive_int, default=None, help="recordings per class of the demo corpus (default: the demo's)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    from shardkit.train.config import config_from_options

    options = demo_train_settings()
    if args.epochs is not None:
        options["epochs"] = args.epochs
        options["warmup_epochs"] = min(float(options.get("warmup_epochs", 1.0)), args.epochs / 2)
    frontend = config_from_options(options).frontend
    rows = []
    for corpus in args.corpora:
        shards = corpus_shards(args.work, corpus, args.demo_files)
        if shards is None:
            print(f"{corpus}: skipped (its corpus could not be assembled here)", file=sys.stderr)
            continue
        signal = signal_seconds(shards, int(options["batch_size"]), frontend)
        print(f"{corpus}: {signal['samples']} train segments, mean {signal['mean_segment_s']:.2f} s, {signal['shapes']} bucket shapes", file=sys.stderr)
        for mode in MODES:
            rows.append(run_mode(shards, args.work, corpus, mode, options, signal))
            print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
