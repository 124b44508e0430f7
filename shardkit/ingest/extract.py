"""Turn one recording into samples: stream-decode, score, pick segments, resample, encode.

Two passes over the file keep memory bounded: the first streams the whole recording at its
native rate into band-power features (never the audio itself); the second seeks to the chosen
segments and resamples only those. With a teacher, the detector proposes more candidates, the
teacher scores only those (at its own rate), and its opinion re-ranks them and labels each chunk.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np

from shardkit.audio.decode import iter_mono_blocks, open_audio, read_resampled
from shardkit.codecs import CODECS, clipping_ratio
from shardkit.errors import InputFileError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.inputs import SourceFile
from shardkit.ingest.salience import (
    BandPowerAccumulator,
    FrameLayout,
    Segment,
    frame_scores,
    segment_snr_db,
    select_segments,
)


@dataclass(frozen=True)
class Sample:
    """One segment ready for a shard: its key, its encoded audio and its metadata."""

    key: str
    extension: str
    audio: bytes
    meta: dict
    extra: dict[str, bytes] = field(default_factory=dict)


def sample_key(source: str, offset_s: float) -> str:
    """Stable key from the source path and the offset (ms); no dots, safe for webdataset."""
    digest = hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]
    return f"{digest}_{int(round(offset_s * 1000)):010d}"


@dataclass(frozen=True)
class Extraction:
    """What one recording produced."""

    samples: list[Sample]
    duration_s: float
    teacher: dict | None = None


def extract_file(source: SourceFile, config: BuildConfig, storage_options: dict | None = None) -> Extraction:
    """Decode ``source`` and return its salient segments as encoded samples.

    Args:
        source: the recording (a local path, or an object's URL read by byte ranges).
        config: build settings.
        storage_options: fsspec options of an INPUT in a store.

    Raises:
        InputFileError: the file cannot become samples (the reason says why).
        StorageUnavailableError: the store holding it keeps failing.
    """
    with open_audio(source.path, storage_options) as handle:
        native_hz = handle.samplerate
        duration_s = handle.frames / native_hz
        if duration_s < config.min_file_s:
            raise InputFileError("too_short", f"{duration_s:.3f} s is shorter than min_file_s={config.min_file_s} s")
        powers, frame_s, scores = salience_curve(handle, config)
        segments = candidate_segments(scores, frame_s, duration_s, config)
        extras: list[tuple[dict, dict[str, bytes]]] = [({}, {})] * len(segments)
        teacher_report = None
        if config.teacher is not None:
            segments, extras, teacher_report = _teacher_pick(handle, source, config, segments, duration_s)
        samples = []
        for segment, (teacher_meta, members) in zip(segments[: config.max_chunks_per_file], extras, strict=False):
            n_out = max(1, int(round(segment.duration_s * config.sample_rate_hz)))
            audio = read_resampled(handle, segment.start_s, n_out, config.sample_rate_hz)
            snr_db = segment_snr_db(powers, frame_s, segment)
            provenance = {
                "snr_db": None if snr_db is None else round(snr_db, 2),
                "source_sample_rate": native_hz,
                "source_channels": handle.channels,
                "source_duration_s": round(duration_s, 3),
                **teacher_meta,
            }
            sample = _make_sample(source, config, segment, audio, provenance)
            samples.append(Sample(sample.key, sample.extension, sample.audio, sample.meta, members))
    return Extraction(samples, duration_s, teacher_report)


def salience_curve(handle, config: BuildConfig) -> tuple[np.ndarray, float, np.ndarray]:
    """First pass: stream an open recording into band powers; ``(powers, frame_s, per-frame scores in dB)``."""
    native_hz = handle.samplerate
    layout = FrameLayout.for_rate(native_hz, config.sample_rate_hz / 2, config.salience)
    features = BandPowerAccumulator(layout)
    for block in iter_mono_blocks(handle):
        features.add(block)
    powers = features.result()
    frame_s = layout.n_fft / native_hz
    return powers, frame_s, frame_scores(powers, frame_s, config.salience.smooth_s)


def candidate_segments(scores: np.ndarray, frame_s: float, duration_s: float, config: BuildConfig) -> list[Segment]:
    """The detector's ranked segments: ``max_chunks_per_file`` of them, or the teacher's candidates when it has more."""
    wanted = config.max_chunks_per_file if config.teacher is None else max(config.max_chunks_per_file, config.teacher.candidates)
    return select_segments(
        scores,
        frame_s,
        duration_s,
        max_segments=wanted,
        threshold_db=config.salience.threshold_db,
        chunk_s=None if config.variable_length else config.chunk_s,
        min_segment_s=config.min_segment_s if config.variable_length else None,
        max_segment_s=config.max_segment_s if config.variable_length else None,
        context_s=config.salience.context_s,
    )


def _teacher_pick(handle, source: SourceFile, config: BuildConfig, candidates: list[Segment], duration_s: float):
    """Score the candidates with the teacher, keep the best; return (segments, [(meta, members)], report)."""
    from shardkit.teacher.crops import Scored, choose, chunk_block, pool_windows, recording_audit, window_starts
    from shardkit.teacher.runtime import load_teacher

    tc = config.teacher
    teacher = load_teacher(tc)
    index = {label: i for i, label in enumerate(teacher.labels)}
    columns = {name: (None if label is None else index[label]) for name, label in tc.mapping.items()}
    windows, counts = [], []
    for segment in candidates:
        starts = window_starts(segment.start_s, segment.duration_s, tc.window_s, duration_s)
        counts.append(len(starts))
        windows.extend(read_resampled(handle, start, teacher.window, tc.sample_rate_hz) for start in starts)
    seconds_before = teacher.seconds
    probs, embeddings = teacher.predict(np.stack(windows)) if windows else (np.zeros((0, len(teacher.labels))), None)
    pooled, pooled_embeddings = pool_windows(probs, embeddings, counts) if windows else (probs, [])
    scored = [Scored(segment, pooled[i], pooled_embeddings[i]) for i, segment in enumerate(candidates)]
    column = None if source.negative else columns.get(source.label)
    chosen, ranked = choose(scored, column, tc, config.max_chunks_per_file)
    extras = []
    for s in chosen:
        block = chunk_block(s.probs, teacher.labels, teacher.species, tc, columns, source.label, source.negative, s.combined)
        members = {}
        if s.embedding is not None:
            buffer = io.BytesIO()
            np.save(buffer, s.embedding, allow_pickle=False)
            members["emb.npy"] = buffer.getvalue()
        extras.append(({"teacher": block}, members))
    report = {
        "candidates": len(candidates),
        "windows": len(windows),
        "seconds": round(teacher.seconds - seconds_before, 4),
        "ranked": ranked,
        "audit": recording_audit(source.source, source.label, scored, teacher.labels, teacher.species, column, tc),
    }
    return [s.segment for s in chosen], extras, report


def _make_sample(source: SourceFile, config: BuildConfig, segment: Segment, audio: np.ndarray, provenance: dict) -> Sample:
    """Encode a segment and describe it (the ``KEY.json`` member)."""
    codec = CODECS[config.codec]
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    meta = {
        "labels": [] if source.negative else [source.label],
        "class": source.label,
        "source": source.source,
        "offset_s": segment.start_s,
        "duration_s": round(len(audio) / config.sample_rate_hz, 6),
        "sample_rate": config.sample_rate_hz,
        "score": round(segment.score_db, 3),
        "split": source.split,
        "rank": segment.rank,
        "picked_by": segment.picked_by,
        "peak_s": round(segment.peak_s, 3),
        "peak_dbfs": round(20.0 * np.log10(peak), 2) if peak > 0 else None,
        "clipping_ratio": clipping_ratio(audio),
        **provenance,
    }
    return Sample(sample_key(source.source, segment.start_s), codec.extension, codec.encode(audio, config.sample_rate_hz), meta)
