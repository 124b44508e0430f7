"""What INT8 costs per spectrogram contract variant: float vs INT8 on a corpus, without and with QAT.

    python tools/bench_int8.py WORK [--corpus demo] [--corpus real=DIR] [--variants none,sqrt,log]
                               [--epochs N] [--train KEY=VALUE ...] [--pipeline FILE] [--json OUT]

For each corpus the demo's pipeline settings (`shardkit/demo/demo.toml`, or ``--pipeline``:
build, train, QAT, convert) run once per compression variant of the spectrogram contract, on
shards built once per corpus. ``--train`` adds training settings to every variant (e.g.
``mag_scale=none``); they become part of the variant's name and folder. ``demo`` is the generated demo corpus; ``real=DIR`` a folder in the build's input
layout (`tools/real_corpus.py` assembles one from recordings shipped in packages). The
conversion gates are waived here, so every variant's figures are recorded whatever they are:
this measures, it does not judge.

Per corpus x variant x conversion (post-training quantization, QAT), on the convert stage's
gate samples (the val split, disjoint from calibration): float and INT8 ROC-AUC and cmAP, their
drop with its 95 % bootstrap interval, the output MAE and the rank agreement. Runs are cached
under WORK (a finished variant is skipped by the pipeline's own up-to-date check).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: gates waived, so every conversion finishes and is measured
WAIVED_GATES = {
    "max_roc_auc_drop": 1.0,
    "max_cmap_drop": 1.0,
    "min_rank_agreement": 0.0,
    "max_output_mae": 1.0,
    "min_score_std": 0.0,
    "min_cosine_mean": 0.0,
    "min_cosine_p5": 0.0,
}
#: the table's columns: (header, width, format, value of a row)
COLUMNS = (
    ("corpus", 7, "s", lambda r: r["corpus"]),
    ("variant", 16, "s", lambda r: r["variant"]),
    ("conversion", 5, "s", lambda r: r["conversion"]),
    ("float AUC", 9, ".4f", lambda r: r["float"]["roc_auc"]),
    ("int8 AUC", 8, ".4f", lambda r: r["int8"]["roc_auc"]),
    ("AUC drop", 8, "+.4f", lambda r: r["roc_auc_drop"]["value"]),
    ("float cmAP", 10, ".4f", lambda r: r["float"]["cmap"]),
    ("int8 cmAP", 9, ".4f", lambda r: r["int8"]["cmap"]),
    ("cmAP drop", 9, "+.4f", lambda r: r["cmap_drop"]["value"]),
    ("MAE", 7, ".4f", lambda r: r["output_mae"]),
    ("rank agr", 8, ".4f", lambda r: r["rank_agreement"]),
    ("cos p5", 6, ".4f", lambda r: r["cosine_p5"]),
)


def base_pipeline(path: str | None):
    """The settings every run starts from: the pipeline file at ``path``, else the demo's."""
    from shardkit.demo.run import demo_pipeline
    from shardkit.pipeline.config import load_pipeline

    return demo_pipeline() if path is None else load_pipeline(path)


def corpus_pipeline(base, source: str | None, work: str, epochs: int | None):
    """``base`` pointed at the corpus ``source`` (None: the demo corpus) with outputs under ``work``."""
    stages = {name: dict(table) for name, table in base.stages.items()}
    if epochs is not None:
        stages["train"]["epochs"] = epochs
    stages["convert"].update(WAIVED_GATES)
    stages["convert"]["compare_ptq"] = True
    if source is None:
        return dataclasses.replace(base, stages=stages, work=work, input=os.path.join(os.path.dirname(work), "corpus"), demo_corpus=True)
    return dataclasses.replace(base, stages=stages, work=work, input=source, demo_corpus=False)


def run_variant(base, corpus: str, source: str | None, root: str, variant: str, epochs: int | None, train: dict | None = None) -> list[dict]:
    """Train, QAT and convert one variant (shards shared per corpus) with extra ``train`` settings; its two rows."""
    train = train or {}
    label = "+".join([variant, *(f"{k}={v}" for k, v in sorted(train.items()))])
    from shardkit.pipeline.runner import run_pipeline

    built = os.path.join(root, corpus, "base")
    run_pipeline(corpus_pipeline(base, source, built, epochs), until="build")
    work = os.path.join(root, corpus, label)
    if not os.path.isdir(work):  # the built shards and the build's up-to-date stamp, copied
        shutil.copytree(built, work + ".partial")
        os.replace(work + ".partial", work)
    config = corpus_pipeline(base, source, work, epochs)
    stages = {name: dict(table) for name, table in config.stages.items()}
    stages["train"].update(train, compression=variant)
    started = time.monotonic()
    results = run_pipeline(dataclasses.replace(config, stages=stages), until="convert")
    seconds = time.monotonic() - started
    outputs = {r.stage: r.outputs for r in results}["convert"]
    rows = []
    for conversion, key in (("ptq", "ptq_report"), ("qat", "report")):
        with open(outputs[key], encoding="utf-8") as handle:
            report = json.load(handle)
        gates = report["gates"]
        rows.append(
            {
                "corpus": corpus,
                "variant": label,
                "conversion": conversion,
                "float": report["metrics"]["float"],
                "int8": report["metrics"]["int8"],
                "roc_auc_drop": gates["roc_auc_drop"],
                "cmap_drop": gates["cmap_drop"],
                "output_mae": gates["output_mae"]["value"],
                "rank_agreement": gates["rank_agreement"]["value"],
                "cosine_p5": gates["cosine_p5"]["value"],
                "gate_samples": report["gate_samples"]["samples"],
                "seconds": round(seconds, 1),
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a fixed-width table, one line per corpus x variant x conversion (n/a: not measurable)."""
    lines = ["  ".join(f"{name:>{width}}" for name, width, _, _ in COLUMNS)]
    for row in rows:
        cells = ["n/a" if value(row) is None else format(value(row), fmt) for _, _, fmt, value in COLUMNS]
        lines.append("  ".join(f"{cell:>{width}}" for cell, (_, width, _, _) in zip(cells, COLUMNS, strict=True)))
    return "\n".join(lines)


def parse_corpus(text: str) -> tuple[str, str | None]:
    """``demo`` or ``NAME=DIR``."""
    if text == "demo":
        return "demo", None
    name, sep, folder = text.partition("=")
    if not sep or not name or not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"--corpus must be 'demo' or NAME=DIR with an existing DIR; got {text!r}")
    return name, os.path.abspath(folder)


def parse_setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as TOML would (a number, a boolean, else a string)."""
    import tomllib

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--train must be KEY=VALUE; got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", help="folder for corpora, shards, models and reports (reused)")
    parser.add_argument("--corpus", action="append", type=parse_corpus, help="demo, or NAME=DIR (repeatable; default: demo)")
    parser.add_argument("--variants", default="none,sqrt,log", help="compressions to compare (comma-separated)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's)")
    parser.add_argument("--train", action="append", type=parse_setting, default=[], help="a training setting for every variant, KEY=VALUE (repeatable)")
    parser.add_argument("--pipeline", help="pipeline file whose stage settings every run takes (default: the demo's)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    from shardkit.audio.frontends import COMPRESSIONS

    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(COMPRESSIONS))
    if unknown:
        parser.error(f"--variants must be among {sorted(COMPRESSIONS)}; got {unknown}")
    base = base_pipeline(args.pipeline)
    rows = []
    for corpus, source in args.corpus or [("demo", None)]:
        for variant in variants:
            print(f"== {corpus} / {variant} {dict(args.train) or ''}", flush=True)
            rows += run_variant(base, corpus, source, os.path.abspath(args.work), variant, args.epochs, dict(args.train))
            print(format_table(rows[-2:]), flush=True)
    print("\n" + format_table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
