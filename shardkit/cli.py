"""The `shardkit` command line: parse options, build a config, call one library function.

Errors go through one boundary (`shardkit.cli_errors.ShardkitGroup`): a person's mistake is
one or two lines and exit status 2; ``shardkit -v`` adds the traceback. An unreachable storage
endpoint exits with status 1 and a one-line message.
"""

from __future__ import annotations

import json
import logging
import sys

import click

from shardkit.cli_errors import ShardkitGroup
from shardkit.errors import StorageUnavailableError
from shardkit.jsonio import dumps

#: subcommands that import TensorFlow (its start-up logs are filtered unless -v)
TF_COMMANDS = frozenset({"train", "qat", "convert", "evaluate", "pipeline", "demo"})


def _storage_options(values: tuple[str, ...]) -> dict:
    """``--storage-option key=value`` pairs (values parsed as JSON when they can be)."""
    options = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--storage-option")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


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
@click.argument("input_dir", metavar="INPUT")
@click.argument("output", metavar="OUTPUT")
@click.option("--sample-rate", "sample_rate_hz", type=int, default=24000, show_default=True, help="Sample rate of the stored segments (Hz).")
@click.option("--chunk-s", type=float, default=3.0, show_default=True, help="Segment length in fixed-length mode (s).")
@click.option("--max-chunks", "max_chunks_per_file", type=int, default=3, show_default=True, help="At most this many segments per recording.")
@click.option("--variable-length", is_flag=True, help="Variable-length segments between --min-segment-s and --max-segment-s.")
@click.option("--min-segment-s", type=float, default=1.0, show_default=True)
@click.option("--max-segment-s", type=float, default=10.0, show_default=True)
@click.option("--min-file-s", type=float, default=0.5, show_default=True, help="Skip recordings shorter than this.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True, help="Share of recordings in the val split.")
@click.option("--test-fraction", type=float, default=0.0, show_default=True, help="Share of recordings in the test split.")
@click.option("--codec", default="flac", show_default=True, help="flac, wav or pcm16.")
@click.option("--shard-max-samples", type=int, default=1000, show_default=True)
@click.option("--shard-max-seconds", type=float, default=3600.0, show_default=True)
@click.option("--threshold-db", type=float, default=6.0, show_default=True, help="Salience threshold above the noise floor (dB).")
@click.option("--workers", type=int, default=None, help="Worker processes [default: CPU count; 0 = in-process].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--executor", default="local", show_default=True, help="local, inline or dask.")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:8786) for --executor dask [default: a local cluster of --workers].")
@click.option(
    "--storage-option",
    "storage_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="fsspec option for OUTPUT (repeatable), e.g. endpoint_url=http://127.0.0.1:9000.",
)
@click.option(
    "--lease-ttl-s",
    type=float,
    default=60.0,
    show_default=True,
    help="The build's lease on OUTPUT expires this long after its last heartbeat (a crashed build's OUTPUT is free again after it).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def build(
    input_dir: str,
    output: str,
    storage_option: tuple[str, ...],
    executor: str,
    scheduler: str | None,
    no_progress: bool,
    threshold_db: float,
    workers: int | None,
    **settings,
) -> None:
    """Decode recordings under INPUT once into WebDataset shards at OUTPUT (folder or s3://...)."""
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build as run_build
    from shardkit.ingest.salience import SalienceConfig

    try:
        config = BuildConfig(**settings, salience=SalienceConfig(threshold_db=threshold_db), **({} if workers is None else {"workers": workers}))
        summary = run_build(
            input_dir, output, config, storage_options=_storage_options(storage_option), executor=executor, scheduler=scheduler, progress=not no_progress
        )
    except StorageUnavailableError as exc:  # an environment failure: exit status 1, one line
        raise click.ClickException(f"{exc}; committed shards are kept: rerun the same command to resume") from exc
    from shardkit.read.summary import format_build_summary

    click.echo(format_build_summary(summary))


@cli.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE")
@click.option("--verify", is_flag=True, help="Read every shard: checksums, undecodable members, sample counts (exit 1 on any problem).")
def inspect(url: str, as_json: bool, storage_option: tuple[str, ...], verify: bool) -> None:
    """Summarise a shard set: classes, samples and hours per split, durations, skipped inputs."""
    from shardkit.read.summary import format_summary, summarize

    summary = summarize(url, _storage_options(storage_option), verify=verify, progress=True)
    click.echo(dumps(summary, indent=2) if as_json else format_summary(summary))
    if verify and summary["verify"]["problems"]:
        sys.exit(1)


from shardkit.demo.command import demo_command  # noqa: E402 - after the group it joins
from shardkit.export.command import convert_command, evaluate_command, qat_command  # noqa: E402 - after the group they join
from shardkit.pipeline.command import pipeline_group  # noqa: E402 - after the group it joins
from shardkit.train.command import train_command  # noqa: E402 - after the group it joins

for _command in (train_command, qat_command, convert_command, evaluate_command, pipeline_group, demo_command):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="shardkit", obj={"native_log_filter": True}))
