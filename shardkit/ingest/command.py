"""The ``shardkit build`` command: options → `BuildConfig` → `build`, then the build summary."""

from __future__ import annotations

import click

from shardkit.cli_options import storage_option
from shardkit.errors import StorageUnavailableError


@click.command("build")
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
@storage_option("fsspec option for OUTPUT (repeatable), e.g. endpoint_url=http://127.0.0.1:9000.")
@storage_option(
    "fsspec option for an INPUT URL (repeatable) [default: OUTPUT's options when INPUT and OUTPUT use the same scheme].",
    flag="--input-storage-option",
    dest="input_storage_options",
)
@click.option(
    "--lease-ttl-s",
    type=float,
    default=60.0,
    show_default=True,
    help="The build's lease on OUTPUT expires this long after its last heartbeat (a crashed build's OUTPUT is free again after it).",
)
@click.option(
    "--teacher", default=None, help="A pretrained model that ranks candidates and stores soft labels: 'birdnet' (needs shardkit[teacher]) or a .tflite."
)
@click.option("--teacher-labels", default=None, help="Labels file of a .tflite teacher (one per line, output order).")
@click.option("--teacher-rate", "teacher_rate_hz", type=int, default=None, help="Input sample rate of a .tflite teacher (Hz) [default: 48000].")
@click.option(
    "--teacher-outputs", default=None, help="What a .tflite teacher outputs: 'probabilities' or 'logits' (a sigmoid is applied) [default: probabilities]."
)
@click.option("--teacher-map", default=None, help="CSV 'class,teacher_label' for classes whose folder names match no teacher label.")
@click.option("--teacher-candidates", type=int, default=None, help="Salient candidates per recording the teacher scores [default: 16].")
@click.option("--teacher-weight", type=float, default=None, help="Teacher share of a candidate's rank (the rest is salience) [default: 0.8].")
@click.option("--teacher-min-prob", type=float, default=None, help="Drop candidates the teacher hears their class in below this [default: 0.01].")
@click.option("--teacher-embeddings", is_flag=True, help="Also store the teacher's embedding of each chunk (KEY.emb.npy).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def build_command(
    input_dir: str,
    output: str,
    storage_options: dict,
    input_storage_options: dict,
    executor: str,
    scheduler: str | None,
    no_progress: bool,
    threshold_db: float,
    workers: int | None,
    teacher: str | None,
    teacher_labels: str | None,
    teacher_rate_hz: int | None,
    teacher_map: str | None,
    teacher_outputs: str | None,
    teacher_candidates: int | None,
    teacher_weight: float | None,
    teacher_min_prob: float | None,
    teacher_embeddings: bool,
    **settings,
) -> None:
    """Decode recordings under INPUT (folder or s3://...) once into WebDataset shards at OUTPUT (folder or s3://...)."""
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build
    from shardkit.ingest.salience import SalienceConfig

    try:
        from shardkit.teacher.registry import teacher_from_options

        teacher_config = teacher_from_options(
            {
                "teacher": teacher,
                "teacher_labels": teacher_labels,
                "teacher_rate": teacher_rate_hz,
                "teacher_map": teacher_map,
                "teacher_outputs": teacher_outputs,
                "teacher_candidates": teacher_candidates,
                "teacher_weight": teacher_weight,
                "teacher_min_prob": teacher_min_prob,
                "teacher_embeddings": teacher_embeddings,
            }
        )
        if teacher_config is not None:
            click.echo(teacher_config.notice or f"teacher {teacher_config.name}: check the licence of its weights", err=True)
        config = BuildConfig(
            **settings,
            salience=SalienceConfig(threshold_db=threshold_db),
            teacher=teacher_config,
            **({} if workers is None else {"workers": workers}),
        )
        summary = build(
            input_dir,
            output,
            config,
            storage_options=storage_options,
            input_storage_options=input_storage_options or None,
            executor=executor,
            scheduler=scheduler,
            progress=not no_progress,
        )
    except StorageUnavailableError as exc:  # an environment failure: exit status 1, one line
        raise click.ClickException(f"{exc}; committed shards are kept: rerun the same command to resume") from exc
    from shardkit.ingest.summary import format_build_summary

    click.echo(format_build_summary(summary))
