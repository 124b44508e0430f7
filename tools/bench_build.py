"""Benchmark `shardkit build` throughput against decode-only speed on generated 48 kHz FLAC.

Acceptance targets: the build runs at >= 500x real time per core, at >= 40 % of the
decode-only rate (one process stream-decoding every file and discarding the blocks, the floor
no build can beat), and going from 1 to 2 workers speeds it up >= 1.7x.

The corpus is generated once into ``WORK/corpus`` (mono 48 kHz 16-bit FLAC, 1-10 minutes
each: coloured background noise at about -30 dBFS with a short tonal call every 10-30 s) and
reused while its parameters stay the same. Every measurement is repeated and the best kept,
because the machine is shared and noisy.

With ``--teacher birdnet`` (or a .tflite with ``--teacher-labels``) it also builds with that
teacher on 1 worker and reports its x real time beside the plain build's: the cost of the
teacher scoring the candidates (no target: it is there to show the build does not become an
hours-long job).

Usage::

    python tools/bench_build.py [--files 16] [--repeats 2] [--work bench-out/build] [--json r.json] [--teacher birdnet]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from shardkit.audio.decode import iter_mono_blocks, open_audio
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.jsonio import dumps
from shardkit.teacher.config import TeacherConfig
from shardkit.teacher.registry import teacher_from_options

#: bump when the generated signal changes, so an old cached corpus is regenerated
GENERATOR_VERSION = 1
CALL_CLASSES = ("chirp", "trill", "whistle")
NOISE_CLASS = "noise"
#: background RMS level per file, drawn uniformly (dBFS)
BACKGROUND_DBFS = (-33.0, -27.0)
#: peak level of a call, drawn uniformly (dBFS)
CALL_PEAK_DBFS = (-42.0, -30.0)
#: gap from the end of one call to the start of the next (seconds)
CALL_GAP_S = (10.0, 30.0)
#: white self-noise floor relative to the coloured background power (dB)
FLOOR_BELOW_BACKGROUND_DB = 30.0
#: the background is shaped in FFT frames of this many samples, cross-faded over FADE_FRAMES
FFT_FRAMES = 1 << 16
FADE_FRAMES = 1024
CORPUS_MARKER = "corpus.json"
#: a kept run during which other processes used this many cores or more gets a warning
BUSY_OTHER_CORES = 0.25
#: acceptance targets: figure key -> minimum
TARGETS = {"build_1w_per_core": 500.0, "build_2w_per_core": 500.0, "build_1w_over_decode": 0.40, "build_2w_over_build_1w": 1.70}
#: printed rows: (label, key of the x-real-time figure or None, key of the per-core figure or ratio)
ROWS = (
    ("decode-only, 1 process (the floor)", "decode_only", "decode_only"),
    ("build, 1 worker", "build_1w", "build_1w_per_core"),
    ("build, 2 workers", "build_2w", "build_2w_per_core"),
    ("ratio build 1 worker / decode-only", None, "build_1w_over_decode"),
    ("ratio build 2 workers / build 1 worker", None, "build_2w_over_build_1w"),
    ("build, 1 worker, with the teacher", "build_1w_teacher", "build_1w_teacher_per_core"),
    ("ratio with teacher / without (1 worker)", None, "teacher_over_build_1w"),
)


# --------------------------------------------------------------------------- corpus spec


@dataclass(frozen=True)
class CorpusSpec:
    """Parameters of the generated corpus; the cache is reused only when they match.

    Attributes:
        files: number of recordings.
        min_minutes: shortest recording.
        max_minutes: longest recording.
        seed: seeds durations, levels, calls and noise.
        sample_rate_hz: sample rate of every recording.
        version: `GENERATOR_VERSION` the corpus was made with.
    """

    files: int = 16
    min_minutes: float = 1.0
    max_minutes: float = 10.0
    seed: int = 0
    sample_rate_hz: int = 48000
    version: int = GENERATOR_VERSION

    def recordings(self) -> list[Recording]:
        """Every recording: durations linearly spaced over the range, shuffled over the classes."""
        rng = np.random.default_rng([self.seed, 0])
        durations_s = rng.permutation(np.linspace(self.min_minutes, self.max_minutes, self.files) * 60.0)
        classes = (*CALL_CLASSES, NOISE_CLASS)
        out = []
        for index, duration_s in enumerate(durations_s):
            label = classes[index % len(classes)]
            out.append(Recording(f"{label}/{label}_{index:03d}.flac", label, int(round(duration_s * self.sample_rate_hz)), index))
        return out


@dataclass(frozen=True)
class Recording:
    """One file of the corpus: where it goes, its class, its length and its seed index."""

    relpath: str
    label: str
    n_frames: int
    index: int


@dataclass(frozen=True)
class Call:
    """A Hann-windowed tonal call: a linear sweep f0 -> f1, optionally amplitude-modulated."""

    start_frame: int
    n_frames: int
    f0_hz: float
    f1_hz: float
    peak: float
    am_hz: float = 0.0


# --------------------------------------------------------------------------- synthesis (pure)


def background_shape(n_fft: int, sample_rate_hz: int) -> np.ndarray:
    """rFFT gains that turn unit-variance white noise into unit-variance field-like noise.

    Brown (-6 dB/octave) above 50 Hz, flat below down to a 20 Hz high-pass, plus a white
    self-noise floor `FLOOR_BELOW_BACKGROUND_DB` under it.
    """
    freqs_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    power = (50.0 / np.maximum(freqs_hz, 50.0)) ** 2
    power[freqs_hz < 20.0] = 0.0
    weights = np.full(len(freqs_hz), 2.0)
    weights[[0, -1]] = 1.0
    power /= np.sum(weights * power) / n_fft
    power += 10.0 ** (-FLOOR_BELOW_BACKGROUND_DB / 10.0)
    gain = np.sqrt(power / (np.sum(weights * power) / n_fft))
    return gain.astype(np.float32)


def background_blocks(rng: np.random.Generator, n_frames: int, rms: float, shape: np.ndarray) -> Iterator[np.ndarray]:
    """Stationary coloured noise of RMS ``rms``, ``n_frames`` long, in blocks of bounded size.

    Each FFT frame colours fresh uniform noise (Gaussian after filtering, and cheaper to draw);
    consecutive frames are joined by an equal-power cross-fade, which keeps the variance.
    """
    n_fft = 2 * (len(shape) - 1)
    hop = n_fft - FADE_FRAMES
    fade_in = np.sin(np.linspace(0.0, np.pi / 2, FADE_FRAMES, dtype=np.float32))
    fade_out = fade_in[::-1].copy()
    scale = np.float32(rms * math.sqrt(12.0))
    tail = None
    for first in range(0, n_frames, hop):
        white = rng.random(n_fft, dtype=np.float32) - np.float32(0.5)
        frame = np.fft.irfft(np.fft.rfft(white) * shape, n=n_fft).astype(np.float32) * scale
        if tail is not None:
            frame[:FADE_FRAMES] = frame[:FADE_FRAMES] * fade_in + tail * fade_out
        tail = frame[hop:].copy()
        yield frame[: min(hop, n_frames - first)]


def plan_calls(rng: np.random.Generator, label: str, n_frames: int, sample_rate_hz: int) -> list[Call]:
    """Calls of class ``label`` every `CALL_GAP_S`, none for the noise class."""
    if label == NOISE_CLASS:
        return []
    calls = []
    start_s = rng.uniform(1.0, CALL_GAP_S[0])
    while True:
        call = _draw_call(rng, label, start_s, sample_rate_hz)
        if call.start_frame + call.n_frames >= n_frames:
            return calls
        calls.append(call)
        start_s += call.n_frames / sample_rate_hz + rng.uniform(*CALL_GAP_S)


def _draw_call(rng: np.random.Generator, label: str, start_s: float, sample_rate_hz: int) -> Call:
    """One call of the class's kind: chirp (up-sweep), trill (modulated tone), whistle (pure tone)."""
    peak = 10.0 ** (rng.uniform(*CALL_PEAK_DBFS) / 20.0)
    if label == "chirp":
        length_s, f0, f1, am = rng.uniform(0.3, 0.8), rng.uniform(2000, 3000), rng.uniform(5000, 7000), 0.0
    elif label == "trill":
        f0 = rng.uniform(3000, 4500)
        length_s, f1, am = rng.uniform(0.6, 1.5), f0 * rng.uniform(0.9, 1.1), rng.uniform(15, 30)
    else:
        length_s, f0, am = rng.uniform(0.5, 1.2), rng.uniform(2500, 6000), 0.0
        f1 = f0
    return Call(int(start_s * sample_rate_hz), int(length_s * sample_rate_hz), f0, f1, peak, am)


def call_waveform(call: Call, offsets: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Samples of ``call`` at frame ``offsets`` from its start."""
    t = offsets / sample_rate_hz
    length_s = call.n_frames / sample_rate_hz
    phase = 2 * np.pi * (call.f0_hz * t + (call.f1_hz - call.f0_hz) * t**2 / (2 * length_s))
    envelope = np.sin(np.pi * t / length_s) ** 2
    if call.am_hz:
        envelope *= 0.5 * (1.0 - np.cos(2 * np.pi * call.am_hz * t))
    return (call.peak * envelope * np.sin(phase)).astype(np.float32)


def add_calls(block: np.ndarray, first_frame: int, calls: Sequence[Call], sample_rate_hz: int) -> np.ndarray:
    """Add the parts of ``calls`` that fall inside ``block`` (which starts at ``first_frame``)."""
    end = first_frame + len(block)
    for call in calls:
        lo, hi = max(call.start_frame, first_frame), min(call.start_frame + call.n_frames, end)
        if lo < hi:
            block[lo - first_frame : hi - first_frame] += call_waveform(call, np.arange(lo - call.start_frame, hi - call.start_frame), sample_rate_hz)
    return block


# --------------------------------------------------------------------------- corpus on disk


@dataclass(frozen=True)
class Corpus:
    """A generated corpus on disk."""

    root: Path
    paths: list[Path]
    audio_s: float
    flac_bytes: int
    sample_rate_hz: int

    @property
    def pcm_fraction(self) -> float:
        """FLAC size as a fraction of the 16-bit PCM size."""
        return self.flac_bytes / (self.audio_s * self.sample_rate_hz * 2) if self.audio_s else 0.0


def write_recording(path: Path, recording: Recording, spec: CorpusSpec) -> None:
    """Generate one recording block by block and write it as 16-bit FLAC."""
    rng = np.random.default_rng([spec.seed, 1, recording.index])
    rms = 10.0 ** (rng.uniform(*BACKGROUND_DBFS) / 20.0)
    calls = plan_calls(rng, recording.label, recording.n_frames, spec.sample_rate_hz)
    shape = background_shape(FFT_FRAMES, spec.sample_rate_hz)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(path), "w", spec.sample_rate_hz, 1, subtype="PCM_16", format="FLAC") as out:
        first = 0
        for block in background_blocks(rng, recording.n_frames, rms, shape):
            out.write(np.clip(add_calls(block, first, calls, spec.sample_rate_hz), -0.99, 0.99))
            first += len(block)


def generate_corpus(root: Path, spec: CorpusSpec) -> None:
    """Write every recording of ``spec`` under ``root``, the marker last."""
    recordings = spec.recordings()
    started = time.perf_counter()
    for recording in recordings:
        write_recording(root / recording.relpath, recording, spec)
    (root / CORPUS_MARKER).write_text(dumps(asdict(spec), indent=2))
    hours = sum(r.n_frames for r in recordings) / spec.sample_rate_hz / 3600
    print(f"generated {len(recordings)} files, {hours:.2f} h of audio in {time.perf_counter() - started:.1f} s", flush=True)


def ensure_corpus(work: Path, spec: CorpusSpec) -> Corpus:
    """The corpus of ``spec`` under ``work/corpus``: reused when its marker matches, else regenerated.

    Raises:
        SystemExit: ``work/corpus`` exists but was not made by this script (no marker).
    """
    root, partial = work / "corpus", work / "corpus.partial"
    marker = root / CORPUS_MARKER
    if marker.exists() and json.loads(marker.read_text()) == asdict(spec):
        print(f"reusing corpus {root}", flush=True)
    else:
        if root.exists() and not marker.exists():
            raise SystemExit(f"--work: {root} exists but holds no {CORPUS_MARKER}; refusing to replace it")
        shutil.rmtree(partial, ignore_errors=True)
        generate_corpus(partial, spec)
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    recordings = spec.recordings()
    paths = [root / r.relpath for r in recordings]
    audio_s = sum(r.n_frames for r in recordings) / spec.sample_rate_hz
    return Corpus(root, paths, audio_s, sum(p.stat().st_size for p in paths), spec.sample_rate_hz)


# --------------------------------------------------------------------------- measurements


def decode_only(paths: Sequence[Path]) -> float:
    """Stream-decode every file once in this process, discarding blocks; return x real time."""
    started = time.perf_counter()
    audio_s = 0.0
    for path in paths:
        with open_audio(str(path)) as handle:
            frames = sum(len(block) for block in iter_mono_blocks(handle))
            audio_s += frames / handle.samplerate
    return audio_s / (time.perf_counter() - started)


def build_once(corpus: Corpus, out_dir: Path, workers: int, executor: str = "local", teacher: TeacherConfig | None = None) -> float:
    """One fresh `build` with ``workers`` workers of ``executor`` (local pool or a local Dask cluster); return its x real time."""
    shutil.rmtree(out_dir, ignore_errors=True)
    summary = build(str(corpus.root), str(out_dir), BuildConfig(workers=workers, teacher=teacher), executor=executor, progress=False)
    if summary.failures or summary.samples_written == 0:
        print(f"warning: build with {workers} worker(s) wrote {summary.samples_written} samples, failures {dict(summary.failures)}")
    if abs(summary.decoded_s - corpus.audio_s) > 1.0:
        print(f"warning: build decoded {summary.decoded_s:.1f} s of {corpus.audio_s:.1f} s of audio")
    return summary.x_real_time


def machine_busy_s() -> float | None:
    """CPU-seconds all processes (and the hypervisor's steal) have used since boot; None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU-seconds used by this process and its finished children (the build's workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class Measurement:
    """Repeated runs of one measurement; the best is reported.

    Attributes:
        name: what was measured.
        cores: cores it may use (the per-core figure divides by this).
        runs: x real time of every run.
        other_cores: per run, the average number of cores busy with other processes (None
            where it cannot be read), to tell a slow run on a busy machine from a slow build.
    """

    name: str
    cores: int
    runs: list[float] = field(default_factory=list)
    other_cores: list[float | None] = field(default_factory=list)

    @property
    def best(self) -> float:
        """Highest x real time over the runs."""
        return max(self.runs)

    @property
    def per_core(self) -> float:
        """Best x real time divided by the cores used."""
        return self.best / self.cores

    @property
    def best_other_cores(self) -> float | None:
        """Other processes' load during the best run."""
        return self.other_cores[self.runs.index(self.best)]


def timed_run(run: Callable[[], float], own_cpu: Callable[[], float] = own_cpu_s) -> tuple[float, float | None]:
    """``run()``'s result, and how many cores other processes kept busy meanwhile (None off Linux).

    ``own_cpu`` counts the CPU seconds that are ours (this process and its workers by default).
    """
    busy_before, own_before, started = machine_busy_s(), own_cpu(), time.perf_counter()
    value = run()
    wall_s, busy_after = time.perf_counter() - started, machine_busy_s()
    if busy_before is None or busy_after is None:
        return value, None
    others_s = (busy_after - busy_before) - (own_cpu() - own_before)
    return value, max(0.0, others_s / wall_s)


def measure(name: str, cores: int, repeats: int, run: Callable[[int], float]) -> Measurement:
    """Call ``run(repeat_index)`` ``repeats`` times, printing each result."""
    result = Measurement(name, cores)
    for repeat in range(repeats):
        xrt, other = timed_run(lambda repeat=repeat: run(repeat))
        result.runs.append(xrt)
        result.other_cores.append(other)
        load = "" if other is None else f"  (other processes kept {other:.1f} cores busy)"
        print(f"  {name:<18} run {repeat + 1}/{repeats}: {xrt:8.1f}x real time{load}", flush=True)
    return result


def run_benchmark(corpus: Corpus, work: Path, repeats: int, executor: str = "local", teacher: TeacherConfig | None = None) -> dict[str, Measurement]:
    """Decode-only, then builds with 1 and 2 workers of ``executor`` (and with ``teacher`` on 1 worker), each ``repeats`` times."""
    runs_dir = work / "runs"
    measurements = {
        "decode_only": measure("decode-only", 1, repeats, lambda _: decode_only(corpus.paths)),
        "build_1w": measure(f"build 1 worker ({executor})", 1, repeats, lambda i: build_once(corpus, runs_dir / f"w1-r{i}", 1, executor)),
        "build_2w": measure(f"build 2 workers ({executor})", 2, repeats, lambda i: build_once(corpus, runs_dir / f"w2-r{i}", 2, executor)),
    }
    if teacher is not None:
        measurements["build_1w_teacher"] = measure(
            f"build 1 worker + {teacher.name}", 1, repeats, lambda i: build_once(corpus, runs_dir / f"t1-r{i}", 1, executor, teacher)
        )
    return measurements


# --------------------------------------------------------------------------- report


def figures(measurements: dict[str, Measurement]) -> dict[str, float]:
    """Best x real time, per core, and the two ratios the targets are about."""
    decode, one, two = (measurements[k] for k in ("decode_only", "build_1w", "build_2w"))
    taught = measurements.get("build_1w_teacher")
    extra = (
        {}
        if taught is None
        else {"build_1w_teacher": taught.best, "build_1w_teacher_per_core": taught.per_core, "teacher_over_build_1w": taught.best / one.best}
    )
    return {
        **extra,
        "decode_only": decode.best,
        "build_1w": one.best,
        "build_2w": two.best,
        "build_1w_per_core": one.per_core,
        "build_2w_per_core": two.per_core,
        "build_1w_over_decode": one.best / decode.best,
        "build_2w_over_build_1w": two.best / one.best,
    }


def make_report(corpus: Corpus, measurements: dict[str, Measurement], repeats: int) -> dict:
    """Everything the table shows, as a JSON-ready dict."""
    values = figures(measurements)
    return {
        "corpus": {
            "root": str(corpus.root),
            "files": len(corpus.paths),
            "audio_s": corpus.audio_s,
            "audio_h": corpus.audio_s / 3600,
            "flac_bytes": corpus.flac_bytes,
            "flac_fraction_of_pcm": corpus.pcm_fraction,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "repeats": repeats,
        "note": f"best of {repeats} repeats; the machine is shared and noisy",
        "figures": values,
        "runs": {name: m.runs for name, m in measurements.items()},
        "other_cores_busy": {name: m.other_cores for name, m in measurements.items()},
        "other_cores_busy_in_best": {name: m.best_other_cores for name, m in measurements.items()},
        "checks": {key: {"value": values[key], "target": target, "passed": values[key] >= target} for key, target in TARGETS.items()},
    }


def format_table(report: dict) -> str:
    """The printed report: a header, then every figure beside its target."""
    corpus, machine = report["corpus"], report["machine"]
    lines = [
        f"shardkit build benchmark: {corpus['files']} files, {corpus['audio_h']:.2f} h of 48 kHz mono 16-bit FLAC "
        f"({corpus['flac_fraction_of_pcm']:.0%} of PCM size); {machine['cpu_count']} CPUs ({machine['cpus_available']} available)",
        f"{report['note']}: small differences are not significant",
        "",
        f"{'measurement':<40} {'x real time':>11} {'per core':>9} {'target':>8}  {'result':<6}  others busy",
    ]
    lines += [_table_row(label, xrt_key, key, report) for label, xrt_key, key in ROWS if key in report["figures"]]
    busiest = max((v for v in report["other_cores_busy_in_best"].values() if v is not None), default=0.0)
    if busiest >= BUSY_OTHER_CORES:
        lines.append(f"note: other processes kept up to {busiest:.1f} cores busy during a kept run; rerun on a quiet machine for clean figures")
    if (machine["cpus_available"] or 1) < 2:
        lines.append("note: fewer than 2 CPUs available, so the 2-worker figures cannot show scaling")
    return "\n".join(lines)


def _table_row(label: str, xrt_key: str | None, key: str, report: dict) -> str:
    """One line: x real time (builds only), per-core figure or ratio, target and verdict."""
    values, check = report["figures"], report["checks"].get(key)
    xrt = f"{values[xrt_key]:.1f}x" if xrt_key else ""
    figure = f"{values[key]:.1f}x" if xrt_key else f"{values[key]:.2f}x"
    if check is None:
        target, verdict = "-", "-"
    else:
        target = f">={check['target']:.0f}x" if xrt_key else f">={check['target']:.2f}x"
        verdict = "PASS" if check["passed"] else "MISS"
    other = report["other_cores_busy_in_best"].get(xrt_key) if xrt_key else None
    others = "" if other is None else f"{other:.1f} cores"
    return f"{label:<40} {xrt:>11} {figure:>9} {target:>8}  {verdict:<6}  {others}".rstrip()


# --------------------------------------------------------------------------- CLI


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number; got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and validate the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=_positive_int, default=16, help="recordings to generate (default 16)")
    parser.add_argument("--min-minutes", type=_positive_float, default=1.0, help="shortest recording (default 1)")
    parser.add_argument("--max-minutes", type=_positive_float, default=10.0, help="longest recording (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--repeats", type=_positive_int, default=2, help="runs per measurement; the best is kept (default 2)")
    parser.add_argument("--work", type=Path, default=Path("bench-out/build"), help="corpus cache and build outputs (default bench-out/build)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--teacher", default=None, help="also build with this teacher on 1 worker: 'birdnet' or a .tflite (default none)")
    parser.add_argument("--teacher-labels", default=None, help="labels file of a .tflite --teacher")
    parser.add_argument("--teacher-rate", type=int, default=None, help="input rate of a .tflite --teacher (default 48000)")
    parser.add_argument(
        "--executor", choices=("local", "dask"), default="local", help="local process pool, or a local Dask cluster of the same size (default local)"
    )
    args = parser.parse_args(argv)
    if args.max_minutes < args.min_minutes:
        parser.error(f"--max-minutes must be >= --min-minutes ({args.min_minutes}); got {args.max_minutes}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 0 (a missed target is reported, not an error)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec = CorpusSpec(files=args.files, min_minutes=args.min_minutes, max_minutes=args.max_minutes, seed=args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    corpus = ensure_corpus(args.work, spec)
    teacher = teacher_from_options({"teacher": args.teacher, "teacher_labels": args.teacher_labels, "teacher_rate": args.teacher_rate})
    measurements = run_benchmark(corpus, args.work, args.repeats, args.executor, teacher)
    report = make_report(corpus, measurements, args.repeats)
    print()
    print(format_table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
