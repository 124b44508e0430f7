"""The `shardkit` command line: the click group that gathers every stage's command.

Each stage's ``command.py`` parses its options, builds its config and calls one library
function; the options they share are in `shardkit.cli_options`.

Errors go through one boundary (`shardkit.cli_errors.ShardkitGroup`): a person's mistake is
one or two lines and exit status 2; ``shardkit -v`` adds the traceback. An unreachable storage
endpoint exits with status 1 and a one-line message.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from shardkit.cli_errors import ShardkitGroup
from shardkit.errors import ConfigError
from shardkit.export.command import convert_command, evaluate_command, qat_command
from shardkit.ingest.command import build_command
from shardkit.pipeline.command import pipeline_group
from shardkit.read.command import inspect_command
from shardkit.train.command import train_command

#: subcommands that import TensorFlow (its start-up logs are filtered unless -v)
TF_COMMANDS = frozenset({"train", "qat", "convert", "evaluate", "pipeline", "demo"})


@click.group(cls=ShardkitGroup)
@click.version_option(package_name="shardkit")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug), TensorFlow's own logs, and tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """shardkit: long recordings → WebDataset shards of salient chunks → N6 models."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.meta["shardkit.verbose"] = verbose
    if not verbose and ctx.invoked_subcommand in TF_COMMANDS:
        from shardkit.console import quiet_tensorflow

        quiet_tensorflow(native=bool((ctx.obj or {}).get("native_log_filter")))


@cli.command()
@click.option("--out", "out_dir", default="demo-out", show_default=True, help="Folder for the demo corpus, its shards and the model.")
@click.option("--workers", type=int, default=None, help="Worker processes [default: CPU count].")
@click.option("--epochs", type=int, default=None, help="Training epochs [default: 60].")
@click.option("--train/--no-train", default=True, show_default=True, help="Train the model on the shards (needs shardkit[tf]).")
@click.option("--export/--no-export", default=True, show_default=True, help="After training: QAT, INT8 conversion and evaluation.")
def demo(out_dir: str, workers: int | None, epochs: int | None, train: bool, export: bool) -> None:
    """Generate the demo corpus, build shards, inspect them, train, QAT, convert to INT8 and evaluate."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError(f"--out {out_dir!r} is a file; the demo needs a folder")
    from shardkit.demo.run import run_demo

    try:
        run_demo(out_dir, workers=workers, epochs=epochs, train=train, export=export, echo=click.echo)
    except ImportError as exc:
        raise click.ClickException(f"the demo's training step needs TensorFlow ({exc}); run: pip install 'shardkit[tf]' (or pass --no-train)") from exc


for _command in (build_command, inspect_command, train_command, qat_command, convert_command, evaluate_command, pipeline_group):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="shardkit", obj={"native_log_filter": True}))
