"""``shardkit pipeline run FILE [--from STAGE] [--dry-run]`` and ``shardkit pipeline status FILE [--json]``.

``run`` parses the file and runs the stages that are not up to date; ``status`` and
``run --dry-run`` print the same decision (each stage up to date or would rerun, and why)
and touch nothing.

While the stages run, their progress (training epochs, QAT epochs, conversion) is printed under
each stage's line; at the end, a table of the stages, float vs INT8 metrics and the gates.
"""

from __future__ import annotations

import sys

import click

from shardkit.cli_options import storage_option, tensorflow_required
from shardkit.pipeline.config import STAGES


@click.group("pipeline")
def pipeline_group() -> None:
    """Declarative end-to-end pipelines (see pipelines/)."""


@pipeline_group.command("run")
@click.argument("file")
@click.option("--from", "from_stage", type=click.Choice(STAGES), default=None, help="Rerun this stage and every stage after it.")
@click.option("--dry-run", is_flag=True, help="Print which stages would run and why; run nothing, write nothing.")
@storage_option("fsspec option for the work URL (repeatable).")
def run_command(file: str, from_stage: str | None, dry_run: bool, storage_options: dict) -> None:
    """Run pipeline FILE: build → train → qat → convert → evaluate, skipping stages that are up to date."""
    from shardkit.pipeline.config import load_pipeline
    from shardkit.pipeline.runner import run_pipeline
    from shardkit.pipeline.summary import format_pipeline_summary, read_reports, stage_progress

    config = load_pipeline(file)
    if dry_run:
        _echo_status(config, from_stage, storage_options, as_json=False, title=f"pipeline {file}: the plan (nothing is run)")
        return
    try:
        with tensorflow_required("this pipeline needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'"), stage_progress(click.echo):
            results = run_pipeline(config, from_stage, storage_options, echo=click.echo)
    except Exception as exc:
        _echo_gates(exc)  # the gates' table, then the error boundary's one line
        raise
    click.echo("")
    click.echo(format_pipeline_summary(results, read_reports(results, storage_options)))


@pipeline_group.command("status")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print the stages as JSON.")
@storage_option("fsspec option for the work URL (repeatable).")
def status_command(file: str, as_json: bool, storage_options: dict) -> None:
    """Print each stage of pipeline FILE as up to date or would rerun (and why), with its last run's key metrics."""
    from shardkit.pipeline.config import load_pipeline

    _echo_status(load_pipeline(file), None, storage_options, as_json=as_json, title=f"pipeline {file}")


def _echo_status(config, from_stage: str | None, storage_options: dict, as_json: bool, title: str) -> None:
    """Check the file's settings as a run would, then print every stage's verdict."""
    from shardkit.jsonio import dumps
    from shardkit.pipeline.runner import check_run
    from shardkit.pipeline.status import format_status, pipeline_status

    with tensorflow_required("this pipeline needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'"):
        check_run(config, from_stage)
    rows = pipeline_status(config, from_stage, storage_options)
    click.echo(dumps({"pipeline": config.source, "work": config.work, "stages": rows}, indent=2) if as_json else format_status(rows, title))


def _echo_gates(exc: Exception) -> None:
    """The gates' table of a failed conversion, on stderr (a GateFailed exists only once its module is loaded)."""
    convert = sys.modules.get("shardkit.export.convert")
    if convert is not None and isinstance(exc, convert.GateFailed):
        click.echo(convert.format_convert_report(exc.result.report), err=True)
