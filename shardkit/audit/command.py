"""``shardkit audit``: options → `AuditConfig` → `shardkit.audit.run.audit`.

Without ``--model`` nothing imports TensorFlow; with one, a missing TensorFlow is one sentence
with the ``pip install`` line.
"""

from __future__ import annotations

import click

from shardkit.cli_options import require_path, storage_option, tensorflow_required


@click.command("audit")
@click.argument("shards")
@click.option("--out", required=True, help="Folder the site is written to (local); open OUT/index.html.")
@click.option(
    "--input", "input_root", default=None, help="The build's INPUT folder: adds each drawn recording's salience curve and the windows that won and lost."
)
@click.option("--model", default=None, help="A .keras or .tflite model: adds ROC/PR curves, counts at --threshold and the worst errors.")
@click.option(
    "--compare", default=None, help="A second model (the INT8 .tflite of --model): its scores beside the first, and the clips where they diverge most."
)
@click.option("--per-class", type=int, default=8, show_default=True, help="Chunks drawn per class.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draw (same seed, same chunks).")
@click.option("--recordings", type=int, default=12, show_default=True, help="At most this many recordings get a salience view (with --input).")
@click.option("--split", default="val", show_default=True, help="Split the model view scores.")
@click.option("--threshold", type=float, default=0.5, show_default=True, help="Score at which the model view counts a class as predicted.")
@click.option("--worst", type=int, default=12, show_default=True, help="Clips in each of the model view's lists.")
@storage_option("fsspec option for the shards and the models (repeatable).")
def audit_command(shards: str, out: str, input_root: str | None, model: str | None, compare: str | None, storage_options: dict, **settings) -> None:
    """Write a static site (OUT/index.html) showing what the build in SHARDS chose, why, and what a model does with it."""
    from shardkit.audit.config import AuditConfig
    from shardkit.errors import ConfigError

    config = AuditConfig(**settings)
    if compare and not model:
        raise ConfigError("audit --compare needs --model (the float model the INT8 one is compared with)")
    require_path(shards, "SHARDS", storage_options)
    for what, location in (("--model", model), ("--compare", compare)):
        if location:
            require_path(location, what, storage_options, suffixes=(".keras", ".tflite"))
    if input_root:
        import os

        if not os.path.isdir(input_root):
            raise ConfigError(f"--input {input_root!r} is not a folder")
    from shardkit.audit.run import audit

    with tensorflow_required("audit --model needs TensorFlow: pip install 'shardkit[tf]' ({exc})"):
        summary = audit(shards, out, config, input_root=input_root, model=model, compare=compare, storage_options=storage_options, progress=True)
    missing = len(summary["recordings_missing"])
    click.echo(
        f"audit: {summary['pages']} pages, {summary['chunks_drawn']} chunks drawn of {summary['samples_read']:,}, "
        f"{summary['recordings'] - missing} recordings"
        + (f" ({missing} not found under --input)" if missing else "")
        + f", {summary['bytes'] / 1e6:.1f} MB in {summary['seconds']:.1f} s; open {summary['index']}"
    )
