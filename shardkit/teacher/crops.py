"""The teacher's part of a crop: score candidate windows, re-rank them, describe each chosen chunk.

Pure numpy over what `runtime.Teacher` returns; `shardkit.ingest.extract` reads the audio.
A candidate longer than the teacher's window is covered by several windows and scored by
their maximum per label (a call anywhere in the chunk counts); its embedding is their mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from shardkit.teacher.config import TeacherConfig


def window_starts(start_s: float, duration_s: float, window_s: float, file_s: float) -> list[float]:
    """Start times of the teacher windows that cover ``[start_s, start_s + duration_s]``.

    One window centred on the segment when it is no longer than a window (clamped inside the
    file when the file is long enough); otherwise ``ceil(duration / window)`` windows spread
    evenly from the segment's start to its end.
    """
    if duration_s <= window_s:
        start = start_s + duration_s / 2 - window_s / 2
        return [min(max(0.0, start), max(0.0, file_s - window_s))]
    n = math.ceil(duration_s / window_s - 1e-9)
    last = start_s + duration_s - window_s
    return [start_s + (last - start_s) * i / (n - 1) for i in range(n)]


@dataclass(frozen=True)
class Scored:
    """A candidate segment with the teacher's opinion of it."""

    segment: object
    probs: np.ndarray
    embedding: np.ndarray | None
    combined: float | None = None


def pool_windows(probs: np.ndarray, embeddings: np.ndarray | None, counts: list[int]) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Per candidate: the maximum over its windows' probabilities and the mean of their embeddings."""
    pooled, pooled_embeddings, first = [], [], 0
    for n in counts:
        pooled.append(probs[first : first + n].max(axis=0))
        pooled_embeddings.append(None if embeddings is None else embeddings[first : first + n].mean(axis=0).astype(np.float32))
        first += n
    return np.stack(pooled), pooled_embeddings


def choose(scored: list[Scored], column: int | None, config: TeacherConfig, keep: int) -> tuple[list[Scored], bool]:
    """The chunks to keep, best first, and whether the teacher ranked them.

    For a class mapped to teacher label ``column``, candidates are ranked by
    ``weight * p + (1 - weight) * score / best score`` and those under ``min_prob`` are dropped,
    unless none reaches it (the teacher hears nothing it knows: salience order is kept). For an
    unmapped class or a negative, the salience order is kept.
    """
    if column is None or not scored:
        return scored[:keep], False
    best = max((s.segment.score_db for s in scored), default=0.0)
    heard = [s for s in scored if s.probs[column] >= config.min_prob]
    if not heard:
        return scored[:keep], False
    ranked = []
    for s in heard:
        salience = s.segment.score_db / best if best > 0 else 0.0
        ranked.append(replace(s, combined=config.weight * float(s.probs[column]) + (1 - config.weight) * salience))
    ranked.sort(key=lambda s: (-s.combined, s.segment.start_s))
    chosen = ranked[:keep]
    return [replace(s, segment=replace(s.segment, rank=rank, picked_by="teacher")) for rank, s in enumerate(chosen)], True


def top_species(probs: np.ndarray, species: np.ndarray) -> tuple[int, float]:
    """The species label the teacher is surest of, and its probability ((-1, 0.0) when it has none)."""
    if not species.any():
        return -1, 0.0
    best = int(np.argmax(np.where(species, probs, -np.inf)))
    return best, float(probs[best])


def chunk_block(
    probs: np.ndarray,
    labels: list[str],
    species: np.ndarray,
    config: TeacherConfig,
    columns: dict[str, int | None],
    label: str,
    negative: bool,
    combined: float | None,
) -> dict:
    """The ``teacher`` block of one chunk's metadata (see docs/design.md, format shardkit/2).

    ``max_p`` and the flags look at species labels only: a negative chunk where the teacher hears
    an engine is not a hard negative, one where it hears a bird is.
    """
    top = np.argsort(-probs, kind="stable")[: config.top_k]
    best, max_p = top_species(probs, species)
    flag = None
    if negative and max_p >= config.flag_threshold:
        flag = "teacher_hears_bird"
    elif not negative and columns.get(label) is not None and best != columns[label] and max_p >= config.flag_threshold:
        flag = "label_conflict"
    block = {
        "name": config.name,
        "probs": {name: (None if column is None else round(float(probs[column]), 5)) for name, column in sorted(columns.items())},
        "top": [[labels[i], round(float(probs[i]), 5)] for i in top],
        "max_p": round(max_p, 5),
        "flag": flag,
    }
    if combined is not None:
        block["combined"] = round(combined, 5)
    return block


def recording_audit(
    source: str, label: str, scored: list[Scored], labels: list[str], species: np.ndarray, column: int | None, config: TeacherConfig
) -> dict | None:
    """An audit entry when the species the teacher is surest of over the recording's candidates is another one, or None."""
    if column is None or not scored:
        return None
    strongest = np.max(np.stack([s.probs for s in scored]), axis=0)
    top1, confidence = top_species(strongest, species)
    if top1 < 0 or top1 == column or confidence < config.flag_threshold:
        return None
    return {
        "source": source,
        "class": label,
        "teacher_top1": labels[top1],
        "confidence": round(float(strongest[top1]), 4),
        "class_p": round(float(strongest[column]), 4),
    }
