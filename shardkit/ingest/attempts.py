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
    """Sources whose latest attempt failed and whose file has changed since: its size, and its
    ETag (an object in a store that gives one) or else its mtime.

    A failure recorded without size and mtime (by an older shardkit) is not retried.
    """
    failed = {failure["source"]: failure for failure in current_failures(records)}
    changed = set()
    for file in files:
        failure = failed.get(file.source)
        if (
            failure
            and "mtime_ns" in failure
            and _identity(failure["size_bytes"], failure["mtime_ns"], failure.get("etag", "")) != _identity(file.size_bytes, file.mtime_ns, file.etag)
        ):
            changed.add(file.source)
    return changed


def _identity(size_bytes: int, mtime_ns: int, etag: str) -> tuple:
    """What tells one version of a file from another: size and ETag when there is one, else size and mtime."""
    return (size_bytes, etag) if etag else (size_bytes, mtime_ns)
