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
    if manifest.get("teacher"):
        lines.extend(teacher_lines(manifest["teacher"], summary.output))
    return "\n".join(lines)


#: audit entries printed (the rest are in the manifest)
AUDIT_SHOWN = 5


def teacher_lines(teacher: dict, output: str) -> list[str]:
    """What the teacher did: cost, re-ranked recordings, flags, unmapped classes, the label audit."""
    speed = f"{teacher['x_realtime']:.0f}x real time" if teacher.get("x_realtime") else "no time measured"
    flags = ", ".join(f"{name} {n}" for name, n in teacher["flags"].items()) or "none"
    lines = [
        f"  teacher {teacher['name']}: {teacher['candidates']} candidates scored in {teacher['seconds']:.1f} s ({speed}); "
        f"{teacher['ranked_recordings']} recordings re-ranked; chunks flagged: {flags}"
    ]
    if teacher["unmapped"]:
        lines.append(f"  classes without a teacher label (salience ranking only): {', '.join(teacher['unmapped'])}; map them with --teacher-map")
    audit = teacher["audit"]
    if audit:
        lines.append(f"  the teacher contradicts the folder of {len(audit)} recordings (all in {output.rstrip('/')}/manifest.json, teacher.audit):")
        lines.extend(f"    {e['source']} ({e['class']}): {e['teacher_top1']} {e['confidence']:.2f}" for e in audit[:AUDIT_SHOWN])
    return lines
