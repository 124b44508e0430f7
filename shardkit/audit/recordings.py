"""The per-recording view: the build's salience curve over a whole source recording, recomputed.

The curve and the candidates come from the build's own functions with the build's own settings
(from the manifest), so the page shows the numbers the build saw. The picked windows are the
shards' offsets, not a recomputation: what is highlighted is what was stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from shardkit.audio.decode import open_audio
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.extract import candidate_segments, salience_curve

#: a candidate counts as picked when a stored chunk starts within this of it
SAME_WINDOW_S = 0.002
#: candidates shown beyond the build's own budget: the next-best windows, which lost to the chunk limit
EXTRA_CANDIDATES = 8


@dataclass(frozen=True)
class RecordingView:
    """What the page draws for one source recording."""

    source: str
    duration_s: float
    frame_s: float
    scores: np.ndarray
    threshold_db: float
    picked: list[dict]
    lost: list[dict]


def build_config_of(settings: dict) -> BuildConfig:
    """The build's settings as a config; with a teacher, the detector's candidate count it used (the teacher itself is not loaded)."""
    plain = {name: value for name, value in settings.items() if name != "teacher"}
    config = BuildConfig.from_dict(plain)
    teacher = settings.get("teacher")
    if teacher:
        config = replace(config, max_chunks_per_file=max(config.max_chunks_per_file, int(teacher.get("candidates", 0))))
    return config


def recording_view(input_root: str, source: str, stored: list[dict], config: BuildConfig) -> RecordingView:
    """Recompute ``source``'s salience curve and candidates; mark the stored chunks as picked.

    Args:
        input_root: the build's INPUT folder (``source`` is relative to it).
        source: the recording, as the samples name it.
        stored: the provenance of every stored chunk of this recording (any split).
        config: the build's settings.

    Raises:
        FileNotFoundError: the recording is not under ``input_root``.
    """
    path = os.path.join(input_root, *source.split("/"))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{source!r} is not under --input {input_root!r}")
    with open_audio(path) as handle:
        duration_s = handle.frames / handle.samplerate
        _, frame_s, scores = salience_curve(handle, config)
    # the detector is greedy by score: its first picks under a larger budget are the build's, the rest lost to the limit
    candidates = candidate_segments(scores, frame_s, duration_s, replace(config, max_chunks_per_file=config.max_chunks_per_file + EXTRA_CANDIDATES))
    picked = [
        {"key": c["key"], "offset_s": float(c["offset_s"]), "duration_s": float(c["duration_s"]), "score": float(c.get("score") or 0.0), "rank": c.get("rank")}
        for c in stored
        if c.get("offset_s") is not None
    ]
    starts = [p["offset_s"] for p in picked]
    lost = [
        {"offset_s": s.start_s, "duration_s": s.duration_s, "score": s.score_db, "rank": s.rank}
        for s in candidates
        if not any(abs(s.start_s - t) <= SAME_WINDOW_S for t in starts)
    ]
    return RecordingView(source, duration_s, frame_s, scores, config.salience.threshold_db, picked, lost)


def chosen_sources(drawn: dict[str, list], limit: int) -> list[str]:
    """Up to ``limit`` sources of the drawn chunks, taking one class at a time in turn (each class gets its share)."""
    queues = {name: [c.meta.get("source") for c in chunks] for name, chunks in drawn.items()}
    chosen: list[str] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(q) for q in queues.values()):
        for queue in queues.values():
            if depth < len(queue) and queue[depth] and queue[depth] not in chosen and len(chosen) < limit:
                chosen.append(queue[depth])
        depth += 1
    return chosen
