"""Benchmark `shardkit train`'s defaults against the demo's settings, on small and larger, synthetic and real corpora.

Each row is one `train()` run on one corpus with one group of settings:

- ``defaults``: no options at all (what ``shardkit train SHARDS --out DIR`` does);
- ``demo``: the demo pipeline's ``[train]`` table (shardkit/demo/demo.toml);
- ``old``: the defaults before the schedule was sized from the data (DS-CNN alpha 1, 256
  embeddings, global average pooling, batch 64, 30 epochs, lr 1e-3, 1 warm-up epoch).

Corpora (made once and cached under ``--work``):

- ``demo``: the demo's synthetic corpus (`shardkit.audio.synthetic.DEMO_CORPUS`, pcm16 shards as
  the demo builds them);
- ``real``: real animal recordings from Debian packages (tools/real_corpus.py), FLAC shards
  built with the build's defaults;
- ``birds``: real bird calls (tools/bird_corpus.py), where that tool exists;
- ``large``: the synthetic corpus with ``--large-files`` recordings per class (a few thousand
  chunks): the defaults must still learn, with a larger batch and fewer epochs.

Each row gives the batch, epochs and steps the run used, the best validation ROC-AUC and the
score spread of that best epoch (below 1/256 the model has collapsed: it scores every input
alike). Target: the defaults at least as good as the demo's settings on every corpus.

Usage::

    python tools/bench_defaults.py [--work bench-out/defaults] [--corpora demo,real,large]
        [--settings defaults,demo] [--large-files 500] [--json defaults.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
#: the defaults before they were sized from the data
OLD_DEFAULTS = {
    "architecture": "dscnn",
    "embeddings_size": 256,
    "pooling": "gap",
    "batch_size": 64,
    "epochs": 30,
    "learning_rate": 1e-3,
    "warmup_epochs": 1.0,
}
SETTINGS = ("defaults", "demo", "old")
CORPORA = ("demo", "real", "birds", "large")
#: large corpus rows that are not run: the demo's fixed 60 epochs at batch 16 over thousands of chunks take hours here
SKIPPED = {("large", "demo"), ("large", "old")}


def demo_train_settings() -> dict:
    """The demo pipeline's ``[train]`` table, as flat train options."""
    from shardkit.demo.run import demo_pipeline_file

    return dict(tomllib.loads(demo_pipeline_file().read_text(encoding="utf-8"))["train"])


def settings_options(name: str) -> dict:
    """Flat train options of a settings group (``defaults``: none)."""
    table: dict[str, Callable[[], dict]] = {"defaults": dict, "demo": demo_train_settings, "old": lambda: dict(OLD_DEFAULTS)}
    return table[name]()


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _build(corpus: Path, shards: Path, **settings) -> Path:
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    if not (shards / "manifest.json").exists():
        build(str(corpus), str(shards), BuildConfig(workers=2, **settings), progress=False)
    return shards


def synthetic_shards(work: Path, name: str, files_per_class: int, noise_files: int) -> Path:
    """Shards of the synthetic corpus, built as the demo builds them (pcm16, 32 per shard, a quarter for val)."""
    from shardkit.audio.synthetic import DemoCorpusConfig, make_demo_corpus

    corpus = work / f"{name}-corpus"
    if not (corpus / "truth.json").exists():
        make_demo_corpus(corpus, DemoCorpusConfig(files_per_class=files_per_class, noise_files=noise_files))
    return _build(corpus, work / f"{name}-shards", codec="pcm16", shard_max_samples=32, val_fraction=0.25)


def tool_shards(work: Path, tool: str) -> Path | None:
    """Shards of a corpus a tool assembles (``tools/<tool>.py OUT_DIR``), FLAC, build defaults; None without the tool."""
    if not (TOOLS_DIR / f"{tool}.py").exists():
        return None
    corpus = work / f"{tool}-corpus"
    if not corpus.exists() and _tool(tool).main([str(corpus)]) != 0:
        raise SystemExit(f"tools/{tool}.py failed")
    return _build(corpus, work / f"{tool}-shards", codec="flac")


def corpus_shards(work: Path, name: str, large_files: int) -> Path | None:
    """The shard folder of a corpus by name (made and cached under ``work``); None when it cannot be made here."""
    from shardkit.audio.synthetic import DEMO_CORPUS

    table: dict[str, Callable[[], Path | None]] = {
        "demo": lambda: synthetic_shards(work, "demo", DEMO_CORPUS.files_per_class, DEMO_CORPUS.noise_files),
        "large": lambda: synthetic_shards(work, f"large{large_files}", large_files, max(1, large_files // 3)),
        "real": lambda: tool_shards(work, "real_corpus"),
        "birds": lambda: tool_shards(work, "bird_corpus"),
    }
    return table[name]()


def run_row(shards: Path, out: Path, corpus: str, settings: str) -> dict:
    """One train() run; its row of the table."""
    from shardkit.scoring import COLLAPSED_SCORE_STD
    from shardkit.train.runner import train
    from shardkit.train.settings import train_samples

    started = time.perf_counter()
    result = train(str(shards), str(out), settings_options(settings), verbose=0)
    best = result.best
    spread = best.get("val_score_std", float("nan"))
    return {
        "corpus": corpus,
        "settings": settings,
        "train_samples": train_samples(str(shards), "train"),
        "val_samples": train_samples(str(shards), "val"),
        "architecture": result.config.model.architecture,
        "pooling": result.config.model.pooling,
        "batch_size": result.config.batch_size,
        "epochs": result.epochs_done,
        "steps": sum(row["steps"] for row in result.history),
        "learning_rate": result.config.learning_rate,
        "best_epoch": result.best_epoch,
        "val_roc_auc": best.get("val_roc_auc"),
        "val_cmap": best.get("val_cmap"),
        "val_score_std": spread,
        "collapsed": bool(spread < COLLAPSED_SCORE_STD),
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_table(rows: Sequence[dict]) -> str:
    """The rows as a Markdown table."""
    head = "| corpus | train samples | settings | model | batch | epochs | steps | best val ROC-AUC | cmAP | score std | collapsed | s |"
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r['corpus']} | {r['train_samples']} | {r['settings']} | {r['architecture']}/{r['pooling']} | {r['batch_size']} | {r['epochs']} | "
            f"{r['steps']} | {r['val_roc_auc']:.4f} | {r['val_cmap']:.4f} | {r['val_score_std']:.2g} | {'yes' if r['collapsed'] else 'no'} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def _names(value: str, allowed: Sequence[str], flag: str) -> list[str]:
    names = [v for v in value.split(",") if v]
    bad = [v for v in names if v not in allowed]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{flag} must be a comma list of {list(allowed)}; got {value!r}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (and write JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("bench-out/defaults"), help="corpora, shards and runs are kept here")
    parser.add_argument("--corpora", type=lambda v: _names(v, CORPORA, "--corpora"), default=["demo", "real", "birds", "large"])
    parser.add_argument("--settings", type=lambda v: _names(v, SETTINGS, "--settings"), default=["defaults", "demo"])
    parser.add_argument("--large-files", type=int, default=500, help="recordings per class of the large synthetic corpus")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    if args.large_files < 1:
        parser.error(f"--large-files must be an integer >= 1; got {args.large_files}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for corpus in args.corpora:
        shards = corpus_shards(args.work, corpus, args.large_files)
        if shards is None:
            print(f"{corpus}: skipped (its tool is not in tools/)", file=sys.stderr)
            continue
        for settings in args.settings:
            if (corpus, settings) in SKIPPED:
                continue
            out = args.work / "runs" / f"{corpus}-{settings}"
            if out.exists():
                import shutil

                shutil.rmtree(out)
            rows.append(run_row(shards, out, corpus, settings))
            print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
