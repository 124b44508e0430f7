"""``shardkit pipeline run FILE [--from STAGE]``: parse the file, run the stages that are not up to date."""

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
    from shardkit.cli import _storage_options  # noqa: PLC0415
    from shardkit.pipeline.config import load_pipeline  # noqa: PLC0415
    from shardkit.pipeline.runner import run_pipeline  # noqa: PLC0415

    config = load_pipeline(file)
    try:
        results = run_pipeline(config, from_stage, _storage_options(storage_option), echo=click.echo)
    except ImportError as exc:
        raise click.ClickException(f"this pipeline needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'") from exc
    for result in results:
        outputs = ", ".join(f"{k}: {v}" for k, v in result.outputs.items())
        click.echo(f"{result.stage:>9}: {result.status:<8} {outputs}")
