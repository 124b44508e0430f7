"""Benchmark `shardkit train` on this machine: steps/s and how much of it waits for input.

The workload is the issue's: the default DS-CNN (alpha 1.0) on the hybrid frontend (3 s at
24 kHz → ``[64, 256, 256, 1]``), batch 64, from local pcm16 shards of tools/bench_build.py's
corpus (made and cached by tools/bench_reader.py's helpers under ``--work``).

Figures:

1. compute only: the same model's ``fit`` on one in-memory batch repeated (no reader);
2. ``train()`` from the shards, pipeline placement (the reader computes spectrograms on the
   CPU, alongside training) — steps/s and the share of step time spent waiting for input;
3. the same with deferred placement (waveforms in, the frontend as the model's first layer).

The input wait is measured inside the run by `shardkit.train.runner.StepTimer` (Keras
fetches a batch, then runs the step; the gap between one step's end and the next one's
begin is waiting for input), over every epoch after the first (which holds tracing and the
shuffle-buffer fill). As a cross-check, ``1 - rate(2) / rate(1)`` is also printed: the
slowdown from having the reader at all, which on a CPU-only machine includes the CPU the
reader takes from training. Target: input wait < 10 % at batch 64.

Usage::

    python tools/bench_train.py [--epochs 4] [--steps 10] [--work bench-out/reader] [--json t.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

TOOLS_DIR = Path(__file__).resolve().parent
BATCH_SIZE = 64
#: compute-only runs, best kept
REPEATS = 3
#: input wait must stay under this share of steady-state step time
MAX_INPUT_WAIT = 0.10


def bench_reader() -> ModuleType:
    """tools/bench_reader.py, imported by path (tools/ is not a package): corpus and shard helpers."""
    module = sys.modules.get("bench_reader")
    if module is None:
        spec = importlib.util.spec_from_file_location("bench_reader", TOOLS_DIR / "bench_reader.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def ensure_shards(work: Path, files: int, copies: int) -> Path:
    """Local pcm16 shards of the generated corpus (cached under ``work``)."""
    br = bench_reader()
    bb = br.bench_build()
    spec = bb.CorpusSpec(files=files, min_minutes=1.0, max_minutes=10.0, seed=0)
    work.mkdir(parents=True, exist_ok=True)
    corpus = bb.ensure_corpus(work, spec)
    inputs = br.ensure_inputs(work, corpus, spec, copies)
    return br.ensure_shards(work, inputs, "pcm16", os.cpu_count() or 1)


def compute_only_rate(config, num_classes: int, steps: int) -> float:
    """Steps/s of ``fit`` on one in-memory batch repeated: the model's cost without any reader."""
    import numpy as np
    import tensorflow as tf

    from shardkit.model.dscnn import build_model
    from shardkit.train.optim import make_loss, make_optimizer

    rng = np.random.default_rng(0)
    features = rng.random((BATCH_SIZE, *config.frontend.output_shape, 1), dtype=np.float32)
    labels = (rng.random((BATCH_SIZE, num_classes)) < 0.3).astype(np.float32)
    model = build_model(config.frontend, num_classes, config.model)
    model.compile(optimizer=make_optimizer(config, steps), loss=make_loss(config))
    batch = tf.data.Dataset.from_tensors((features, labels)).cache()
    model.fit(batch.repeat(3), verbose=0)  # trace and warm up
    best = 0.0
    for _ in range(REPEATS):  # best of a few: the machine is shared
        started = time.perf_counter()
        model.fit(batch.repeat(steps), verbose=0)
        best = max(best, steps / (time.perf_counter() - started))
    return best


def train_run(shards: Path, placement: str, epochs: int, steps: int) -> dict:
    """Train for ``epochs`` x ``steps`` and summarise the epochs after the first."""
    from shardkit.train.runner import train

    config = run_config(placement, epochs, steps)
    with tempfile.TemporaryDirectory() as out:
        result = train(str(shards), out, config)
    steady = result.history[1:]
    step_count = sum(row["steps"] for row in steady)
    fit_s = sum(row["steps"] * BATCH_SIZE / row["samples_per_s"] for row in steady)
    wait = sum(row["input_wait"] * row["steps"] for row in steady) / step_count
    return {"steps_per_s": step_count / fit_s, "samples_per_s": step_count * BATCH_SIZE / fit_s, "input_wait": wait, "epochs": result.history}


def workload_model():
    """The issue's model: DS-CNN alpha 1.0, 256 embeddings, global average pooling (the defaults of its recorded figures, pinned so they stay comparable)."""
    from shardkit.model.config import ModelConfig

    return ModelConfig(architecture="dscnn", alpha=1.0, embeddings_size=256, pooling="gap")


def run_config(placement: str, epochs: int, steps: int):
    from shardkit.train.config import TrainConfig

    return TrainConfig(
        name="bench",
        model=workload_model(),
        placement=placement,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        max_steps_per_epoch=steps,
        warmup_epochs=1.0,
        shuffle_buffer=1000,
    )


def run_benchmark(args: argparse.Namespace) -> dict:
    shards = ensure_shards(args.work, args.files, args.copies)
    manifest = json.loads((shards / "manifest.json").read_text())
    samples = manifest["splits"]["train"]["samples"]
    if samples < BATCH_SIZE * args.steps:
        raise SystemExit(f"--copies: {samples} train samples give fewer than --steps {args.steps} batches of {BATCH_SIZE}; raise --copies")
    print(f"train split: {samples} samples; {args.epochs} epochs x {args.steps} steps of {BATCH_SIZE}", flush=True)
    report = {"batch_size": BATCH_SIZE, "cores": os.cpu_count(), "train_samples": samples}
    print("  (1) compute only ...", flush=True)
    report["compute_only_steps_per_s"] = compute_only_rate(run_config("pipeline", args.epochs, args.steps), len(manifest["classes"]), args.steps * 2)
    for placement in ("pipeline", "deferred"):
        print(f"  ({'2' if placement == 'pipeline' else '3'}) train(), {placement} placement ...", flush=True)
        report[placement] = train_run(shards, placement, args.epochs, args.steps)
    return report


def format_table(report: dict) -> str:
    compute = report["compute_only_steps_per_s"]
    lines = [
        f"batch {report['batch_size']}, {report['cores']} cores, {report['train_samples']} train samples",
        f"{'figure':<42}{'steps/s':>9}{'samples/s':>11}{'input wait':>12}{'1 - rate/(1)':>14}",
        f"{'(1) compute only (in-memory batch)':<42}{compute:>9.3f}{compute * BATCH_SIZE:>11.1f}{'-':>12}{'-':>14}",
    ]
    for label, key in (("(2) train(), pipeline placement", "pipeline"), ("(3) train(), deferred placement", "deferred")):
        run = report[key]
        lines.append(
            f"{label:<42}{run['steps_per_s']:>9.3f}{run['samples_per_s']:>11.1f}{100 * run['input_wait']:>11.1f}%{100 * (1 - run['steps_per_s'] / compute):>13.1f}%"
        )
    wait = report["pipeline"]["input_wait"]
    lines.append(f"target: input wait < {100 * MAX_INPUT_WAIT:.0f}% (pipeline placement): {'PASS' if wait < MAX_INPUT_WAIT else 'MISS'} ({100 * wait:.1f}%)")
    return "\n".join(lines)


def _at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (the first epoch is not counted); got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-out/reader"), help="Cache folder (shared with bench_reader.py).")
    parser.add_argument("--files", type=int, default=12, help="Generated recordings.")
    parser.add_argument("--copies", type=int, default=24, help="Hard-linked copies of each recording in the input tree.")
    parser.add_argument("--epochs", type=_at_least_two, default=4, help="Epochs per run (the first is not counted).")
    parser.add_argument("--steps", type=int, default=10, help="Steps per epoch.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the report here.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    report = run_benchmark(args)
    print(format_table(report))
    if args.json:
        from shardkit.jsonio import dumps

        args.json.write_text(dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
