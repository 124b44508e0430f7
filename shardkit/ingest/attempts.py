"""Which recordings a build has finished, from the shard records: the latest attempt decides.

A shard record lists every recording its task tried and the failures among them; each failure
keeps the file's size and mtime as scanned. A failed recording whose file has changed since
(repaired, replaced, touched) is tried again in a later task, and that newer attempt
supersedes the old failure: it leaves the failed-input report, and its samples count.
"""

from __future__ import annotations

from collections.abc import Iterable

from shardkit.ingest.inputs import SourceFile


def latest_attempts(records: Iterable[dict]) -> dict[str, dict]:
    """The record of each source's latest attempt.

    A source always lands in the same split, and a later task always gets a higher shard
    index in its split, so the highest index is the latest attempt.
    """
    latest: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r["index"]):
        for source in record["sources"]:
            latest[source] = record
    return latest


def current_failures(records: list[dict]) -> list[dict]:
    """Failures from each source's latest attempt; a failure retried since is history."""
    latest = latest_attempts(records)
    return [failure for record in records for failure in record["failures"] if latest.get(failure["source"]) is record]


def changed_since_failure(records: list[dict], files: Iterable[SourceFile]) -> set[str]:
    """Sources whose latest attempt failed and whose file's size or mtime has changed since.

    A failure recorded without size and mtime (by an older shardkit) is not retried.
    """
    failed = {failure["source"]: failure for failure in current_failures(records)}
    changed = set()
    for file in files:
        failure = failed.get(file.source)
        if failure and "mtime_ns" in failure and (failure["size_bytes"], failure["mtime_ns"]) != (file.size_bytes, file.mtime_ns):
            changed.add(file.source)
    return changed
