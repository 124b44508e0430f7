"""Length buckets from the manifest's duration histogram (pure numpy).

Buckets start as equal-total-duration quantiles of the histogram and the worst bucket is
split until every bucket's expected padding (to its upper edge) is under the limit, or the
bucket count reaches its bound. Each bucket gets a batch size from a seconds budget, so every
batch holds about the same audio, and the set of batch shapes is one per bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Buckets:
    """Upper edges (seconds, ascending) and the batch size of each bucket."""

    upper_s: tuple[float, ...]
    batch_sizes: tuple[int, ...]

    def expected_padding(self, histogram: dict) -> float:
        """Padding ratio (padded / total samples) the histogram predicts for these buckets."""
        centres, counts, _ = _bins(histogram)
        which = np.searchsorted(np.asarray(self.upper_s), centres, side="left")
        upper = np.asarray(self.upper_s)[np.minimum(which, len(self.upper_s) - 1)]
        return float(np.sum(counts * (upper - centres)) / max(np.sum(counts * upper), 1e-12))

    def expected_batches(self, histogram: dict) -> int:
        """Batches an epoch of the histogram's samples makes: each bucket's samples over its batch size, its last batch partial."""
        centres, counts, _ = _bins(histogram)
        which = np.minimum(np.searchsorted(np.asarray(self.upper_s), centres, side="left"), len(self.upper_s) - 1)
        per_bucket = np.bincount(which, weights=counts, minlength=len(self.upper_s))
        return int(sum(int(np.ceil(n / size)) for n, size in zip(per_bucket, self.batch_sizes, strict=True) if n > 0))


def _bins(histogram: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    edges = np.asarray(histogram["edges_s"], dtype=np.float64)
    counts = np.asarray(histogram["counts"], dtype=np.float64)
    return (edges[:-1] + edges[1:]) / 2, counts, edges[1:]


def _padding(centres: np.ndarray, counts: np.ndarray, upper: float) -> float:
    total = np.sum(counts) * upper
    return float(np.sum(counts * (upper - centres)) / total) if total > 0 else 0.0


def plan_buckets(histogram: dict, *, max_padding_ratio: float, max_buckets: int, seconds_per_batch: float, initial_buckets: int = 4) -> Buckets:
    """Choose bucket edges and batch sizes for a duration histogram.

    Args:
        histogram: the manifest's ``duration_histogram`` of the split (``edges_s``, ``counts``).
        max_padding_ratio: split buckets until each one's expected padding is at most this.
        max_buckets: never more buckets (shapes) than this.
        seconds_per_batch: audio seconds per batch; batch size = this / bucket upper edge.
        initial_buckets: equal-total-duration buckets to start from.
    """
    centres, counts, uppers = _bins(histogram)
    used = np.flatnonzero(counts)
    if len(used) == 0:
        raise ValueError("the duration histogram is empty: no samples in this split")
    centres, counts, uppers = centres[used], counts[used], uppers[used]
    cumulative = np.cumsum(counts * centres)
    targets = cumulative[-1] * np.arange(1, initial_buckets) / initial_buckets
    cuts = sorted(set(np.searchsorted(cumulative, targets, side="left").tolist()) - {len(centres) - 1})
    groups = np.split(np.arange(len(centres)), [c + 1 for c in cuts])
    groups = [g for g in groups if len(g)]
    while len(groups) < max_buckets:
        splittable = [i for i, g in enumerate(groups) if len(g) >= 2]
        if not splittable:
            break
        worst = max(splittable, key=lambda i: _padding(centres[groups[i]], counts[groups[i]], uppers[groups[i][-1]]))
        group = groups[worst]
        if _padding(centres[group], counts[group], uppers[group[-1]]) <= max_padding_ratio:
            break
        weight = np.cumsum(counts[group] * centres[group])
        cut = int(np.clip(np.searchsorted(weight, weight[-1] / 2), 0, len(group) - 2))
        groups[worst : worst + 1] = [group[: cut + 1], group[cut + 1 :]]
    upper_s = tuple(float(uppers[g[-1]]) for g in groups)
    batch_sizes = tuple(max(1, int(seconds_per_batch // upper)) for upper in upper_s)
    return Buckets(upper_s, batch_sizes)
