"""`build()`: scan INPUT, resume from what OUTPUT already holds, run the tasks, write the manifest.

Resumable and idempotent: a committed shard is never redone; a killed build rerun with the
same command finishes the rest; a finished build rerun is a no-op; new recordings added to
INPUT go into new shards while old recordings keep their split and their shards.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from shardkit.errors import ConfigError
from shardkit.ingest.attempts import changed_since_failure, current_failures
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.executors import EXECUTORS, SCHEDULED
from shardkit.ingest.inputs import InputScan, scan_inputs
from shardkit.ingest.lease import Lease, hold_lease
from shardkit.ingest.plan import plan_tasks
from shardkit.ingest.shards import DONE_DIR, STATE_DIR, record_name, recover_record
from shardkit.manifest import MANIFEST_NAME, build_manifest, write_manifest
from shardkit.storage import Store, is_local_url
from shardkit.teacher.config import TeacherConfig
from shardkit.teacher.mapping import map_classes
from shardkit.teacher.registry import model_files, read_labels
from shardkit.teacher.runtime import load_teacher

log = logging.getLogger(__name__)

SETTINGS_NAME = f"{STATE_DIR}/build.json"


@dataclass
class BuildSummary:
    """What one `build()` call did."""

    output: str
    manifest: dict | None
    tasks_run: int = 0
    recordings_processed: int = 0
    decoded_s: float = 0.0
    samples_written: int = 0
    failures: Counter = field(default_factory=Counter)
    wall_s: float = 0.0
    up_to_date: bool = False

    @property
    def x_real_time(self) -> float:
        """Audio seconds decoded per wall-clock second in this call."""
        return self.decoded_s / self.wall_s if self.wall_s > 0 else 0.0


def _check_settings(store: Store, config: BuildConfig) -> None:
    """Refuse to mix samples made with other content settings into an existing OUTPUT."""
    wanted = config.content_settings()
    if store.exists(SETTINGS_NAME):
        stored = store.read_json(SETTINGS_NAME)
        diffs = [f"{k}: {stored.get(k)!r} there, {v!r} now" for k, v in wanted.items() if stored.get(k) != v]
        if diffs:
            raise ConfigError(f"OUTPUT {store.url!r} was built with other settings ({'; '.join(diffs)}); use a new OUTPUT")
    else:
        store.write_json(SETTINGS_NAME, wanted)


def load_records(store: Store) -> list[dict]:
    """Records of every committed shard, recovering those a kill left without one."""
    records = {}
    for name in store.listdir(DONE_DIR):
        if name.endswith(".json"):
            record = store.read_json(name)
            records[(record["split"], record["index"])] = record
    for name in store.listdir():
        if name.endswith(".tar") and "-" in name:
            split, _, index = name[: -len(".tar")].rpartition("-")
            if index.isdigit() and (split, int(index)) not in records:
                log.warning("shard %s has no commit record (build killed after committing it); recovering it", name)
                record = recover_record(store, name)
                store.write_json(record_name(split, int(index)), record)
                records[(split, int(index))] = record
    return list(records.values())


def _clean_staging(store: Store) -> None:
    for name in store.listdir(f"{STATE_DIR}/staging"):
        store.delete(name)


def _progress(total_files: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total_files, unit="file", desc="build", disable=not enabled, dynamic_ncols=True)


def build(
    input_dir: str,
    output_url: str,
    config: BuildConfig | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    input_storage_options: dict[str, Any] | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Build (or resume, or extend) a shard set from a tree of recordings.

    Args:
        input_dir: ``INPUT/<class>/**/<file>``: a local folder or any fsspec URL
            (``s3://bucket/raw``). Workers read a URL's recordings from the store directly, by
            byte ranges; ``source`` names stay relative to INPUT either way.
        output_url: a local folder or any fsspec URL (``s3://bucket/prefix``).
        config: build settings (defaults: 24 kHz, 3 s chunks, 3 per file, FLAC).
        storage_options: fsspec options for OUTPUT (S3 endpoint, credentials, ...).
        input_storage_options: fsspec options for an INPUT URL; by default OUTPUT's when both
            use the same scheme (one endpoint, one set of credentials), else none.
        executor: a name in `EXECUTORS`.
        scheduler: address of the cluster's scheduler (``tcp://host:8786``) for the ``dask``
            executor; without one it starts a local cluster of ``config.workers`` processes.
        progress: show a tqdm progress bar.

    Raises:
        ConfigError: bad INPUT, OUTPUT, executor or settings, or another build holds OUTPUT's
            lease (`LeaseHeld`); raised before any work.
        LeaseLost: another build took OUTPUT's lease over mid-build; this one stopped committing.
    """
    config = config or BuildConfig()
    if executor not in EXECUTORS:
        raise ConfigError(f"executor must be one of {sorted(EXECUTORS)}; got {executor!r}")
    if scheduler and executor not in SCHEDULED:
        raise ConfigError(f"--scheduler needs an executor that uses one ({sorted(SCHEDULED)}); got executor {executor!r}")
    started = time.perf_counter()
    input_options = input_options_for(input_dir, output_url, input_storage_options, storage_options)
    scan = scan_inputs(input_dir, config.val_fraction, config.test_fraction, storage_options=input_options)
    if config.teacher is not None:
        config = replace(config, teacher=complete_mapping(config.teacher, scan))
    store = Store(output_url, dict(storage_options or {}))
    store.check_writable()
    with hold_lease(store, config.lease_ttl_s) as lease:
        return _build_holding(
            lease, scan, config, output_url, executor=executor, scheduler=scheduler, progress=progress, started=started, input_options=input_options
        )


def input_options_for(input_url: str, output_url: str, input_options: dict[str, Any] | None, output_options: dict[str, Any] | None) -> dict[str, Any]:
    """fsspec options for INPUT: those given, else OUTPUT's when INPUT is a URL of OUTPUT's scheme, else none."""
    if input_options is not None:
        return dict(input_options)
    if is_local_url(input_url) or _scheme(input_url) != _scheme(output_url):
        return {}
    return dict(output_options or {})


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"


def complete_mapping(teacher: TeacherConfig, scan: InputScan) -> TeacherConfig:
    """The teacher, loaded once here to refuse a misfit before any work, with every positive class
    of INPUT mapped (its ``mapping`` so far overrides name matching)."""
    load_teacher(teacher)
    classes = sorted({f.label for f in scan.files if not f.negative})
    mapping = map_classes(classes, read_labels(model_files(teacher)[1]), {k: v for k, v in teacher.mapping.items()})
    for name in mapping.unmapped:
        log.info("class %r has no teacher label (%s): its chunks keep the salience ranking", name, mapping.how[name])
    return replace(teacher, mapping=mapping.labels)


def _build_holding(
    lease: Lease,
    scan: InputScan,
    config: BuildConfig,
    output_url: str,
    *,
    executor: str,
    scheduler: str | None,
    progress: bool,
    started: float,
    input_options: dict[str, Any],
) -> BuildSummary:
    """The build proper, run while this process holds OUTPUT's lease."""
    store = lease.store
    _check_settings(store, config)
    records = load_records(store)
    _clean_staging(store)
    retry = changed_since_failure(records, scan.files)
    if retry:
        log.info("%d failed recordings changed since they failed: trying them again", len(retry))
    done = {source for record in records for source in record["sources"]} - retry
    todo = [f for f in scan.files if f.source not in done]
    summary = BuildSummary(output=output_url, manifest=None)
    if not todo and store.exists(MANIFEST_NAME):
        log.info("OUTPUT %s is up to date: nothing to do", output_url)
        summary.manifest = store.read_json(MANIFEST_NAME)
        summary.up_to_date = True
        summary.wall_s = time.perf_counter() - started
        return summary
    next_index = Counter()
    for record in records:
        next_index[record["split"]] = max(next_index[record["split"]], record["index"] + 1)
    tasks = plan_tasks(todo, config, next_index, config.workers)
    for task in tasks:
        task.input_options = input_options
    log.info("%d recordings to process in %d tasks (%d already done)", len(todo), len(tasks), len(done))
    options = {"scheduler": scheduler} if executor in SCHEDULED else {}
    with (
        _progress(len(todo), progress) as bar,
        contextlib.closing(EXECUTORS[executor](tasks, store, config, config.workers, lease.token, **options)) as results,
    ):
        for record in results:
            lease.check_heartbeat()
            records.append(record)
            summary.tasks_run += 1
            summary.recordings_processed += len(record["sources"])
            summary.decoded_s += record["decoded_s"] or 0.0
            summary.samples_written += len(record["samples"])
            summary.failures.update(f["reason"] for f in record["failures"])
            bar.update(len(record["sources"]))
            bar.set_postfix(hours=f"{summary.decoded_s / 3600:.2f}", samples=summary.samples_written, failed=sum(summary.failures.values()))
    lease.check()
    summary.manifest = _finish(store, records, scan, config)
    summary.wall_s = time.perf_counter() - started
    return summary


def _finish(store: Store, records: list[dict], scan: InputScan, config: BuildConfig) -> dict:
    """Write the failed-input report and, last, the manifest."""
    skipped = [s.to_dict() for s in scan.skipped] + current_failures(records)
    skipped.sort(key=lambda s: s["source"])
    negatives = sorted({f.label for f in scan.files if f.negative})
    manifest = build_manifest(
        records,
        settings=config.to_dict(),
        negative_classes=negatives,
        skipped=skipped,
        ignored=dict(scan.ignored),
        longest_segment_s=config.longest_segment_s,
    )
    write_manifest(store, manifest, skipped)
    return manifest
