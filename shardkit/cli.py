"""The `shardkit` command line: the click group that gathers every stage's command.

Each stage's ``command.py`` parses its options, builds its config and calls one library
function; the options they share are in `shardkit.cli_options`.

Errors go through one boundary (`shardkit.cli_errors.ShardkitGroup`): a person's mistake is
one or two lines and exit status 2; ``shardkit -v`` adds the traceback. An unreachable storage
endpoint exits with status 1 and a one-line message.
"""

from __future__ import annotations

import logging
import sys

import click

from shardkit.audit.command import audit_command
from shardkit.cli_errors import ShardkitGroup
from shardkit.demo.command import demo_command
from shardkit.export.command import convert_command, evaluate_command, qat_command
from shardkit.ingest.command import build_command
from shardkit.pipeline.command import pipeline_group
from shardkit.read.command import inspect_command
from shardkit.train.command import train_command

#: subcommands that import TensorFlow (its start-up logs are filtered unless -v)
TF_COMMANDS = frozenset({"train", "qat", "convert", "evaluate", "pipeline", "demo"})


def starts_native_runtime(command: str | None, args: list[str]) -> bool:
    """Does this command line start TensorFlow or LiteRT (a build with a teacher runs LiteRT in its workers; an audit with a model runs it)?"""
    teacher = any(a == "--teacher" or a.startswith("--teacher=") for a in args)
    model = any(a == "--model" or a.startswith("--model=") for a in args)
    return command in TF_COMMANDS or (command == "build" and teacher) or (command == "audit" and model)


@click.group(cls=ShardkitGroup)
@click.version_option(package_name="shardkit")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug), TensorFlow's own logs, and tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """shardkit: long recordings → WebDataset shards of salient chunks → N6 models."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.meta["shardkit.verbose"] = verbose
    if not verbose and starts_native_runtime(ctx.invoked_subcommand, sys.argv[1:]):
        from shardkit.console import quiet_tensorflow

        quiet_tensorflow(native=bool((ctx.obj or {}).get("native_log_filter")))


for _command in (build_command, inspect_command, train_command, qat_command, convert_command, evaluate_command, pipeline_group, demo_command, audit_command):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="shardkit", obj={"native_log_filter": True}))
