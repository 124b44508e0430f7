"""The ``shardkit inspect`` command: a shard set's summary as text or JSON, optionally verified shard by shard."""

from __future__ import annotations

import sys

import click

from shardkit.cli_options import storage_option
from shardkit.jsonio import dumps


@click.command("inspect")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@storage_option()
@click.option("--verify", is_flag=True, help="Read every shard: checksums, undecodable members, sample counts (exit 1 on any problem).")
def inspect_command(url: str, as_json: bool, storage_options: dict, verify: bool) -> None:
    """Summarise a shard set: classes, samples and hours per split, durations, skipped inputs."""
    from shardkit.read.inspect import format_summary, summarize

    summary = summarize(url, storage_options, verify=verify, progress=True)
    click.echo(dumps(summary, indent=2) if as_json else format_summary(summary))
    if verify and summary["verify"]["problems"]:
        sys.exit(1)
