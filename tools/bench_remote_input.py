"""Bytes fetched when the build reads a long recording from object storage.

    python tools/bench_remote_input.py [--minutes 12] [--store seaweedfs|memory] [--min-fetch-kib 64]

Writes one long 48 kHz FLAC (noise with three calls), puts it in a store (SeaweedFS on
127.0.0.1 via tools/local_s3.py, credentials enforced; or ``memory://``), and runs the build's
work on it by URL: the header read of the scan, then `extract_file` (the salience pass that
streams the whole file, then the seeks to the chosen segments). It counts the bytes every
range request fetched (`storage.fetch_stats`) and prints them against the file's size, with
the wall time beside the same extraction from local disk, and checks that the samples are
the local ones, byte for byte.

Target: the two passes fetch at most 1.2x the file (a segment read must not fetch the file
again). ``--min-fetch-kib`` sets the range fetched after a seek; a large one (8192) shows
the check failing.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

log = logging.getLogger("bench_remote_input")

#: the issue's bound on bytes fetched by both passes, as a multiple of the file size
TARGET_RATIO = 1.2


@contextlib.contextmanager
def store_url(kind: str, workdir: Path) -> Iterator[tuple[str, dict]]:
    """A folder URL in a fresh store of ``kind`` and its storage options."""
    if kind == "memory":
        yield f"memory://bench-{time.time_ns()}", {}
        return
    from local_s3 import BUCKET, seaweedfs_server, storage_options

    with seaweedfs_server(workdir / "s3") as endpoint:
        yield f"s3://{BUCKET}/raw", storage_options(endpoint)


def measure(minutes: float, store: str, min_fetch_kib: int, workdir: Path) -> dict:
    """Fetch figures for one long FLAC: sizes, bytes, requests, wall times, and whether the samples match."""
    from factories import tone_in_noise, write_audio

    from shardkit import storage
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.extract import extract_file
    from shardkit.ingest.inputs import SourceFile, scan_inputs

    duration_s = minutes * 60
    calls = tuple((duration_s * f, 0.6, 2500 + 500 * i) for i, f in enumerate((0.2, 0.55, 0.85)))
    path = write_audio(workdir / "input" / "bird" / "long.flac", tone_in_noise(duration_s, 48000, calls=calls, seed=1), 48000)
    size = path.stat().st_size
    config = BuildConfig(workers=0)
    storage.RANGE_MIN_FETCH_BYTES = min_fetch_kib * 1024
    with store_url(store, workdir) as (url, options):
        fs, root = storage.filesystem(url, options)
        fs.put_file(str(path), f"{root}/bird/long.flac")
        before = storage.fetch_stats()
        source = scan_inputs(url, 0.0, 0.0, storage_options=options).files[0]
        header = storage.fetch_stats()
        started = time.perf_counter()
        remote = extract_file(source, config, options)
        remote_s = time.perf_counter() - started
        after = storage.fetch_stats()
    started = time.perf_counter()
    local = extract_file(SourceFile(source.source, str(path), "bird", False, size, "train"), config)
    local_s = time.perf_counter() - started
    return {
        "minutes": minutes,
        "file_bytes": size,
        "header_bytes": header["bytes"] - before["bytes"],
        "extract_bytes": after["bytes"] - header["bytes"],
        "extract_requests": after["requests"] - header["requests"],
        "ratio": (after["bytes"] - header["bytes"]) / size,
        "remote_s": remote_s,
        "local_s": local_s,
        "samples": len(remote.samples),
        "same_samples": [s.audio for s in remote.samples] == [s.audio for s in local.samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="length of the generated FLAC (default 12)")
    parser.add_argument("--store", choices=("seaweedfs", "memory"), default="seaweedfs", help="where the recording sits (default seaweedfs)")
    parser.add_argument("--min-fetch-kib", type=int, default=64, help="range fetched after a seek, KiB (default 64, shardkit's default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        r = measure(args.minutes, args.store, args.min_fetch_kib, Path(tmp))
    verdict = "PASS" if r["ratio"] <= TARGET_RATIO and r["same_samples"] else "MISS"
    log.info(
        "%.0f min FLAC, %.1f MB on %s: scan header %.0f KiB; salience pass + %d segment reads fetched %.1f MB in %d requests = %.3fx the file "
        "(target <= %.1fx): %s; samples equal to the local build's: %s; extraction %.2f s from the store, %.2f s from local disk",
        r["minutes"],
        r["file_bytes"] / 1e6,
        args.store,
        r["header_bytes"] / 1024,
        r["samples"],
        r["extract_bytes"] / 1e6,
        r["extract_requests"],
        r["ratio"],
        TARGET_RATIO,
        verdict,
        r["same_samples"],
        r["remote_s"],
        r["local_s"],
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
