"""Multi-label ROC AUC and cmAP: hand-computed cases, brute-force definitions, NaN policy, errors; is_better."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shardkit.scoring import (
    average_precision_per_class,
    bootstrap_drops,
    classification_metrics,
    is_better,
    macro,
    rank_agreement_per_class,
    roc_auc_per_class,
)


def brute_roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Share of (positive, negative) pairs ranked correctly, ties counting one half."""
    pos, neg = score[positive], score[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def brute_average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """Mean over positives of the precision at the threshold equal to that positive's score."""
    if not positive.any():
        return math.nan
    precisions = [np.count_nonzero(positive & (score >= s)) / np.count_nonzero(score >= s) for s in score[positive]]
    return float(np.mean(precisions))


def column(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


def test_perfect_ranking_scores_one():
    labels = column([1, 1, 0, 0, 0])
    scores = column([0.9, 0.8, 0.3, 0.2, 0.1])
    assert roc_auc_per_class(labels, scores)[0] == 1.0
    assert average_precision_per_class(labels, scores)[0] == 1.0


def test_reversed_ranking_scores_zero_auc():
    labels = column([1, 1, 0, 0, 0])
    scores = column([0.1, 0.2, 0.7, 0.8, 0.9])
    assert roc_auc_per_class(labels, scores)[0] == 0.0
    # positives at ranks 4 and 5: precisions 1/4 and 2/5
    assert average_precision_per_class(labels, scores)[0] == pytest.approx((1 / 4 + 2 / 5) / 2)


def test_hand_computed_example_with_ties():
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float64)
    scores = np.array([[0.8, 0.3], [0.8, 0.3], [0.5, 0.3], [0.2, 0.3]])
    # class 0 pairs (pos, neg): (.8,.8)=.5 (.8,.2)=1 (.5,.8)=0 (.5,.2)=1 -> 2.5/4
    # class 1: every score tied -> 0.5
    np.testing.assert_allclose(roc_auc_per_class(labels, scores), [0.625, 0.5])
    # class 0 thresholds: .8 -> R=.5 P=1/2; .5 -> R=1 P=2/3; .2 adds no recall -> .25 + 1/3
    # class 1: one threshold with R=1 P=2/4
    np.testing.assert_allclose(average_precision_per_class(labels, scores), [7 / 12, 0.5])


def test_smoothed_labels_count_as_their_rounded_class():
    hard = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float64)
    soft = np.where(hard > 0, 0.9, 0.05)
    scores = np.array([[0.7, 0.1], [0.4, 0.6], [0.2, 0.9], [0.3, 0.2]])
    np.testing.assert_array_equal(roc_auc_per_class(soft, scores), roc_auc_per_class(hard, scores))
    np.testing.assert_array_equal(average_precision_per_class(soft, scores), average_precision_per_class(hard, scores))


label_score_pairs = st.tuples(st.integers(1, 12), st.integers(1, 3)).flatmap(
    lambda shape: st.tuples(
        hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])),
        # few distinct values so ties are common; an occasional fine value breaks them
        hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(-5, 5)),
    )
)


@settings(max_examples=100, deadline=None)
@given(label_score_pairs)
def test_roc_auc_matches_pairwise_definition(pair):
    labels, scores = pair
    expected = [brute_roc_auc(labels[:, c] >= 0.5, scores[:, c]) for c in range(labels.shape[1])]
    np.testing.assert_allclose(roc_auc_per_class(labels, scores), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(label_score_pairs)
def test_average_precision_matches_precision_at_each_positive(pair):
    labels, scores = pair
    expected = [brute_average_precision(labels[:, c] >= 0.5, scores[:, c]) for c in range(labels.shape[1])]
    np.testing.assert_allclose(average_precision_per_class(labels, scores), expected, rtol=1e-12, atol=1e-12)


def test_absent_classes_are_nan_and_macro_skips_them():
    labels = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1]], dtype=np.float64)
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.4, 0.6], [0.8, 0.3, 0.7]])
    auc = roc_auc_per_class(labels, scores)
    ap = average_precision_per_class(labels, scores)
    assert auc[0] == 1.0 and math.isnan(auc[1]) and math.isnan(auc[2])  # class 2 has no negatives
    assert ap[0] == 1.0 and math.isnan(ap[1]) and ap[2] == 1.0
    metrics = classification_metrics(labels, scores)
    assert metrics == {"roc_auc": 1.0, "cmap": 1.0, "classes_present": 2}


def test_macro_means_the_non_nan_entries():
    assert macro(np.array([0.5, math.nan, 1.0])) == 0.75
    assert math.isnan(macro(np.array([math.nan, math.nan])))
    assert math.isnan(macro(np.array([])))


def test_all_zero_rows_are_negatives_for_every_class():
    labels = np.array([[1, 0], [0, 1], [0, 0], [0, 0]], dtype=np.float64)
    scores = np.array([[0.9, 0.1], [0.1, 0.9], [0.95, 0.05], [0.2, 0.2]])
    # class 0: positive 0.9 beats 0.1 and 0.2 but loses to the all-zero row's 0.95
    np.testing.assert_allclose(roc_auc_per_class(labels, scores), [2 / 3, 1.0])
    np.testing.assert_allclose(average_precision_per_class(labels, scores), [0.5, 1.0])
    metrics = classification_metrics(labels, scores)
    assert metrics["classes_present"] == 2
    assert metrics["roc_auc"] == pytest.approx(5 / 6)
    assert metrics["cmap"] == pytest.approx(0.75)


def test_no_positive_anywhere_gives_nan_means():
    metrics = classification_metrics(np.zeros((3, 2)), np.full((3, 2), 0.5))
    assert metrics["classes_present"] == 0
    assert math.isnan(metrics["roc_auc"]) and math.isnan(metrics["cmap"])


@pytest.mark.parametrize("function", [roc_auc_per_class, average_precision_per_class, classification_metrics])
def test_rejects_arrays_that_are_not_2d(function):
    with pytest.raises(ValueError, match=r"must be 2-D \[N, C\]; got shapes \(4,\) and \(4,\)"):
        function(np.zeros(4), np.zeros(4))


@pytest.mark.parametrize("function", [roc_auc_per_class, average_precision_per_class, classification_metrics])
def test_rejects_mismatched_shapes(function):
    with pytest.raises(ValueError, match=r"same shape; got \(4, 2\) and \(4, 3\)"):
        function(np.zeros((4, 2)), np.zeros((4, 3)))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_rejects_non_finite_scores(bad):
    scores = np.zeros((3, 2))
    scores[1, 0] = bad
    with pytest.raises(ValueError, match="scores must be finite; got 1 NaN/inf values"):
        classification_metrics(np.zeros((3, 2)), scores)


def test_rejects_non_finite_labels():
    labels = np.zeros((3, 2))
    labels[2, 1] = math.nan
    with pytest.raises(ValueError, match="labels must be finite; got 1 NaN/inf values"):
        roc_auc_per_class(labels, np.zeros((3, 2)))


@pytest.mark.parametrize(
    ("value", "best", "mode", "expected"),
    [
        (0.5, None, "max", True),
        (math.nan, None, "max", True),
        (0.6, 0.5, "max", True),
        (0.5, 0.5, "max", False),
        (0.4, 0.5, "min", True),
        (0.6, 0.5, "min", False),
        (0.1, math.nan, "min", True),
        (math.nan, 0.5, "max", False),
        (math.nan, math.nan, "max", False),
    ],
)
def test_is_better_prefers_the_monitor_direction_and_never_nan(value, best, mode, expected):
    assert is_better(value, best, mode) is expected


def brute_rank_agreement(reference: np.ndarray, other: np.ndarray, margin: float) -> float:
    """Over pairs the reference orders by at least ``margin``: 1 when ``other`` agrees, 1/2 on a tie."""
    votes = [
        1.0 if other[i] > other[j] else 0.5 if other[i] == other[j] else 0.0
        for i in range(len(reference))
        for j in range(len(reference))
        if reference[i] - reference[j] >= margin and reference[i] != reference[j]
    ]
    return float(np.mean(votes)) if votes else math.nan


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(2, 30), st.just(2)), elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])),
    st.data(),
    st.sampled_from([0.0, 0.25, 0.6]),
)
def test_rank_agreement_matches_pairwise_definition(reference, data, margin):
    other = data.draw(hnp.arrays(np.float64, reference.shape, elements=st.sampled_from([0.0, 0.5, 1.0])))
    got = rank_agreement_per_class(reference, other, margin)
    for c in range(reference.shape[1]):
        want = brute_rank_agreement(reference[:, c], other[:, c], margin)
        assert (math.isnan(got[c]) and math.isnan(want)) or got[c] == pytest.approx(want)


def test_rank_agreement_sees_a_reversed_ranking_and_ignores_unresolved_pairs():
    reference = column([0.1, 0.2, 0.3, 0.4, 0.0001, 0.0002])
    assert rank_agreement_per_class(reference, reference, 0.05)[0] == 1.0
    assert rank_agreement_per_class(reference, -reference, 0.05)[0] == 0.0
    # the two near-zero rows, tied in INT8, differ by less than the margin: their pair does not count
    assert rank_agreement_per_class(reference, np.round(reference * 10) / 10, 0.05)[0] == 1.0
    with pytest.raises(ValueError, match="margin must be >= 0; got -1"):
        rank_agreement_per_class(reference, reference, -1)


def test_bootstrap_drop_of_a_constant_model_matches_its_known_distribution():
    # float ranks perfectly (ROC AUC 1, AP 1); a constant model has ROC AUC 1/2 and AP = the
    # resample's prevalence, so the ROC AUC drop is exactly 1/2 and the AP drop 1 - prevalence,
    # whose 95 % interval is 1/2 -+ 1.96 * sqrt(1/4 / n)
    n = 400
    labels = column([1.0] * (n // 2) + [0.0] * (n // 2))
    perfect, constant = labels * 0.8 + 0.1, np.full((n, 1), 0.3)
    drops = bootstrap_drops(labels, perfect, constant, resamples=2000, seed=0)
    np.testing.assert_allclose(drops["roc_auc"], 0.5)
    low, high = np.percentile(drops["cmap"], [2.5, 97.5])
    half_width = 1.96 * math.sqrt(0.25 / n)
    assert low == pytest.approx(0.5 - half_width, abs=0.008) and high == pytest.approx(0.5 + half_width, abs=0.008)
    again = bootstrap_drops(labels, perfect, constant, resamples=2000, seed=0)
    np.testing.assert_array_equal(again["cmap"], drops["cmap"])  # seeded
    same = bootstrap_drops(labels, perfect, perfect, resamples=50, seed=1)
    assert np.all(same["roc_auc"] == 0) and np.all(same["cmap"] == 0)  # paired: no drop, no spread


def test_score_spread_is_the_widest_class_and_undefined_below_two_samples():
    from shardkit.scoring import score_spread

    scores = np.array([[0.1, 0.5], [0.3, 0.5], [0.5, 0.5]])
    assert score_spread(scores) == pytest.approx(np.sqrt(((0.1 - 0.3) ** 2 + 0 + (0.5 - 0.3) ** 2) / 3))
    assert score_spread(scores[:, 1:]) == 0.0
    assert np.isnan(score_spread(scores[:1]))
