"""`shardkit demo`: generate the demo corpus, build shards from it, and inspect them."""

from __future__ import annotations

import os
from collections.abc import Callable

from shardkit.build.config import BuildConfig
from shardkit.build.runner import build
from shardkit.demo.corpus import DemoCorpusConfig, make_demo_corpus
from shardkit.read.summary import format_build_summary, format_summary, summarize

#: demo shards are small so that the demo shows several of them
DEMO_SHARD_MAX_SAMPLES = 32


def run_demo(out_dir: str, *, workers: int | None = None, echo: Callable[[str], None] = print) -> dict:
    """Run the demo end to end in ``out_dir`` (``corpus/`` and ``shards/`` inside it).

    Args:
        out_dir: folder for the generated corpus and the shards; reused if it exists.
        workers: build worker processes (default: CPU count).
        echo: where progress text goes (the CLI passes ``click.echo``).

    Returns:
        The inspect summary of the built shards.
    """
    corpus_dir = os.path.join(out_dir, "corpus")
    shards_dir = os.path.join(out_dir, "shards")
    if not os.path.isdir(corpus_dir):
        echo(f"generating the demo corpus in {corpus_dir}")
        calls = make_demo_corpus(corpus_dir, DemoCorpusConfig())
        echo(f"  {len(calls)} calls planted")
    config = BuildConfig(shard_max_samples=DEMO_SHARD_MAX_SAMPLES, val_fraction=0.25, **({} if workers is None else {"workers": workers}))
    echo(f"building shards in {shards_dir}")
    echo(format_build_summary(build(corpus_dir, shards_dir, config)))
    summary = summarize(shards_dir)
    echo(format_summary(summary))
    return summary
