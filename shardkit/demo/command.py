"""`shardkit demo`: run the packaged demo pipeline in one folder and print its float-vs-INT8 table."""

from __future__ import annotations

import os
import sys

import click

from shardkit.cli_options import tensorflow_required
from shardkit.errors import ConfigError


@click.command("demo")
@click.option("--out", "out_dir", default="demo-out", show_default=True, help="Folder for the demo corpus, its shards and the models.")
@click.option("--workers", type=int, default=None, help="Worker processes [default: CPU count].")
@click.option("--epochs", type=int, default=None, help="Training epochs [default: the demo pipeline's, 60].")
@click.option("--train/--no-train", default=True, show_default=True, help="Train the model on the shards (needs shardkit[tf]).")
@click.option("--export/--no-export", default=True, show_default=True, help="After training: QAT, INT8 conversion and evaluation.")
def demo_command(out_dir: str, workers: int | None, epochs: int | None, train: bool, export: bool) -> None:
    """Generate the demo corpus, build shards, inspect them, train, QAT, convert to INT8 and evaluate.

    The settings are the packaged demo pipeline file's (pipelines/demo.toml links to it).
    """
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError(f"--out {out_dir!r} is a file; the demo needs a folder")
    from shardkit.demo.run import run_demo

    try:
        with tensorflow_required("the demo's training step needs TensorFlow ({exc}); run: pip install 'shardkit[tf]' (or pass --no-train)"):
            run_demo(out_dir, workers=workers, epochs=epochs, train=train, export=export, echo=click.echo)
    except Exception as exc:
        convert = sys.modules.get("shardkit.export.convert")  # loaded only if a conversion ran
        if convert is not None and isinstance(exc, convert.GateFailed):  # the gates' table, then the error boundary's one line
            click.echo(convert.format_convert_report(exc.result.report), err=True)
        raise
