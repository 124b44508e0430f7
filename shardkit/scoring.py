"""Scoring a sigmoid classifier in pure numpy: multi-label ROC AUC and cmAP, two models' rank
agreement, a paired bootstrap of a metric's drop, the spread that tells a collapsed model, and
which score is better.

Labels are ``[N, C]`` with a value ``>= 0.5`` meaning positive, so smoothed or mixup labels
work; a row of all zeros (a negative-class sample) is a negative for every class. A class
without positives (or, for ROC AUC, without negatives) gets NaN, and `macro` skips it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: a label at or above this value is a positive
POSITIVE_THRESHOLD = 0.5
#: a model whose every class score varies less than this across samples (one INT8 output step)
#: has collapsed: it scores every input alike, and its ROC AUC ranks noise in the 4th decimal
COLLAPSED_SCORE_STD = 1.0 / 256.0


def _validated(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positives as bool ``[N, C]`` and scores as float64 ``[N, C]``, after checking both."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    if labels.ndim != 2 or scores.ndim != 2:
        raise ValueError(f"labels and scores must be 2-D [N, C]; got shapes {labels.shape} and {scores.shape}")
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores must have the same shape; got {labels.shape} and {scores.shape}")
    labels, scores = labels.astype(np.float64), scores.astype(np.float64)
    for name, values in (("labels", labels), ("scores", scores)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite; got {np.count_nonzero(~np.isfinite(values))} NaN/inf values")
    return labels >= POSITIVE_THRESHOLD, scores


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of the 1-D ``x``, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def _roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney ROC AUC of one class (ties count one half); NaN without both kinds."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = float(np.sum(_average_ranks(score)[positive]))
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """Sum over distinct score thresholds of (R_n - R_{n-1}) * P_n; NaN without positives."""
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    ordered = score[order]
    group_ends = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    true_pos = np.cumsum(positive[order])[group_ends]
    precision = true_pos / (group_ends + 1.0)
    recall_steps = np.diff(np.r_[0, true_pos]) / n_pos
    return float(np.sum(recall_steps * precision))


def _per_class(metric: Callable[[np.ndarray, np.ndarray], float], positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``metric`` applied to each column of validated ``positive`` and ``scores``, as ``[C]`` float64."""
    return np.array([metric(positive[:, c], scores[:, c]) for c in range(scores.shape[1])], dtype=np.float64)


def roc_auc_per_class(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of every class, ties in scores counted as one half.

    Args:
        labels: ``[N, C]`` targets; ``>= 0.5`` is a positive.
        scores: ``[N, C]`` finite classifier outputs (probabilities or logits).

    Returns:
        ``[C]`` float64; NaN for a class with no positives or no negatives.

    Raises:
        ValueError: if the arrays are not 2-D of one shape, or hold NaN/inf.
    """
    return _per_class(_roc_auc, *_validated(labels, scores))


def average_precision_per_class(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision of every class as scikit-learn defines it (tied scores: one threshold).

    Args:
        labels: ``[N, C]`` targets; ``>= 0.5`` is a positive.
        scores: ``[N, C]`` finite classifier outputs.

    Returns:
        ``[C]`` float64; NaN for a class with no positives.

    Raises:
        ValueError: if the arrays are not 2-D of one shape, or hold NaN/inf.
    """
    return _per_class(_average_precision, *_validated(labels, scores))


def macro(values: np.ndarray) -> float:
    """Mean of the non-NaN entries of ``values``; NaN if there are none."""
    values = np.asarray(values, dtype=np.float64).ravel()
    kept = values[~np.isnan(values)]
    return float(np.mean(kept)) if kept.size else float("nan")


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float | int]:
    """Macro ROC AUC and class-wise mean average precision over the classes present.

    Args:
        labels: ``[N, C]`` targets; ``>= 0.5`` is a positive; all-zero rows are negatives.
        scores: ``[N, C]`` finite classifier outputs.

    Returns:
        ``{"roc_auc": float, "cmap": float, "classes_present": int}``, where a class is present
        when it has at least one positive; the means are NaN when no class qualifies.

    Raises:
        ValueError: if the arrays are not 2-D of one shape, or hold NaN/inf.
    """
    positive, scores = _validated(labels, scores)
    return {
        "roc_auc": macro(_per_class(_roc_auc, positive, scores)),
        "cmap": macro(_per_class(_average_precision, positive, scores)),
        "classes_present": int(np.count_nonzero(positive.any(axis=0))),
    }


def rank_agreement_per_class(reference: np.ndarray, other: np.ndarray, margin: float) -> np.ndarray:
    """Per class, the share of sample pairs ``reference`` orders clearly that ``other`` orders alike.

    A pair (i, j) counts when ``reference[i] - reference[j] >= margin``; it agrees when
    ``other[i] > other[j]``, half when they tie. This is Kendall-style concordance restricted to
    pairs the reference separates by at least ``margin``: with ``margin`` one or two output
    steps of an INT8 sigmoid (1/256), samples the INT8 model cannot tell apart (confident
    negatives all rounding to 0) do not count against it, which they would in a Spearman
    correlation over all samples, while a swapped pair costs exactly what it costs ROC AUC.

    Args:
        reference: ``[N, C]`` scores of the model taken as the truth (the float model).
        other: ``[N, C]`` scores of the model checked (the INT8 model).
        margin: the smallest reference score difference that makes a pair count; >= 0.

    Returns:
        ``[C]`` float64 in [0, 1]; NaN for a class without a pair separated by ``margin``.

    Raises:
        ValueError: if the arrays are not 2-D of one shape, hold NaN/inf, or ``margin`` < 0.
    """
    other = _validated(reference, other)[1]
    reference = _validated(other, reference)[1]
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0; got {margin}")
    agree, pairs = np.zeros(reference.shape[1]), np.zeros(reference.shape[1])
    rows = max(1, 2**21 // max(1, reference.size))  # [rows, N, C] blocks of at most ~16 MB per array
    for start in range(0, len(reference), rows):
        clear = (reference[start : start + rows, None, :] - reference[None, :, :]) >= max(margin, np.finfo(np.float64).tiny)
        order = np.sign(other[start : start + rows, None, :] - other[None, :, :])
        pairs += clear.sum(axis=(0, 1))
        agree += np.where(clear, (order + 1) / 2, 0.0).sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, agree / np.maximum(pairs, 1), np.nan)


def bootstrap_drops(labels: np.ndarray, reference: np.ndarray, other: np.ndarray, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Paired bootstrap of ``metric(reference) - metric(other)`` for macro ROC AUC and cmAP.

    Each resample draws N rows with replacement (one seeded generator) and scores both models
    on the same rows, so the spread is that of the drop, not of either metric. Resamples where a
    metric is undefined (no class with positives, or for ROC AUC negatives too) are left out.

    Args:
        labels: ``[N, C]`` targets; ``>= 0.5`` is a positive.
        reference: ``[N, C]`` scores of the reference model (float).
        other: ``[N, C]`` scores of the other model (INT8).
        resamples: number of bootstrap resamples, >= 1.
        seed: seeds the resampling.

    Returns:
        ``{"roc_auc": drops, "cmap": drops}``, each a 1-D float64 array of the defined drops.

    Raises:
        ValueError: if the arrays are not 2-D of one shape or hold NaN/inf.
    """
    positive, reference = _validated(labels, reference)
    other = _validated(labels, other)[1]
    metrics = {"roc_auc": _roc_auc, "cmap": _average_precision}
    drops: dict[str, list[float]] = {name: [] for name in metrics}
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        rows = rng.integers(0, len(positive), len(positive))
        for name, metric in metrics.items():
            drop = macro(_per_class(metric, positive[rows], reference[rows])) - macro(_per_class(metric, positive[rows], other[rows]))
            if not math.isnan(drop):
                drops[name].append(drop)
    return {name: np.asarray(values, dtype=np.float64) for name, values in drops.items()}


def score_spread(scores: np.ndarray) -> float:
    """The largest per-class standard deviation of ``[N, C]`` scores over the samples (NaN below two samples).

    Below `COLLAPSED_SCORE_STD` the model has collapsed.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) < 2:
        return math.nan
    return float(scores.std(axis=0).max())


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (NaN never improves; anything beats no best)."""
    if best is None or (math.isnan(best) and not math.isnan(value)):
        return True
    if math.isnan(value):
        return False
    return value > best if mode == "max" else value < best
