"""``shardkit pipeline run FILE [--from STAGE]``: parse the file, run the stages that are not up to date.

While the stages run, their progress (training epochs, QAT epochs, conversion) is printed under
each stage's line; at the end, a table of the stages, float vs INT8 metrics and the gates.
"""

from __future__ import annotations

import click

from shardkit.pipeline.config import STAGES


@click.group("pipeline")
def pipeline_group() -> None:
    """Declarative end-to-end pipelines (see pipelines/)."""


@pipeline_group.command("run")
@click.argument("file")
@click.option("--from", "from_stage", type=click.Choice(STAGES), default=None, help="Rerun this stage and every stage after it.")
@click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE", help="fsspec option for the work URL (repeatable).")
def run_command(file: str, from_stage: str | None, storage_option: tuple[str, ...]) -> None:
    """Run pipeline FILE: build → train → qat → convert → evaluate, skipping stages that are up to date."""
    from shardkit.cli import _storage_options
    from shardkit.pipeline.config import load_pipeline
    from shardkit.pipeline.runner import run_pipeline
    from shardkit.pipeline.summary import format_pipeline_summary, read_reports, stage_progress

    config = load_pipeline(file)
    storage = _storage_options(storage_option)
    try:
        with stage_progress(click.echo):
            results = run_pipeline(config, from_stage, storage, echo=click.echo)
    except ImportError as exc:
        raise click.ClickException(f"this pipeline needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'") from exc
    except Exception as exc:
        from shardkit.export.convert import GateFailed, format_convert_report

        if isinstance(exc, GateFailed):  # the gates' table, then the error boundary's one line
            click.echo(format_convert_report(exc.result.report), err=True)
        raise
    click.echo("")
    click.echo(format_pipeline_summary(results, read_reports(results, storage)))
