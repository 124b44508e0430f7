"""The few lines `shardkit build` prints about a finished build run."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shardkit.ingest.runner import BuildSummary


def format_build_summary(summary: BuildSummary) -> str:
    """The few lines `shardkit build` prints when it ends."""
    if summary.up_to_date:
        return f"{summary.output} is up to date: nothing to do."
    manifest = summary.manifest or {}
    per_split = ", ".join(f"{name} {split['samples']}" for name, split in manifest.get("splits", {}).items())
    failures: Counter = summary.failures
    lines = [
        f"built {summary.samples_written} samples from {summary.recordings_processed} recordings "
        f"({summary.decoded_s / 3600:.2f} h of audio) in {summary.wall_s:.1f} s ({summary.x_real_time:.0f}x real time)",
        f"  {summary.output}: {per_split or 'no samples'}; classes: {', '.join(manifest.get('classes', [])) or '-'}",
    ]
    skipped = manifest.get("inputs", {}).get("skipped_by_reason", {})
    if skipped:
        lines.append(
            f"  skipped {sum(skipped.values())} inputs ({', '.join(f'{k}: {v}' for k, v in skipped.items())}); see {summary.output.rstrip('/')}/failed.jsonl"
        )
    elif failures:
        lines.append(f"  failures: {dict(failures)}")
    return "\n".join(lines)
