"""The model view's numbers: curves, counts at a threshold, and which clips to listen to first.

Pure numpy over the scores `shardkit.export.evaluate.score_split` returns; the headline metrics
are that report's own, so the page and `shardkit evaluate` print the same numbers.
"""

from __future__ import annotations

import numpy as np

#: most points a drawn curve keeps
CURVE_POINTS = 200


def _thin(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(xs) <= CURVE_POINTS:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, CURVE_POINTS).astype(int))
    return xs[keep], ys[keep]


def _counts_by_threshold(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score, highest first (ties together)."""
    order = np.argsort(-score, kind="stable")
    hits = positive[order].astype(np.float64)
    ends = np.r_[np.flatnonzero(np.diff(score[order])), len(score) - 1]
    tp = np.cumsum(hits)[ends]
    fp = np.cumsum(1.0 - hits)[ends]
    return tp, fp


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates from (0, 0) to (1, 1); empty arrays when a class has no positives or no negatives."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return np.zeros(0), np.zeros(0)
    tp, fp = _counts_by_threshold(positive, score)
    return _thin(np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos])


def pr_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at each distinct score (recall rising); empty when a class has no positives."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return np.zeros(0), np.zeros(0)
    tp, fp = _counts_by_threshold(positive, score)
    return _thin(tp / n_pos, tp / (tp + fp))


def counts_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> list[dict]:
    """Per class: true/false positives and negatives when ``score >= threshold`` means predicted."""
    truth = labels >= 0.5
    predicted = scores >= threshold
    rows = []
    for c in range(labels.shape[1]):
        t, p = truth[:, c], predicted[:, c]
        tp, fp, fn, tn = int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p)), int(np.sum(~t & ~p))
        rows.append({"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None})
    return rows


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """``[true, predicted]`` counts; index ``n_classes`` is "none" (no label / no score at the threshold).

    A sample's true class is its first label; its predicted class is its top-scoring class if
    that score reaches ``threshold``.
    """
    n = labels.shape[1]
    truth = np.where((labels >= 0.5).any(axis=1), np.argmax(labels >= 0.5, axis=1), n)
    top = np.argmax(scores, axis=1)
    predicted = np.where(scores[np.arange(len(scores)), top] >= threshold, top, n)
    matrix = np.zeros((n + 1, n + 1), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def worst_errors(labels: np.ndarray, scores: np.ndarray, count: int) -> list[tuple[int, float]]:
    """``(index, error)`` of the samples whose scores are furthest from their labels (largest ``max |label - score|``)."""
    error = np.max(np.abs(labels - scores), axis=1)
    order = np.argsort(-error, kind="stable")[:count]
    return [(int(i), float(error[i])) for i in order]


def largest_divergence(reference: np.ndarray, other: np.ndarray, count: int) -> list[tuple[int, float]]:
    """``(index, max |reference - other|)`` of the samples where two models disagree most."""
    gap = np.max(np.abs(reference - other), axis=1)
    order = np.argsort(-gap, kind="stable")[:count]
    return [(int(i), float(gap[i])) for i in order]
