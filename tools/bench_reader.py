"""Benchmark the shardkit reader against the loaders it replaces, on one generated corpus.

Every figure is samples/s of the same output tensor (hybrid spectrogram of 3 s at 24 kHz,
batch 64 → ``[64, 256, 256, 1]``) on the same cores:

1. shardkit from local shards (pcm16 is the headline; flac beside it);
2. shardkit from S3 on 127.0.0.1 (moto's server in a separate process), pcm16;
3. the on-the-fly loader shardkit replaces (BirdNET-STM32, MLTK): decode the raw long FLAC,
   resample, energy smart-crop, STFT, every epoch, in a spawn pool of one process per core;
4. what a TensorFlow user would pick instead: TFRecords of the same chunks, tf.data, the
   same tf frontend;
5. the limit: the frontend alone on an in-memory batch;
6. shardkit yielding waveforms ``[64, 72000]`` for the deferred frontend, flac and pcm16.

Targets: (1)/(3) >= 10x, (1)/(5) >= 0.8, (1)/(4) >= 1.0, (6, pcm16)/(3) >= 40x,
(2)/(1) >= 0.9, bucketed padding <= 5 % on log-uniform 0.5-10 s lengths, reader memory flat
over 10 epochs.

A second, small corpus (``WORK/small``: ``--small-files`` recordings of 20-90 s, one copy
each, flac shards, about 165 train samples: two batches an epoch) measures what a small
project pays at every epoch boundary, each figure timed over 6 epochs after a warm-up epoch:

7. the steady state: one reader with ``epochs=None``;
8. what ``shardkit train`` reads now: one pipeline over the run, cut per epoch (`EpochStream`);
9. what it read before: a new pipeline per epoch;
10. the on-the-fly loader on the same 20-90 s recordings;
11. / 12. local and S3 (moto) steady rates with the reader pinned to core 0 and the S3 server
    to core 1, so the ratio measures the reader, not the server competing for its cores;
13. / 14. the reader without the frontend and the frontend alone, which bound (7);
15. / 16. / 17. (7), (11) and (12) with the split cache off (``cache_mb=0``): every epoch fetches
    and decodes its shards again, as a split over the cache budget does. They have no target;
    they show what the cache gives and what S3 costs a split that does not fit;

(7), (8) and (9) run in rounds (``--boundary-rounds``, default 7: with the split in memory an
epoch takes about 0.1 s, so one six-epoch run is short and noisy), one run of each per round,
and their ratios are the median over rounds of runs made side by side (the load of a shared
machine drifts between rounds);

and ``shardkit train`` itself on the split: the input wait (share of step time) and the wait
for each epoch's first batch. Targets: (8)/(7) >= 0.9, (7)/(10) >= 10x, (12)/(11) >= 0.9,
train's input wait <= 2 % and epoch-start wait <= 0.1 s; the epoch-start waits of (8) and (9)
are printed beside them. ``--small-only`` measures only these.

The corpus is tools/bench_build.py's generator (48 kHz FLAC in class folders plus noise),
made once under ``WORK/corpus``. A training epoch needs many batches of 64, and a recording
gives at most 3 chunks, so the input tree ``WORK/input`` links each generated recording
``--copies`` times under distinct names (hard links: no extra disk, no extra generation
time); every copy is decoded, scored and sharded like a recording of its own. Shards are
built from it with the flac and the pcm16 codec and cached while the inputs stay the same.

Timing: tf.data figures iterate ``1 + TIMED_EPOCHS`` epochs of one dataset and time all but
the first (from the last batch of the warm-up epoch to the last batch of the last epoch), so
graph tracing and first-touch costs are excluded while epochs run back to back as in
training. The on-the-fly pool is started and warmed before its one timed epoch. Each rate is
the best of ``--repeats`` runs, and beside it is how many cores other processes kept busy
meanwhile (from /proc/stat, minus this process and all its live children), because the
machine is shared. A measurement that raises is reported as ERROR (the others still run)
and makes the exit status 1.

Usage::

    python tools/bench_reader.py [--files 12] [--copies 24] [--repeats 1] [--work bench-out/reader]
                                 [--small-files 86] [--train-epochs 4] [--boundary-rounds 7] [--small-only]
                                 [--json r.json] [--quick] [--no-tune-malloc]

The readers keep batch-sized buffers on glibc's heap (``ReaderConfig.tune_malloc``, see
shardkit/read/malloc.py). ``--no-tune-malloc`` runs every figure with glibc's defaults
instead: the difference between two runs is that choice's effect on this machine (on the
2-core VM of the README's figures, the tuned reader was about twice as fast).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import logging
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import numpy as np
import soundfile as sf
import soxr

from shardkit.audio.frontends import FrontendConfig, reference_frontend
from shardkit.ingest.executors import single_thread_env
from shardkit.jsonio import dumps

T = TypeVar("T")
TOOLS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOLS_DIR.parent
BATCH_SIZE = 64
#: epochs timed after the warm-up epoch in every tf.data figure
TIMED_EPOCHS = 2
#: chunks the on-the-fly loader takes per recording (BirdNET-STM32's smart crop, shardkit's build)
MAX_CHUNKS_PER_FILE = 3
#: short-time-energy frame hop of the on-the-fly smart crop (samples at 24 kHz)
ENERGY_HOP = 512
#: a kept run during which other processes used this many cores or more gets a note
BUSY_OTHER_CORES = 0.25
#: memory is flat when RSS grows less than this share of the epoch-2 RSS...
MEMORY_FLAT_RATIO = 0.05
#: ...or less than this many MB
MEMORY_FLAT_MB = 30.0
#: the moto server must answer within this many seconds
S3_START_TIMEOUT_S = 30.0
S3_BUCKET = "bench-shards"
#: marks a folder this script made (input tree, shard sets) and the settings it was made with
CACHE_MARKER = "bench_reader.json"
S3_CREDENTIALS = {"key": "testing", "secret": "testing"}

#: corpus and run sizes: the full benchmark (~5 min on 2 cores once cached) and --quick
PRESETS = {
    "full": {
        "files": 12,
        "copies": 24,
        "min_minutes": 1.0,
        "max_minutes": 4.0,
        "memory_epochs": 10,
        "bucket_segments": 600,
        "frontend_batches": 24,
        "small_files": 86,
        "train_epochs": 4,
        "boundary_rounds": 7,
    },
    "quick": {
        "files": 4,
        "copies": 20,
        "min_minutes": 0.5,
        "max_minutes": 0.75,
        "memory_epochs": 3,
        "bucket_segments": 120,
        "frontend_batches": 4,
        "small_files": 40,
        "train_epochs": 2,
        "boundary_rounds": 1,
    },
}

#: measured rates: key -> printed label
RATES = {
    "shardkit_local_pcm16": "(1) shardkit, local shards, pcm16 [headline]",
    "shardkit_local_flac": "(1) shardkit, local shards, flac",
    "shardkit_s3_pcm16": "(2) shardkit, S3 on loopback (moto), pcm16",
    "on_the_fly": "(3) on-the-fly loader, spawn pool",
    "tfrecord": "(4) TFRecords + tf.data, same frontend",
    "frontend_only": "(5) tf frontend alone, in-memory batch",
    "deferred_flac": "(6) shardkit deferred (waveforms), flac",
    "deferred_pcm16": "(6) shardkit deferred (waveforms), pcm16",
}
#: ratios: key -> (numerator, denominator, minimum or None, printed label)
RATIOS = {
    "local_over_on_the_fly": ("shardkit_local_pcm16", "on_the_fly", 10.0, "(1) / (3)"),
    "local_flac_over_on_the_fly": ("shardkit_local_flac", "on_the_fly", None, "(1, flac) / (3)"),
    "local_over_frontend": ("shardkit_local_pcm16", "frontend_only", 0.8, "(1) / (5)"),
    "local_over_tfrecord": ("shardkit_local_pcm16", "tfrecord", 1.0, "(1) / (4)"),
    "deferred_pcm16_over_on_the_fly": ("deferred_pcm16", "on_the_fly", 40.0, "(6, pcm16) / (3)"),
    "s3_over_local": ("shardkit_s3_pcm16", "shardkit_local_pcm16", 0.9, "(2) / (1)"),
}
#: bucketed batching: padding ratio must stay at or under this
MAX_BUCKET_PADDING = 0.05

#: the small split's recordings: lengths in seconds (one copy each, like a small real project)
SMALL_SECONDS = (20, 90)
#: epochs timed after the warm-up epoch in the epoch-boundary figures
BOUNDARY_EPOCHS = 6
#: small-split rates: key -> printed label
SMALL_RATES = {
    "small_steady": "(7) one reader, epochs=None (steady state)",
    "small_stream": "(8) one pipeline cut per epoch (train now)",
    "small_per_epoch": "(9) a pipeline per epoch (train before)",
    "small_on_the_fly": "(10) on-the-fly loader, same recordings",
    "small_local_pinned": "(11) local, reader on core 0",
    "small_s3_pinned": "(12) S3 (moto on core 1), reader on core 0",
    "small_deferred": "(13) one reader, waveforms only (no frontend)",
    "small_frontend": "(14) tf frontend alone, in-memory batch",
    "small_steady_uncached": "(15) (7) with the split cache off",
    "small_local_pinned_uncached": "(16) (11) with the split cache off",
    "small_s3_pinned_uncached": "(17) (12) with the split cache off",
}
#: small-split ratios: key -> (numerator, denominator, minimum or None, printed label)
SMALL_RATIOS = {
    "stream_over_steady": ("small_stream", "small_steady", 0.9, "(8) / (7), six epochs"),
    "per_epoch_over_steady": ("small_per_epoch", "small_steady", None, "(9) / (7), six epochs"),
    "flac_over_on_the_fly": ("small_steady", "small_on_the_fly", 10.0, "(7) / (10), flac"),
    "s3_pinned_over_local": ("small_s3_pinned", "small_local_pinned", 0.9, "(12) / (11)"),
    "frontend_over_on_the_fly": ("small_frontend", "small_on_the_fly", None, "(14) / (10), the frontend's ceiling"),
    "uncached_over_on_the_fly": ("small_steady_uncached", "small_on_the_fly", None, "(15) / (10), flac, cache off"),
    "s3_pinned_over_local_uncached": ("small_s3_pinned_uncached", "small_local_pinned_uncached", None, "(17) / (16), cache off"),
}
#: `shardkit train` on the small split: steady input wait (share of step time) and epoch-start wait at most
MAX_TRAIN_INPUT_WAIT = 0.02
MAX_START_WAIT_S = 0.1


# --------------------------------------------------------------------------- the sibling benchmark


def bench_build() -> ModuleType:
    """tools/bench_build.py, imported by path once (tools/ is not a package): the corpus generator."""
    module = sys.modules.get("bench_build")
    if module is None:
        spec = importlib.util.spec_from_file_location("bench_build", TOOLS_DIR / "bench_build.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- corpus, inputs, shards


@dataclass(frozen=True)
class Inputs:
    """The input tree the builds and the on-the-fly loader read.

    Attributes:
        root: ``INPUT`` with one folder per class.
        paths: every recording (all copies).
        labels: the class folder of each recording.
        audio_s: total audio over all copies.
        unique_audio_s: audio actually generated.
    """

    root: Path
    paths: list[Path]
    labels: list[str]
    audio_s: float
    unique_audio_s: float


def _replace_cached(folder: Path, wanted: dict, make: Callable[[Path], None]) -> bool:
    """Reuse ``folder`` when its `CACHE_MARKER` holds ``wanted``; else make it anew. True if made.

    The new content is made in ``FOLDER.partial`` and renamed into place, the marker written
    last, so an interrupted run never leaves a folder that looks complete.

    Raises:
        SystemExit: ``folder`` exists but holds no marker (not made by this script).
    """
    marker = folder / CACHE_MARKER
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return False
    if folder.exists() and not marker.exists():
        raise SystemExit(f"--work: {folder} exists but holds no {CACHE_MARKER}; refusing to replace it")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    make(partial)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    marker.write_text(dumps(wanted, indent=2))
    return True


def ensure_inputs(work: Path, corpus, spec, copies: int) -> Inputs:
    """``WORK/input/<class>/copyNNN/<file>``: ``copies`` hard links of each generated recording.

    Reused while its marker matches the corpus spec and the copy count.
    """
    root = work / "input"
    relpaths = [path.relative_to(corpus.root) for path in corpus.paths]

    def make(folder: Path) -> None:
        for relpath in relpaths:
            for copy in range(copies):
                target = folder / relpath.parts[0] / f"copy{copy:03d}" / relpath.name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(corpus.root / relpath, target)
                except OSError:
                    shutil.copyfile(corpus.root / relpath, target)

    _replace_cached(root, {"corpus": asdict(spec), "copies": copies}, make)
    paths = [root / rel.parts[0] / f"copy{copy:03d}" / rel.name for rel in relpaths for copy in range(copies)]
    labels = [path.relative_to(root).parts[0] for path in paths]
    return Inputs(root, paths, labels, corpus.audio_s * copies, corpus.audio_s)


def ensure_shards(work: Path, inputs: Inputs, codec: str, workers: int) -> Path:
    """Shards of ``inputs`` with ``codec`` under ``WORK/shards-CODEC``, rebuilt when the inputs change."""
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    out = work / f"shards-{codec}"
    config = BuildConfig(codec=codec, workers=workers)
    wanted = {"input": json.loads((inputs.root / CACHE_MARKER).read_text()), "build": config.content_settings()}

    def make(folder: Path) -> None:
        summary = build(str(inputs.root), str(folder), config, progress=False)
        if summary.failures:
            print(f"warning: the {codec} build skipped inputs: {dict(summary.failures)}")
        print(f"built {summary.samples_written} {codec} samples from {inputs.audio_s / 3600:.2f} h in {summary.wall_s:.1f} s", flush=True)

    if not _replace_cached(out, wanted, make):
        print(f"reusing {codec} shards {out}", flush=True)
    return out


def train_samples(shards: Path) -> int:
    """Samples in the train split, from the manifest."""
    return int(json.loads((shards / "manifest.json").read_text())["splits"]["train"]["samples"])


# --------------------------------------------------------------------------- CPU accounting


def _proc_stat(pid: str) -> tuple[int, float] | None:
    """``(ppid, cpu seconds incl. reaped children)`` of a process from /proc; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is the state (field 3 of proc(5)): ppid is field 4, utime..cstime fields 14-17
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s() -> float:
    """CPU-seconds used by this process, its reaped children and every live descendant.

    Pool workers and the S3 server are children that run during a measurement, so they count
    as this benchmark's work, not as other processes' load.
    """
    times = os.times()
    total = times.user + times.system + times.children_user + times.children_system
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return total
    children: dict[int, list[tuple[str, float]]] = {}
    for pid in pids:
        stat = _proc_stat(pid)
        if stat is not None:
            children.setdefault(stat[0], []).append((pid, stat[1]))
    todo = [os.getpid()]
    while todo:
        for pid, cpu_s in children.get(todo.pop(), []):
            total += cpu_s
            todo.append(int(pid))
    return total


def timed(run: Callable[[], float]) -> tuple[float, float | None]:
    """bench_build's timing, counting live children (pool workers, the S3 server) as ours."""
    return bench_build().timed_run(run, own_cpu=tree_cpu_s)


@dataclass
class Rate:
    """Repeated runs of one samples/s measurement; the best is reported.

    Attributes:
        name: what was measured.
        runs: samples/s of every run that finished.
        other_cores: per finished run, cores other processes kept busy (None off Linux).
        errors: why runs (or their setup) failed, as ``Type: message``.
    """

    name: str
    runs: list[float] = field(default_factory=list)
    other_cores: list[float | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def best(self) -> float | None:
        """Highest samples/s over the runs; None when every run failed."""
        return max(self.runs) if self.runs else None

    @property
    def best_other_cores(self) -> float | None:
        """Other processes' load during the best run."""
        return self.other_cores[self.runs.index(self.best)] if self.runs else None


def attempt(what: str, run: Callable[[], T]) -> tuple[T | None, str | None]:
    """``(run(), None)``, or ``(None, "Type: message")`` with the traceback on stderr.

    One broken measurement (say, a reader mode mid-refactor) must not lose every other figure.
    """
    try:
        return run(), None
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON, and main() returns 1
        traceback.print_exc()
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        last = lines[-1] if lines else ""  # TF puts the real cause of a traced error last
        error = last if last.startswith(type(exc).__name__) else f"{type(exc).__name__}: {last}"
        print(f"  {what}: ERROR {error}", flush=True)
        return None, error


def measure(name: str, repeats: int, run: Callable[[], float]) -> Rate:
    """Call ``run()`` (which returns samples/s) ``repeats`` times, printing each result."""
    rate = Rate(name)
    for repeat in range(repeats):
        result, error = attempt(f"{name} run {repeat + 1}/{repeats}", lambda: timed(run))
        if error is not None:
            rate.errors.append(error)
            continue
        value, other = result
        rate.runs.append(value)
        rate.other_cores.append(other)
        load = "" if other is None else f"  (other processes kept {other:.1f} cores busy)"
        print(f"  {name:<22} run {repeat + 1}/{repeats}: {value:9.1f} samples/s{load}", flush=True)
    return rate


def measure_with(name: str, repeats: int, setup: Callable[[], object], run: Callable[[object], float]) -> Rate:
    """`measure` ``run(resource)`` inside the context manager ``setup()``; a failed setup fails the figure."""

    def session() -> Rate:
        with setup() as resource:
            return measure(name, repeats, lambda: run(resource))

    rate, error = attempt(f"{name} setup", session)
    return rate if error is None else Rate(name, errors=[error])


# --------------------------------------------------------------------------- epoch timing (pure)


@dataclass(frozen=True)
class EpochTiming:
    """One epoch of a stream: samples yielded and the seconds from the previous epoch's last batch."""

    epoch: int
    samples: int
    seconds: float

    @property
    def rate(self) -> float:
        """Samples per second (0 for an empty or instantaneous epoch)."""
        return self.samples / self.seconds if self.seconds > 0 else 0.0


def epoch_timings(
    batches: Iterable[tuple[int, int]], on_epoch_end: Callable[[int], None] | None = None, clock: Callable[[], float] = time.perf_counter
) -> list[EpochTiming]:
    """Time each epoch of a stream of ``(epoch, batch size)`` pairs.

    Epoch 0 is timed from the call (it carries the warm-up); every later epoch from the arrival
    of the previous epoch's last batch to the arrival of its own last batch.

    Args:
        batches: ``(epoch, samples)`` per batch, epochs ascending.
        on_epoch_end: called with the epoch number once an epoch is known to be complete.
        clock: seconds (for tests).
    """
    timings: list[EpochTiming] = []
    started = last = clock()
    epoch, samples = None, 0
    for batch_epoch, batch_samples in batches:
        now = clock()
        if batch_epoch != epoch:
            if epoch is not None:
                timings.append(EpochTiming(epoch, samples, last - started))
                if on_epoch_end is not None:
                    on_epoch_end(epoch)
                started = last
            epoch, samples = batch_epoch, 0
        samples += batch_samples
        last = now
    if epoch is not None:
        timings.append(EpochTiming(epoch, samples, last - started))
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    return timings


def steady_rate(batches: Iterable[tuple[int, int]]) -> float:
    """Samples/s over every epoch after the first (the warm-up) of a stream."""
    timings = epoch_timings(batches)
    timed = timings[1:]
    if not timed or any(t.samples == 0 for t in timed):
        raise RuntimeError(f"expected a warm-up epoch and non-empty timed epochs, got {[(t.epoch, t.samples) for t in timings]}")
    return sum(t.samples for t in timed) / sum(t.seconds for t in timed)


def rss_mb() -> float:
    """Resident set size of this process in MB (from /proc/self/statm, else the peak from resource)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


# --------------------------------------------------------------------------- (1) (2) (6) shardkit


def shardkit_batches(
    source: str, placement: str = "pipeline", epochs: int = 1 + TIMED_EPOCHS, storage_options: dict | None = None, tune_malloc: bool = True
) -> Iterator[tuple[int, int]]:
    """``(epoch, batch size)`` per batch of a training `ShardReader` (shuffling on, batch 64; ``tune_malloc`` as in `ReaderConfig`)."""
    from shardkit.read.config import ReaderConfig
    from shardkit.read.dataset import ShardReader

    config = ReaderConfig(
        batch_size=BATCH_SIZE,
        epochs=epochs,
        training=True,
        placement=placement,
        with_position=True,
        storage_options=dict(storage_options or {}),
        tune_malloc=tune_malloc,
    )
    for _features, labels, position in ShardReader(source, config).dataset():
        yield int(position[0]), int(labels.shape[0])


def memory_over_epochs(source: str, epochs: int, tune_malloc: bool = True) -> dict:
    """RSS after each of ``epochs`` epochs of (1, pcm16) in one dataset, and each epoch's rate."""
    rss: list[float] = []
    timings = epoch_timings(shardkit_batches(source, epochs=epochs, tune_malloc=tune_malloc), on_epoch_end=lambda _: rss.append(rss_mb()))
    growth = rss[-1] - rss[1] if len(rss) > 1 else 0.0
    allowed = max(MEMORY_FLAT_RATIO * rss[1], MEMORY_FLAT_MB) if len(rss) > 1 else MEMORY_FLAT_MB
    return {
        "epochs": epochs,
        "rss_mb": rss,
        "samples_per_s": [t.rate for t in timings],
        "growth_mb": growth,
        "allowed_growth_mb": allowed,
        "passed": len(rss) > 1 and growth < allowed,
    }


# --------------------------------------------------------------------------- (3) the on-the-fly loader


def energy_crop_starts(audio: np.ndarray, chunk_samples: int, max_chunks: int, hop: int = ENERGY_HOP) -> list[int]:
    """Starts of up to ``max_chunks`` non-overlapping chunks centred on the loudest energy frames.

    The smart crop of on-the-fly loaders: short-time energy over frames of ``hop`` samples,
    frames taken by descending energy, a chunk centred on each unless it overlaps one already
    taken. A signal no longer than one chunk gives ``[0]``.
    """
    n = len(audio)
    if n <= chunk_samples:
        return [0]
    n_frames = n // hop
    energy = np.square(audio[: n_frames * hop], dtype=np.float32).reshape(n_frames, hop).sum(axis=1)
    starts: list[int] = []
    for frame in np.argsort(-energy, kind="stable"):
        start = int(min(max(frame * hop + hop // 2 - chunk_samples // 2, 0), n - chunk_samples))
        if all(abs(start - other) >= chunk_samples for other in starts):
            starts.append(start)
            if len(starts) == max_chunks:
                break
    return starts


def on_the_fly_file(path: str, frontend: FrontendConfig = FrontendConfig(), max_chunks: int = MAX_CHUNKS_PER_FILE) -> np.ndarray:
    """One raw recording → ``[k, rows, W]`` spectrograms: decode whole, resample, smart-crop, STFT."""
    audio, rate_hz = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate_hz != frontend.sample_rate_hz:
        audio = soxr.resample(audio, rate_hz, frontend.sample_rate_hz, quality="HQ")
    n = frontend.chunk_samples
    chunks = [np.pad(audio[start : start + n], (0, max(0, n - len(audio[start : start + n])))) for start in energy_crop_starts(audio, n, max_chunks)]
    return np.stack([reference_frontend(chunk, frontend) for chunk in chunks])


def _pool_ready(_: int) -> int:
    """Warm a worker: load soxr's and numpy's code paths once before the timed epoch."""
    on_the_fly_chunk = np.zeros(FrontendConfig().chunk_samples, dtype=np.float32)
    soxr.resample(np.zeros(4800, dtype=np.float32), 48000, 24000, quality="HQ")
    reference_frontend(on_the_fly_chunk, FrontendConfig())
    return os.getpid()


def on_the_fly_epoch(pool, paths: Sequence[Path], labels: Sequence[str], classes: Sequence[str], seed: int) -> tuple[int, int]:
    """One epoch in a shuffled file order; the parent assembles batches of 64. Returns (chunks, full batches)."""
    order = np.random.default_rng(seed).permutation(len(paths))
    index = {name: i for i, name in enumerate(classes)}
    features, targets, made, batches = [], [], 0, 0
    jobs = ((str(paths[i]), labels[i]) for i in order)
    for spectrograms, label in pool.imap_unordered(_on_the_fly_job, jobs, chunksize=1):
        vector = np.zeros(len(classes), np.float32)
        if label in index:
            vector[index[label]] = 1.0
        for spectrogram in spectrograms:
            features.append(spectrogram)
            targets.append(vector)
            made += 1
            if len(features) == BATCH_SIZE:
                batch = (np.stack(features)[..., np.newaxis], np.stack(targets))
                batches += len(batch[1]) // BATCH_SIZE
                features, targets = [], []
    return made, batches


def _on_the_fly_job(job: tuple[str, str]) -> tuple[np.ndarray, str]:
    path, label = job
    return on_the_fly_file(path), label


def on_the_fly_rate(pool, inputs: Inputs, classes: Sequence[str], seed: int) -> float:
    """Chunks per second over one epoch of the on-the-fly loader on an already-warm pool."""
    started = time.perf_counter()
    made, _batches = on_the_fly_epoch(pool, inputs.paths, inputs.labels, classes, seed)
    return made / (time.perf_counter() - started)


@contextmanager
def on_the_fly_pool(processes: int) -> Iterator[object]:
    """A long-lived spawn pool of ``processes`` workers that never import TensorFlow, warmed up.

    Workers import this module by name to find the task functions: when it was imported by
    path (tests), its folder joins ``sys.path`` (which spawned children inherit) while the
    pool lives.
    """
    added = __name__ != "__main__" and str(TOOLS_DIR) not in sys.path
    if added:
        sys.path.insert(0, str(TOOLS_DIR))
    try:
        with single_thread_env():  # 1 BLAS/OpenMP thread per worker, as a real loader should
            pool = multiprocessing.get_context("spawn").Pool(processes)
        try:
            pool.map(_pool_ready, range(4 * processes), chunksize=1)
            yield pool
        finally:
            pool.terminate()
            pool.join()
    finally:
        if added:
            sys.path.remove(str(TOOLS_DIR))


# --------------------------------------------------------------------------- (4) TFRecords


def write_tfrecords(shards: Path, out: Path) -> tuple[list[str], int, int]:
    """The train samples of ``shards`` (pcm16) as tf.train.Example records, one file per shard.

    Returns:
        ``(files, records, classes)``.
    """
    import tensorflow as tf

    from shardkit.read.config import ReaderConfig
    from shardkit.read.dataset import ShardReader

    reader = ShardReader(str(shards), ReaderConfig(training=False))
    column = {name: i for i, name in enumerate(reader.classes)}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    files = [str(out / f"train-{i:04d}.tfrecord") for i in range(len(reader.urls))]
    writers = [tf.io.TFRecordWriter(name) for name in files]
    records = 0
    try:
        for index, sample in reader.samples(0):
            labels = np.zeros(len(column), np.float32)
            labels[[column[name] for name in sample.meta.get("labels", []) if name in column]] = 1.0
            feature = {
                "audio": tf.train.Feature(bytes_list=tf.train.BytesList(value=[sample.audio])),
                "labels": tf.train.Feature(float_list=tf.train.FloatList(value=labels)),
            }
            writers[index % len(writers)].write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
            records += 1
    finally:
        for writer in writers:
            writer.close()
    return files, records, len(reader.classes)


@contextmanager
def tfrecords(shards: Path, out: Path) -> Iterator[tuple[list[str], int, int]]:
    """`write_tfrecords` as a context (the files stay for inspection)."""
    yield write_tfrecords(shards, out)


def tfrecord_batches(files: Sequence[str], records: int, n_classes: int, shuffle_buffer: int, epochs: int = 1 + TIMED_EPOCHS) -> Iterator[tuple[int, int]]:
    """``(epoch, batch size)`` per batch of the plain tf.data pipeline over TFRecords."""
    import tensorflow as tf

    from shardkit.audio.frontends_tf import tf_frontend

    frontend = FrontendConfig()
    n = frontend.chunk_samples
    spec = {"audio": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.FixedLenFeature([n_classes], tf.float32)}

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        audio = tf.cast(tf.io.decode_raw(example["audio"], tf.int16, little_endian=True), tf.float32) / 32768.0
        audio = tf.pad(audio[:n], [[0, n - tf.minimum(tf.shape(audio)[0], n)]])
        audio.set_shape([n])
        return audio, example["labels"]

    names = tf.data.Dataset.from_tensor_slices(list(files)).shuffle(len(files), seed=0)
    ds = tf.data.TFRecordDataset(names, num_parallel_reads=tf.data.AUTOTUNE)
    ds = ds.shuffle(shuffle_buffer, seed=0).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(BATCH_SIZE, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda audio, labels: (tf_frontend(audio, frontend)[..., tf.newaxis], labels), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.repeat(epochs).prefetch(tf.data.AUTOTUNE)
    per_epoch = records // BATCH_SIZE
    for i, (_features, labels) in enumerate(ds):
        yield i // per_epoch, int(labels.shape[0])


# --------------------------------------------------------------------------- (5) the frontend alone


def frontend_batches(n_batches: int, warmup_batches: int = 2) -> Iterator[tuple[int, int]]:
    """``(0, 64)`` for ``warmup_batches`` batches, then ``(1, 64)``: the tf frontend on one in-memory batch."""
    import tensorflow as tf

    from shardkit.audio.frontends_tf import tf_frontend

    frontend = FrontendConfig()
    batch = (np.random.default_rng(0).standard_normal((BATCH_SIZE, frontend.chunk_samples)) * 0.1).astype(np.float32)
    ds = tf.data.Dataset.from_tensors(batch).repeat(n_batches + warmup_batches)
    ds = ds.map(lambda audio: tf_frontend(audio, frontend)[..., tf.newaxis], num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    for i, features in enumerate(ds):
        yield int(i >= warmup_batches), int(features.shape[0])


# --------------------------------------------------------------------------- (2) S3 on loopback


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def loopback_s3(server_cores: str | None = None) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 in a separate process (on ``server_cores``, a taskset list, if given); yields its endpoint URL, stops it after."""
    port = _free_port()
    pin = ["taskset", "-c", server_cores] if server_cores is not None else []
    command = [*pin, sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + S3_START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server on port {port} did not start (exit code {server.poll()})") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def upload_shards(shards: Path, endpoint: str, prefix: str) -> tuple[str, dict]:
    """Upload the manifest's train shards (and the manifest, last) with s3fs; return the URL and storage options."""
    import s3fs

    options = {"endpoint_url": endpoint, **S3_CREDENTIALS}
    fs = s3fs.S3FileSystem(**options)
    if not fs.exists(S3_BUCKET):
        fs.mkdir(S3_BUCKET)
    manifest = json.loads((shards / "manifest.json").read_text())
    names = [shard["name"] for shard in manifest["splits"]["train"]["shards"]]
    for name in [*names, "manifest.json"]:
        fs.put_file(str(shards / name), f"{S3_BUCKET}/{prefix}/{name}")
    return f"s3://{S3_BUCKET}/{prefix}", options


@contextmanager
def s3_copy(shards: Path, prefix: str, server_cores: str | None = None) -> Iterator[tuple[str, dict]]:
    """A loopback S3 server (on ``server_cores``, if given) holding the train shards of ``shards``: yields ``(url, storage options)``."""
    with loopback_s3(server_cores) as endpoint:
        yield upload_shards(shards, endpoint, prefix)


# --------------------------------------------------------------------------- bucketed padding


def bucketed_padding(work: Path, segments: int) -> dict:
    """Padding ratio and batch shapes of bucketed batching on log-uniform 0.5-10 s segments.

    The shards come from tests/read/test_bucketing.py's ``write_variable_shards`` (pcm16 at
    its 8 kHz rate), read in evaluation order with the raw frontend and the default buckets.
    """
    from shardkit.read.config import ReaderConfig
    from shardkit.read.dataset import ShardReader

    spec = importlib.util.spec_from_file_location("bench_reader_bucketing", REPO_ROOT / "tests" / "read" / "test_bucketing.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    folder = work / "bucketed"
    _replace_cached(folder, {"segments": segments, "sample_rate_hz": helpers.SR}, lambda partial: helpers.write_variable_shards(partial, n=segments))
    frontend = FrontendConfig(name="raw", sample_rate_hz=helpers.SR, chunk_s=3.0)
    config = ReaderConfig(batching="bucketed", training=False, frontend=frontend)
    real = padded = seen = 0
    lengths_padded, shapes = set(), set()
    for x, _labels in ShardReader(str(folder), config).dataset():
        features, lengths = x["features"], x["lengths"].numpy()
        shapes.add(tuple(features.shape))
        lengths_padded.add(int(features.shape[1]))
        real += int(lengths.sum())
        padded += int(np.prod(features.shape))
        seen += len(lengths)
    return {
        "segments": seen,
        "padding_ratio": 1 - real / padded,
        "padded_lengths": len(lengths_padded),
        "batch_shapes": len(shapes),
        "max_padding_ratio": MAX_BUCKET_PADDING,
        "passed": 1 - real / padded <= MAX_BUCKET_PADDING,
    }


# --------------------------------------------------------------------------- epoch boundaries on a small split


@contextmanager
def pinned(cores: set[int]) -> Iterator[None]:
    """Every thread of this process on ``cores`` while inside (threads they start inherit it); restored after (Linux only)."""
    before: dict[int, set[int]] = {}
    for tid in (int(name) for name in os.listdir("/proc/self/task")):
        try:
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cores)
        except OSError:  # a thread that ended meanwhile
            continue
    try:
        yield
    finally:
        for tid, cores_before in before.items():
            try:
                os.sched_setaffinity(tid, cores_before)
            except OSError:
                continue


def small_split(work: Path, files: int, seed: int, cores: int) -> tuple[Inputs, Path]:
    """``WORK/small``: ``files`` recordings of 20-90 s (one copy each) and their flac shards, made once."""
    bb = bench_build()
    folder = work / "small"
    folder.mkdir(parents=True, exist_ok=True)
    spec = bb.CorpusSpec(files=files, min_minutes=SMALL_SECONDS[0] / 60, max_minutes=SMALL_SECONDS[1] / 60, seed=seed)
    corpus = bb.ensure_corpus(folder, spec)
    inputs = ensure_inputs(folder, corpus, spec, 1)
    return inputs, ensure_shards(folder, inputs, "flac", cores)


def training_reader(source: str, epochs: int | None, storage_options: dict | None = None, cache_mb: int | None = None):
    """The training `ShardReader` of the epoch figures: batch 64, hybrid frontend, positions on (``cache_mb``: the default's)."""
    from shardkit.read.config import ReaderConfig
    from shardkit.read.dataset import ShardReader

    cache = {} if cache_mb is None else {"cache_mb": cache_mb}
    config = ReaderConfig(batch_size=BATCH_SIZE, epochs=epochs, training=True, with_position=True, storage_options=dict(storage_options or {}), **cache)
    return ShardReader(source, config)


def steady_batches(
    source: str, epochs: int = 1 + BOUNDARY_EPOCHS, storage_options: dict | None = None, cache_mb: int | None = None
) -> Iterator[tuple[int, int]]:
    """The steady state: one reader with ``epochs=None``, read for ``epochs`` epochs."""
    for _features, labels, position in training_reader(source, None, storage_options, cache_mb).dataset():
        if int(position[0]) >= epochs:
            return
        yield int(position[0]), int(labels.shape[0])


def stream_batches(source: str, starts: list[float], epochs: int = 1 + BOUNDARY_EPOCHS) -> Iterator[tuple[int, int]]:
    """What `train` reads now: one pipeline over the run, an epoch at a time (`EpochStream`); each epoch's start wait into ``starts``."""
    from shardkit.read.epochs import EpochStream

    with EpochStream(training_reader(source, epochs).dataset()) as stream:
        for epoch in range(epochs):
            yield from _timed_start(((epoch, int(labels.shape[0])) for _features, labels in stream.epoch(epoch)), starts)


def per_epoch_batches(source: str, starts: list[float], epochs: int = 1 + BOUNDARY_EPOCHS) -> Iterator[tuple[int, int]]:
    """What `train` read before: a new pipeline per epoch; each epoch's start wait into ``starts``."""
    from shardkit.read.dataset import ReaderPosition

    reader = training_reader(source, 1)
    for epoch in range(epochs):
        yield from _timed_start(((epoch, int(labels.shape[0])) for _f, labels, _p in reader.dataset(ReaderPosition(epoch, 0))), starts)


def _timed_start(batches: Iterator[tuple[int, int]], starts: list[float]) -> Iterator[tuple[int, int]]:
    """``batches``, appending to ``starts`` the seconds from the call to the first batch."""
    asked = time.perf_counter()
    for n, batch in enumerate(batches):
        if n == 0:
            starts.append(time.perf_counter() - asked)
        yield batch


def median_after_warm_up(starts: list[float]) -> float | None:
    """The median of every epoch's start wait but the first (the warm-up)."""
    later = sorted(starts[1:])
    return later[len(later) // 2] if later else None


def train_waits(shards: Path, out: Path, epochs: int) -> dict:
    """`shardkit train` on the small split: input wait and epoch-start wait of every epoch after the first."""
    from shardkit.train.config import config_from_options
    from shardkit.train.runner import train

    shutil.rmtree(out, ignore_errors=True)
    config = config_from_options({"name": "bench", "sample_rate_hz": 24000, "epochs": epochs, "batch_size": BATCH_SIZE, "alpha": 0.5})
    history = train(str(shards), str(out), config, verbose=0).history
    later = history[1:]
    return {
        "epochs": epochs,
        "input_wait": [row["input_wait"] for row in history],
        "start_wait_s": [row["start_wait_s"] for row in history],
        "max_input_wait": max(row["input_wait"] for row in later),
        "median_start_wait_s": sorted(row["start_wait_s"] for row in later)[len(later) // 2],
    }


def measure_rounds(figures: dict[str, tuple[str, Callable[[], float]]], repeats: int) -> dict[str, Rate]:
    """`measure` each figure once per round, ``repeats`` rounds: run ``i`` of every figure ran close in time (see `paired_ratio`)."""
    rates = {key: Rate(name) for key, (name, _run) in figures.items()}
    for _round in range(repeats):
        for key, (name, run) in figures.items():
            once = measure(name, 1, run)
            rates[key].runs += once.runs
            rates[key].other_cores += once.other_cores
            rates[key].errors += once.errors
    return rates


def paired_ratio(numerator: Rate, denominator: Rate) -> float | None:
    """The median over rounds of run ``i`` / run ``i`` (figures measured in the same rounds); else best / best.

    On a shared machine the load drifts between rounds; a ratio of runs made side by side
    cancels most of it, where a ratio of two bests taken in different rounds would not.
    """
    if numerator.errors or denominator.errors or not numerator.runs or not denominator.runs:
        return None
    if len(numerator.runs) != len(denominator.runs):
        return numerator.best / denominator.best
    ratios = sorted(n / d for n, d in zip(numerator.runs, denominator.runs, strict=True))
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


def small_split_figures(args: argparse.Namespace, cores: int) -> dict:
    """Every figure of the small split (epoch boundaries, train's waits, on-the-fly, S3 pinned), measured in this one run."""
    inputs, shards = small_split(args.work, args.small_files, args.seed, cores)
    source, samples = str(shards), train_samples(shards)
    classes = json.loads((shards / "manifest.json").read_text())["classes"]
    print(f"small split: {samples} train samples from {len(inputs.paths)} recordings of {SMALL_SECONDS[0]}-{SMALL_SECONDS[1]} s", flush=True)
    starts: dict[str, list[float]] = {"stream": [], "per_epoch": []}
    repeats = args.repeats
    rates = measure_rounds(
        {
            "small_steady": ("(7) steady, epochs=None", lambda: steady_rate(steady_batches(source))),
            "small_stream": ("(8) one pipeline, cut", lambda: steady_rate(stream_batches(source, starts["stream"]))),
            "small_per_epoch": ("(9) pipeline per epoch", lambda: steady_rate(per_epoch_batches(source, starts["per_epoch"]))),
        },
        args.boundary_rounds,
    )
    rates["small_steady_uncached"] = measure("(15) steady, cache off", repeats, lambda: steady_rate(steady_batches(source, cache_mb=0)))
    rates["small_deferred"] = measure("(13) waveforms only", repeats, lambda: steady_rate(shardkit_batches(source, "deferred", epochs=1 + BOUNDARY_EPOCHS)))
    rates["small_frontend"] = measure("(14) frontend alone", repeats, lambda: steady_rate(frontend_batches(args.frontend_batches)))
    seeds = iter(range(repeats))
    rates["small_on_the_fly"] = measure_with(
        "(10) on-the-fly pool", repeats, lambda: on_the_fly_pool(cores), lambda pool: on_the_fly_rate(pool, inputs, classes, seed=next(seeds))
    )
    rates.update(pinned_rates(shards, repeats, cores))
    print(f"  train: {args.train_epochs} epochs of shardkit train on the small split ...", flush=True)
    waits, error = attempt("train waits", lambda: train_waits(shards, args.work / "small" / "train-out", args.train_epochs))
    return {
        "train_samples": samples,
        "recordings": len(inputs.paths),
        "audio_h": inputs.audio_s / 3600,
        "rates": rates,
        "start_wait_s": {key: median_after_warm_up(values) for key, values in starts.items()},
        "train": waits if error is None else {"error": error},
    }


def pinned_rates(shards: Path, repeats: int, cores: int) -> dict[str, Rate]:
    """(11) local and (12) S3 steady flac rates with the reader on core 0 and the S3 server on core 1; (16) and (17) with the cache off."""
    keys = ("small_local_pinned", "small_s3_pinned", "small_local_pinned_uncached", "small_s3_pinned_uncached")
    if cores < 2:
        reason = f"RuntimeError: the pinned S3 figures need 2 cores; {cores} available"
        return {key: Rate(key, errors=[reason]) for key in keys}
    rates = {}
    with pinned({0}):
        for cache_mb, (local_key, s3_key, local_label, s3_label) in ((None, (*keys[:2], "(11)", "(12)")), (0, (*keys[2:], "(16)", "(17)"))):
            rates[local_key] = measure(f"{local_label} local, core 0", repeats, lambda c=cache_mb: steady_rate(steady_batches(str(shards), cache_mb=c)))
            rates[s3_key] = measure_with(
                f"{s3_label} S3, reader core 0",
                repeats,
                lambda: s3_copy(shards, "small-flac", server_cores="1"),
                lambda where, c=cache_mb: steady_rate(steady_batches(where[0], storage_options=where[1], cache_mb=c)),
            )
    return rates


# --------------------------------------------------------------------------- the run


def run_benchmark(args: argparse.Namespace) -> dict:
    """Prepare corpora and shards, then measure everything; return the JSON-ready report."""
    args.work.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    import tensorflow as tf  # noqa: F401 - imported once here so no figure carries the import

    from shardkit.read.malloc import keep_large_buffers_on_the_heap

    # the readers apply this themselves (ReaderConfig.tune_malloc); doing it first puts every in-process figure
    # (baselines too) under the same allocator. --no-tune-malloc leaves glibc's defaults everywhere, to measure the choice
    args.malloc_tuned = keep_large_buffers_on_the_heap() if args.tune_malloc else False
    print(f"allocator: large buffers kept on the heap: {args.malloc_tuned}", flush=True)
    report = {} if args.small_only else reader_figures(args, cores)
    report.setdefault("machine", machine_info(cores))
    report["small"] = small_report(small_split_figures(args, cores))
    return report


def machine_info(cores: int) -> dict:
    """The machine the figures were measured on."""
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": cores,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def reader_figures(args: argparse.Namespace, cores: int) -> dict:
    """Figures (1)-(6), memory and bucketing on the large corpus; the report of `make_report`."""
    bb = bench_build()
    spec = bb.CorpusSpec(files=args.files, min_minutes=args.min_minutes, max_minutes=args.max_minutes, seed=args.seed)
    corpus = bb.ensure_corpus(args.work, spec)
    inputs = ensure_inputs(args.work, corpus, spec, args.copies)
    shards = {codec: ensure_shards(args.work, inputs, codec, cores) for codec in ("pcm16", "flac")}
    samples = train_samples(shards["pcm16"])
    if samples < BATCH_SIZE:
        raise SystemExit(f"--copies: the train split holds {samples} samples, fewer than one batch of {BATCH_SIZE}; raise --copies (got {args.copies})")
    classes = json.loads((shards["pcm16"] / "manifest.json").read_text())["classes"]
    print(f"train split: {samples} samples ({samples // BATCH_SIZE} batches of {BATCH_SIZE} per epoch); measuring on {cores} cores", flush=True)
    batches = functools.partial(shardkit_batches, tune_malloc=args.tune_malloc)

    repeats, rates = args.repeats, {}
    rates["frontend_only"] = measure("(5) frontend alone", repeats, lambda: steady_rate(frontend_batches(args.frontend_batches)))
    rates["shardkit_local_pcm16"] = measure("(1) local pcm16", repeats, lambda: steady_rate(batches(str(shards["pcm16"]))))
    rates["shardkit_local_flac"] = measure("(1) local flac", repeats, lambda: steady_rate(batches(str(shards["flac"]))))
    rates["deferred_pcm16"] = measure("(6) deferred pcm16", repeats, lambda: steady_rate(batches(str(shards["pcm16"]), "deferred")))
    rates["deferred_flac"] = measure("(6) deferred flac", repeats, lambda: steady_rate(batches(str(shards["flac"]), "deferred")))
    rates["tfrecord"] = measure_with(
        "(4) TFRecords",
        repeats,
        lambda: tfrecords(shards["pcm16"], args.work / "tfrecords"),
        lambda written: steady_rate(tfrecord_batches(*written, shuffle_buffer=1000)),
    )
    epochs = iter(range(repeats))
    rates["on_the_fly"] = measure_with(
        "(3) on-the-fly pool", repeats, lambda: on_the_fly_pool(cores), lambda pool: on_the_fly_rate(pool, inputs, classes, seed=next(epochs))
    )
    rates["shardkit_s3_pcm16"] = measure_with(
        "(2) S3 loopback pcm16",
        repeats,
        lambda: s3_copy(shards["pcm16"], "pcm16"),
        lambda where: steady_rate(batches(where[0], storage_options=where[1])),
    )
    print(f"  memory: {args.memory_epochs} epochs of (1) local pcm16 ...", flush=True)
    memory, error = attempt("memory", lambda: memory_over_epochs(str(shards["pcm16"]), args.memory_epochs, args.tune_malloc))
    memory = memory if error is None else {"error": error}
    print("  bucketed batching on log-uniform 0.5-10 s segments ...", flush=True)
    bucketing, error = attempt("bucketing", lambda: bucketed_padding(args.work, args.bucket_segments))
    bucketing = bucketing if error is None else {"error": error}
    return make_report(args, inputs, samples, cores, rates, memory, bucketing)


# --------------------------------------------------------------------------- report


def ratio_values(rates: dict[str, float | None]) -> dict[str, float | None]:
    """Every ratio of `RATIOS` from the best rates (None where a figure is missing)."""
    return {key: rates[num] / rates[den] if rates[num] and rates[den] else None for key, (num, den, _target, _label) in RATIOS.items()}


def _check(value: float | None, target: float, op: str) -> dict:
    passed = value is not None and {">=": value >= target, "<=": value <= target, "<": value < target}[op]
    return {"value": value, "target": target, "op": op, "passed": passed}


def make_report(args: argparse.Namespace, inputs: Inputs, samples: int, cores: int, rates: dict[str, Rate], memory: dict, bucketing: dict) -> dict:
    """Everything the table shows, as a JSON-ready dict (a failed figure is None, its error kept)."""
    best = {key: rates[key].best for key in RATES}
    ratios = ratio_values(best)
    checks = {key: _check(ratios[key], target, ">=") for key, (_num, _den, target, _label) in RATIOS.items() if target is not None}
    checks["bucketed_padding"] = _check(bucketing.get("padding_ratio"), MAX_BUCKET_PADDING, "<=")
    checks["memory_growth_mb"] = _check(memory.get("growth_mb"), memory.get("allowed_growth_mb", MEMORY_FLAT_MB), "<")
    errors = {key: rate.errors for key, rate in rates.items() if rate.errors}
    errors.update({name: [part["error"]] for name, part in (("memory", memory), ("bucketing", bucketing)) if "error" in part})
    return {
        "corpus": {
            "files": args.files,
            "copies": args.copies,
            "recordings": len(inputs.paths),
            "min_minutes": args.min_minutes,
            "max_minutes": args.max_minutes,
            "unique_audio_h": inputs.unique_audio_s / 3600,
            "audio_h": inputs.audio_s / 3600,
            "train_samples": samples,
            "work": str(args.work),
        },
        "machine": machine_info(cores),
        "output": {"frontend": FrontendConfig().to_dict(), "batch_size": BATCH_SIZE, "features_shape": [BATCH_SIZE, *FrontendConfig().output_shape, 1]},
        "repeats": args.repeats,
        "malloc_tuned": getattr(args, "malloc_tuned", None),
        "note": f"best of {args.repeats} run(s); tf.data figures time {TIMED_EPOCHS} epochs after a warm-up epoch; the machine is shared and noisy",
        "rates": best,
        "ratios": ratios,
        "runs": {key: rate.runs for key, rate in rates.items()},
        "other_cores_busy": {key: rate.other_cores for key, rate in rates.items()},
        "other_cores_busy_in_best": {key: rate.best_other_cores for key, rate in rates.items()},
        "memory": memory,
        "bucketing": bucketing,
        "checks": checks,
        "errors": errors,
    }


def _verdict(check: dict | None) -> str:
    if check is None:
        return "-"
    if check["value"] is None:
        return "ERROR"
    return "PASS" if check["passed"] else "MISS"


def _fmt(value: float | None, spec: str, width: int) -> str:
    return ("ERROR" if value is None else format(value, spec)).rjust(width)


def format_table(report: dict) -> str:
    """The printed report: a header, every rate, then every ratio and check beside its target."""
    corpus, machine, busy, checks = report["corpus"], report["machine"], report["other_cores_busy_in_best"], report["checks"]
    lines = [
        f"shardkit reader benchmark: {corpus['recordings']} recordings ({corpus['files']} generated x {corpus['copies']} copies, "
        f"{corpus['min_minutes']:g}-{corpus['max_minutes']:g} min, {corpus['audio_h']:.2f} h of 48 kHz FLAC), {corpus['train_samples']} train samples; "
        f"{machine['cpu_count']} CPUs ({machine['cpus_available']} available): {machine['cpu_model']}",
        f"output [64, 256, 256, 1] float32 (hybrid, 3 s at 24 kHz); {report['note']}",
        "",
        f"{'measurement':<48} {'samples/s':>10} {'target':>9}  {'result':<6}  others busy",
    ]
    for key, label in RATES.items():
        other = busy.get(key)
        lines.append(f"{label:<48} {_fmt(report['rates'][key], '.1f', 10)} {'':>9}  {'':<6}  {'' if other is None else f'{other:.1f} cores'}".rstrip())
    lines.append("")
    for key, (_num, _den, target, label) in RATIOS.items():
        wanted = "-" if target is None else f">={target:g}x"
        ratio = report["ratios"][key]
        lines.append(f"{'ratio ' + label:<48} {_fmt(ratio, '.2f', 9)}{'' if ratio is None else 'x'} {wanted:>9}  {_verdict(checks.get(key)):<6}".rstrip())
    bucketing, memory = report["bucketing"], report["memory"]
    shapes = f"  {bucketing['padded_lengths']} padded lengths, {bucketing['batch_shapes']} batch shapes" if "error" not in bucketing else ""
    lines.append(
        f"{'bucketed padding, log-uniform 0.5-10 s':<48} {_fmt(bucketing.get('padding_ratio'), '.1%', 10)} {'<=5.0%':>9}  "
        f"{_verdict(checks['bucketed_padding']):<6}{shapes}".rstrip()
    )
    memory_label = f"reader RSS growth, epoch 2 -> {memory.get('epochs', '?')}"
    allowed = f"<{checks['memory_growth_mb']['target']:.0f}MB"
    growth = memory.get("growth_mb")
    growth_text = _fmt(growth, "+.1f", 8) + ("" if growth is None else "MB")
    lines.append(f"{memory_label:<48} {growth_text:>10} {allowed:>9}  {_verdict(checks['memory_growth_mb']):<6}".rstrip())
    if "error" not in memory:
        lines.append(f"  RSS after each epoch (MB): {', '.join(f'{v:.0f}' for v in memory['rss_mb'])}")
        lines.append(f"  (1, pcm16) samples/s per epoch: {', '.join(f'{v:.0f}' for v in memory['samples_per_s'])}")
    for name, errors in report["errors"].items():
        lines.append(f"error in {name}: {errors[-1]}")
    busiest = max((v for v in busy.values() if v is not None), default=0.0)
    if busiest >= BUSY_OTHER_CORES:
        lines.append(f"note: other processes kept up to {busiest:.1f} cores busy during a kept run; rerun on a quiet machine for clean figures")
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name (as lscpu shows it), from /proc/cpuinfo; else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def small_report(small: dict) -> dict:
    """The small split's figures as JSON-ready rates, ratios and checks (a failed figure is None, its error kept)."""
    rates, train = small["rates"], small["train"]
    best = {key: rates[key].best for key in SMALL_RATES}
    ratios = {key: paired_ratio(rates[num], rates[den]) for key, (num, den, _target, _label) in SMALL_RATIOS.items()}
    checks = {key: _check(ratios[key], target, ">=") for key, (_num, _den, target, _label) in SMALL_RATIOS.items() if target is not None}
    checks["train_input_wait"] = _check(train.get("max_input_wait"), MAX_TRAIN_INPUT_WAIT, "<=")
    checks["train_start_wait_s"] = _check(train.get("median_start_wait_s"), MAX_START_WAIT_S, "<=")
    errors = {key: rate.errors for key, rate in rates.items() if rate.errors}
    if "error" in train:
        errors["train"] = [train["error"]]
    return {
        "train_samples": small["train_samples"],
        "recordings": small["recordings"],
        "recording_s": list(SMALL_SECONDS),
        "audio_h": small["audio_h"],
        "timed_epochs": BOUNDARY_EPOCHS,
        "rates": best,
        "ratios": ratios,
        "runs": {key: rate.runs for key, rate in rates.items()},
        "other_cores_busy_in_best": {key: rate.best_other_cores for key, rate in rates.items()},
        "start_wait_s": small["start_wait_s"],
        "train": train,
        "checks": checks,
        "errors": errors,
    }


def format_small_table(report: dict) -> str:
    """The small split's table: rates, ratios, epoch-start waits and train's waits, each beside its target."""
    small, machine = report["small"], report["machine"]
    checks, busy, waits, train = small["checks"], small["other_cores_busy_in_best"], small["start_wait_s"], small["train"]
    lines = [
        f"small split: {small['train_samples']} train samples from {small['recordings']} recordings of {small['recording_s'][0]}-{small['recording_s'][1]} s "
        f"(48 kHz FLAC, flac shards), batch {BATCH_SIZE}, hybrid frontend; {small['timed_epochs']} epochs timed after a warm-up epoch",
        f"CPU: {machine['cpu_model']}, {machine['cpu_count']} CPUs ({machine['cpus_available']} available)",
        "",
        f"{'measurement':<48} {'samples/s':>10} {'target':>9}  {'result':<6}  others busy",
    ]
    for key, label in SMALL_RATES.items():
        other = busy.get(key)
        lines.append(f"{label:<48} {_fmt(small['rates'][key], '.1f', 10)} {'':>9}  {'':<6}  {'' if other is None else f'{other:.1f} cores'}".rstrip())
    lines.append("")
    for key, (_num, _den, target, label) in SMALL_RATIOS.items():
        wanted = "-" if target is None else f">={target:g}x"
        ratio = small["ratios"][key]
        lines.append(f"{'ratio ' + label:<48} {_fmt(ratio, '.2f', 9)}{'' if ratio is None else 'x'} {wanted:>9}  {_verdict(checks.get(key)):<6}".rstrip())
    for key, label in (("stream", "(8)"), ("per_epoch", "(9)")):
        lines.append(f"{'epoch-start wait ' + label + ', median of epochs 2-7':<48} {_fmt(waits.get(key), '.3f', 9)}s".rstrip())
    wait, start = checks["train_input_wait"], checks["train_start_wait_s"]
    lines.append(
        f"{'train: input wait, worst epoch after the first':<48} {_fmt(wait['value'], '.1%', 10)} {f'<={MAX_TRAIN_INPUT_WAIT:.0%}':>9}  {_verdict(wait):<6}"
    )
    lines.append(
        f"{'train: epoch-start wait, median after the first':<48} {_fmt(start['value'], '.3f', 9)}s {f'<={MAX_START_WAIT_S:g}s':>9}  {_verdict(start):<6}"
    )
    if "error" not in train:
        lines.append(
            f"  train per epoch: input wait {', '.join(f'{v:.1%}' for v in train['input_wait'])}; start wait (s) {', '.join(f'{v:.3f}' for v in train['start_wait_s'])}"
        )
    if machine["cpus_available"] <= 2:
        lines.append(f"note: only {machine['cpus_available']} cores here: (11) and (12) give the reader one core and the S3 server the other")
    for name, errors in small["errors"].items():
        lines.append(f"error in {name}: {errors[-1]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def _positive_int(text: str) -> int:
    return bench_build()._positive_int(text)


def _positive_float(text: str) -> float:
    return bench_build()._positive_float(text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and validate the command line; options left out take the full or the --quick preset."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    full = PRESETS["full"]
    parser.add_argument("--files", type=_positive_int, help=f"recordings to generate (default {full['files']})")
    parser.add_argument("--copies", type=_positive_int, help=f"hard-linked copies of each recording in the input tree (default {full['copies']})")
    parser.add_argument("--min-minutes", type=_positive_float, help=f"shortest recording (default {full['min_minutes']:g})")
    parser.add_argument("--max-minutes", type=_positive_float, help=f"longest recording (default {full['max_minutes']:g})")
    parser.add_argument("--memory-epochs", type=_positive_int, help=f"epochs of the memory run (default {full['memory_epochs']})")
    parser.add_argument("--bucket-segments", type=_positive_int, help=f"segments of the bucketing run (default {full['bucket_segments']})")
    parser.add_argument("--frontend-batches", type=_positive_int, help=f"timed batches of the frontend-alone run (default {full['frontend_batches']})")
    parser.add_argument(
        "--small-files",
        type=_positive_int,
        help=f"recordings of {SMALL_SECONDS[0]}-{SMALL_SECONDS[1]} s in the small split's corpus (default {full['small_files']})",
    )
    parser.add_argument("--train-epochs", type=_positive_int, help=f"epochs of the small split's train run (default {full['train_epochs']})")
    parser.add_argument(
        "--boundary-rounds", type=_positive_int, help=f"rounds of the epoch-boundary figures (7), (8), (9) (default {PRESETS['full']['boundary_rounds']})"
    )
    parser.add_argument("--small-only", action="store_true", help="measure only the small split (epoch boundaries, train's waits, on-the-fly, pinned S3)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--repeats", type=_positive_int, default=1, help="runs per rate; the best is kept (default 1)")
    parser.add_argument("--work", type=Path, default=Path("bench-out/reader"), help="corpus, shards and scratch (default bench-out/reader)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    parser.add_argument("--quick", action="store_true", help="tiny corpus and short runs, for a smoke test")
    parser.add_argument(
        "--no-tune-malloc",
        dest="tune_malloc",
        action="store_false",
        help="leave glibc's allocator at its defaults (readers get tune_malloc=False): compare with a run without it to measure the choice",
    )
    args = parser.parse_args(argv)
    for name, value in PRESETS["quick" if args.quick else "full"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.max_minutes < args.min_minutes:
        parser.error(f"--max-minutes must be >= --min-minutes ({args.min_minutes}); got {args.max_minutes}")
    if args.memory_epochs < 2:
        parser.error(f"--memory-epochs must be >= 2 (growth is measured from epoch 2); got {args.memory_epochs}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 0, or 1 when a measurement failed (a missed target is reported, not an error)."""
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = run_benchmark(args)
    if "rates" in report:
        print()
        print(format_table(report))
    print()
    print(format_small_table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(dumps(report, indent=2))
    return 1 if report.get("errors") or report["small"]["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
