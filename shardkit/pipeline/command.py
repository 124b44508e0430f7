"""``shardkit pipeline run FILE [--from STAGE]``: parse the file, run the stages that are not up to date.

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
@storage_option("fsspec option for the work URL (repeatable).")
def run_command(file: str, from_stage: str | None, storage_options: dict) -> None:
    """Run pipeline FILE: build → train → qat → convert → evaluate, skipping stages that are up to date."""
    from shardkit.pipeline.config import load_pipeline
    from shardkit.pipeline.runner import run_pipeline
    from shardkit.pipeline.summary import format_pipeline_summary, read_reports, stage_progress

    config = load_pipeline(file)
    try:
        with tensorflow_required("this pipeline needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'"), stage_progress(click.echo):
            results = run_pipeline(config, from_stage, storage_options, echo=click.echo)
    except Exception as exc:
        _echo_gates(exc)  # the gates' table, then the error boundary's one line
        raise
    click.echo("")
    click.echo(format_pipeline_summary(results, read_reports(results, storage_options)))


def _echo_gates(exc: Exception) -> None:
    """The gates' table of a failed conversion, on stderr (a GateFailed exists only once its module is loaded)."""
    convert = sys.modules.get("shardkit.export.convert")
    if convert is not None and isinstance(exc, convert.GateFailed):
        click.echo(convert.format_convert_report(exc.result.report), err=True)
