"""Chunk quality against known truth: how many of a build's chunks hold a planted call, how many calls they catch.

Definitions (fixed here, used by every figure this tool prints):

- A chunk ``[offset_s, offset_s + duration_s]`` **contains** a planted call ``[start_s, end_s]``
  when their overlap is at least ``min(MIN_OVERLAP_S, MIN_OVERLAP_FRACTION x call length)``:
  half a second of the call, or half of a call shorter than one second.
- **Precision** of a class: its chunks that contain a planted call of that class, over all its
  chunks. Chunks of negative classes (``noise``...) are counted but not scored: no call is
  planted in a noise recording.
- **Recall** of a class: its planted calls contained in at least one chunk, over the calls
  that **could** be covered: per recording, the most calls that ``max_chunks_per_file``
  non-overlapping windows of the build's chunk length (``chunk_s``; ``max_segment_s`` in
  variable-length mode), placed anywhere in the recording, can contain (computed exactly,
  :func:`coverable`). A recording with 6 calls spread over a minute and 3 chunks of 3 s
  cannot have all 6 covered, and a crop is not blamed for that. Per recording the covered
  count is capped at that bound (overlapping chunks could exceed it). ``recall_all`` divides
  by every planted call instead.
- Overall figures pool the chunks and calls of all positive classes (micro average).

Input: a build OUTPUT (manifest + shards, any storage URL; each sample's ``KEY.json`` read with
``tarfile``) and a ``TRUTH.json`` as ``tools/bird_corpus.py`` writes it (per file: ``file``,
``class``, ``duration_s``, ``calls`` with ``start_s``/``end_s``, optionally a call ``class``).

Usage::

    python tools/chunk_truth.py OUTPUT TRUTH.json [--json OUT]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

from shardkit.errors import ConfigError
from shardkit.manifest import read_manifest, shard_urls
from shardkit.storage import read_url_bytes

MIN_OVERLAP_S = 0.5
MIN_OVERLAP_FRACTION = 0.5
_EPS = 1e-9


class TruthError(ValueError):
    """A truth file or build that cannot be scored (the message names the file or value)."""


def needed_overlap_s(start_s: float, end_s: float) -> float:
    """Overlap a chunk needs with the call ``[start_s, end_s]`` to contain it."""
    return min(MIN_OVERLAP_S, MIN_OVERLAP_FRACTION * (end_s - start_s))


def contains(chunk_start_s: float, chunk_end_s: float, call_start_s: float, call_end_s: float) -> bool:
    """Does the chunk contain the call (see the module docstring)?"""
    overlap = min(chunk_end_s, call_end_s) - max(chunk_start_s, call_start_s)
    return overlap >= needed_overlap_s(call_start_s, call_end_s) - _EPS


def coverable(calls: list[tuple[float, float]], duration_s: float, chunk_s: float, max_chunks: int) -> int:
    """The most calls ``max_chunks`` non-overlapping windows of ``chunk_s`` inside ``[0, duration_s]`` can contain.

    A window starting at ``x`` contains call ``i`` exactly when ``lo_i <= x <= hi_i``, with
    ``lo_i = start_i + need_i - chunk_s`` and ``hi_i = end_i - need_i``. Sliding a window left
    loses nothing until its start meets some ``lo_i``, 0 or the previous window's end, so
    some best placement starts every window at ``b + m x chunk_s`` (``b`` in ``{0, lo_i}``,
    ``m < max_chunks``). Over those candidates a dynamic programme adds, per window, the calls
    it contains that the previous window does not: with ``chunk_s >= MIN_OVERLAP_S`` a call
    contained by two windows is contained by every window between them, so that count is
    exact. A recording shorter than ``chunk_s`` has one window, the whole recording.

    Raises:
        TruthError: ``chunk_s`` below ``MIN_OVERLAP_S`` or ``max_chunks`` below 1.
    """
    if chunk_s < MIN_OVERLAP_S:
        raise TruthError(f"chunk_s must be >= {MIN_OVERLAP_S} s for the recall bound; got {chunk_s}")
    if max_chunks < 1:
        raise TruthError(f"max_chunks must be >= 1; got {max_chunks}")
    if not calls:
        return 0
    if duration_s <= chunk_s:
        return sum(contains(0.0, duration_s, s, e) for s, e in calls)
    last = duration_s - chunk_s
    bases = {0.0, *(max(0.0, s + needed_overlap_s(s, e) - chunk_s) for s, e in calls)}
    starts = sorted({b + m * chunk_s for b in bases for m in range(max_chunks) if b + m * chunk_s <= last + _EPS})
    covers = [frozenset(i for i, (s, e) in enumerate(calls) if contains(x, x + chunk_s, s, e)) for x in starts]
    best = [len(c) for c in covers]  # one window, ending at candidate j
    answer = max(best)
    for _ in range(max_chunks - 1):
        best = [
            max([len(covers[j])] + [best[i] + len(covers[j] - covers[i]) for i in range(j) if starts[i] + chunk_s <= starts[j] + _EPS])
            for j in range(len(starts))
        ]
        answer = max(answer, max(best))
    return answer


# ---------------------------------------------------------------- reading


def read_chunks(output: str, storage_options: dict | None = None) -> tuple[dict, list[dict]]:
    """The manifest of a build OUTPUT and every sample's ``KEY.json`` meta, over all splits."""
    manifest = read_manifest(output, storage_options)
    chunks = []
    for split in sorted(manifest["splits"]):
        for url in shard_urls(output, manifest, split):
            with tarfile.open(fileobj=io.BytesIO(read_url_bytes(url, storage_options))) as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.endswith(".json"):
                        chunks.append(json.loads(tar.extractfile(member).read()))
    return manifest, chunks


def read_truth(path: str | Path) -> dict[str, dict]:
    """``TRUTH.json`` → its files by relative path.

    Raises:
        TruthError: not JSON, no ``files`` list, or a file entry without its fields.
    """
    try:
        truth = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TruthError(f"truth file {str(path)!r} cannot be read as JSON: {exc}") from exc
    files = truth.get("files") if isinstance(truth, dict) else None
    if not isinstance(files, list):
        raise TruthError(f"truth file {str(path)!r} must be an object with a 'files' list")
    by_file = {}
    for entry in files:
        missing = [key for key in ("file", "class", "duration_s", "calls") if key not in entry]
        if missing:
            raise TruthError(f"truth file {str(path)!r}: entry {entry.get('file', entry)!r} lacks {missing}")
        by_file[entry["file"]] = entry
    return by_file


# ---------------------------------------------------------------- scoring


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def score(chunks: list[dict], truth: dict[str, dict], *, chunk_s: float, max_chunks: int, negative_classes: set[str]) -> dict:
    """Per-class and overall chunk precision and recall (definitions in the module docstring).

    Args:
        chunks: sample metas (``source``, ``class``, ``offset_s``, ``duration_s``).
        truth: truth entries by file, as :func:`read_truth` returns.
        chunk_s: the build's chunk length (the recall bound's window).
        max_chunks: the build's ``max_chunks_per_file``.
        negative_classes: classes whose chunks are counted, not scored.

    Raises:
        TruthError: a chunk whose source is not in the truth, or whose class differs from it.
    """
    by_source: dict[str, list[dict]] = defaultdict(list)
    for chunk in chunks:
        entry = truth.get(chunk["source"])
        if entry is None:
            raise TruthError(f"chunk of {chunk['source']!r} (offset {chunk['offset_s']} s): no such file in the truth")
        if chunk["class"] != entry["class"]:
            raise TruthError(f"chunk of {chunk['source']!r} has class {chunk['class']!r}; the truth says {entry['class']!r}")
        by_source[chunk["source"]].append(chunk)
    rows: dict[str, dict] = defaultdict(lambda: dict.fromkeys(("chunks", "true_chunks", "calls", "coverable", "covered", "covered_all"), 0))
    misses = []
    for name, entry in sorted(truth.items()):
        label = entry["class"]
        row = rows[label]
        mine = [(c["offset_s"], c["offset_s"] + c["duration_s"]) for c in by_source.get(name, [])]
        calls = [(c["start_s"], c["end_s"]) for c in entry["calls"] if c.get("class", label) == label]
        row["chunks"] += len(mine)
        row["true_chunks"] += sum(any(contains(a, b, s, e) for s, e in calls) for a, b in mine)
        if label in negative_classes:
            continue
        bound = coverable(calls, entry["duration_s"], chunk_s, max_chunks)
        caught = sum(any(contains(a, b, s, e) for a, b in mine) for s, e in calls)
        row["calls"] += len(calls)
        row["coverable"] += bound
        row["covered"] += min(caught, bound)
        row["covered_all"] += caught
        misses.extend({"file": name, "offset_s": a} for a, b in mine if not any(contains(a, b, s, e) for s, e in calls))
    classes = {}
    total = dict.fromkeys(("chunks", "true_chunks", "calls", "coverable", "covered", "covered_all"), 0)
    for label, row in sorted(rows.items()):
        negative = label in negative_classes
        classes[label] = {**row, "negative": negative}
        if not negative:
            classes[label].update(_figures(row))
            for key in total:
                total[key] += row[key]
    return {
        "definition": {"min_overlap_s": MIN_OVERLAP_S, "min_overlap_fraction": MIN_OVERLAP_FRACTION, "chunk_s": chunk_s, "max_chunks_per_file": max_chunks},
        "classes": classes,
        "overall": {**total, **_figures(total)},
        "false_chunks": misses,
    }


def _figures(row: dict) -> dict:
    return {
        "precision": _ratio(row["true_chunks"], row["chunks"]),
        "recall": _ratio(row["covered"], row["coverable"]),
        "recall_all": _ratio(row["covered_all"], row["calls"]),
    }


def score_build(output: str, truth_path: str | Path, storage_options: dict | None = None) -> dict:
    """Read a build OUTPUT and a truth file and score the build's chunks (the library entry of the CLI)."""
    manifest, chunks = read_chunks(output, storage_options)
    settings = manifest["settings"]
    chunk_s = settings["max_segment_s"] if settings.get("variable_length") else settings["chunk_s"]
    negatives = set(manifest.get("negative_classes", []))
    return score(chunks, read_truth(truth_path), chunk_s=chunk_s, max_chunks=settings["max_chunks_per_file"], negative_classes=negatives)


def format_table(report: dict) -> str:
    """One line per class, then the overall line."""
    rows = ["class                  chunks  true  precision  calls  coverable  covered  recall  recall_all"]

    def line(name: str, row: dict) -> str:
        if row.get("negative"):
            return f"{name:22s} {row['chunks']:6d}     -          -      -          -        -       -           -"
        p, r, ra = (f"{row[k]:.3f}" if row[k] is not None else "-" for k in ("precision", "recall", "recall_all"))
        return f"{name:22s} {row['chunks']:6d} {row['true_chunks']:5d} {p:>10s} {row['calls']:6d} {row['coverable']:10d} {row['covered']:8d} {r:>7s} {ra:>11s}"

    rows.extend(line(name, row) for name, row in report["classes"].items())
    rows.append(line("overall", report["overall"]))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: print the table (and write the JSON report); a truth or build problem is one line, exit 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="a build OUTPUT (folder or URL with manifest.json)")
    parser.add_argument("truth", type=Path, help="TRUTH.json of the corpus the build read")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    args = parser.parse_args(argv)
    try:
        report = score_build(args.output, args.truth)
    except (TruthError, ConfigError) as exc:
        print(f"chunk_truth: {exc}", file=sys.stderr)
        return 2
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
