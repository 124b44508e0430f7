"""The conversion gates on score arrays: ranking loss behind a perfect cosine, small gate sets, collapse."""

from __future__ import annotations

import numpy as np
import pytest

from shardkit.errors import ConfigError
from shardkit.export.config import ConvertConfig
from shardkit.export.gates import MIN_DECIDING_SAMPLES, CollapsedModelError, check_not_collapsed, describe_gate, evaluate_gates
from shardkit.export.runtime import agreement

CLASSES = ["a", "b", "c", "d"]


def planted_ranking_loss(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, float scores and "INT8" scores whose every row is the float row rescaled.

    Each row is a per-sample loudness times one class profile, so per-sample cosine is 1.0;
    the INT8 rows take their loudness from another sample, so the ranking over samples is gone.
    """
    rng = np.random.default_rng(seed)
    loudness = rng.uniform(0.1, 1.0, n)
    profile = np.array([0.95, 0.7, 0.5, 0.3])
    labels = np.repeat((loudness > 0.55)[:, None], len(CLASSES), axis=1).astype(np.float64)
    return labels, loudness[:, None] * profile, rng.permutation(loudness)[:, None] * profile


def gates_of(labels: np.ndarray, float_scores: np.ndarray, int8_scores: np.ndarray, **settings) -> dict:
    return evaluate_gates(labels, float_scores, int8_scores, agreement(float_scores, int8_scores), True, ConvertConfig(**settings))


def test_a_planted_ranking_loss_passes_the_cosine_gates_and_fails_the_new_ones():
    labels, float_scores, int8_scores = planted_ranking_loss(200)
    gates = gates_of(labels, float_scores, int8_scores)
    assert gates["cosine_mean"]["value"] >= 0.999 and gates["cosine_p5"]["value"] >= 0.999
    assert gates["cosine_mean"]["passed"] and gates["cosine_p5"]["passed"]  # the old gates are fooled
    assert gates["roc_auc_drop"]["outcome"] == "failed" and not gates["roc_auc_drop"]["passed"]
    assert gates["roc_auc_drop"]["interval"][0] > 0.3  # float ranks perfectly, INT8 at chance
    assert gates["cmap_drop"]["outcome"] == "failed"
    assert not gates["rank_agreement"]["passed"] and gates["rank_agreement"]["value"] < 0.7
    assert "FAILED" in describe_gate("roc_auc_drop", gates["roc_auc_drop"])


def test_labels_free_gates_see_the_ranking_loss_too():
    # the ranking loss with every sample's label negative: no drop can be measured, rank agreement still fails
    labels, float_scores, int8_scores = planted_ranking_loss(200)
    gates = gates_of(np.zeros_like(labels), float_scores, int8_scores)
    assert gates["roc_auc_drop"]["outcome"] == "undecided" and gates["roc_auc_drop"]["interval"] is None
    assert not gates["rank_agreement"]["passed"]


def test_an_int8_model_that_reproduces_the_float_one_passes_every_gate():
    labels, float_scores, _ = planted_ranking_loss(200)
    int8_scores = np.round(float_scores * 256) / 256  # the INT8 output grid, nothing else lost
    gates = gates_of(labels, float_scores, int8_scores)
    assert all(gate["passed"] for gate in gates.values()), gates
    assert gates["roc_auc_drop"]["outcome"] == "passed" and gates["cmap_drop"]["outcome"] == "passed"
    assert gates["rank_agreement"]["value"] == 1.0 and gates["output_mae"]["value"] <= 0.5 / 256


def test_a_small_gate_set_is_too_few_to_decide():
    labels, float_scores, int8_scores = planted_ranking_loss(MIN_DECIDING_SAMPLES - 1)
    gates = gates_of(labels, float_scores, int8_scores)
    for name in ("roc_auc_drop", "cmap_drop"):
        assert gates[name]["outcome"] == "undecided" and gates[name]["passed"], gates[name]  # reported; other gates decide
        assert "too few gate samples to decide" in describe_gate(name, gates[name])
    strict = gates_of(labels, float_scores, int8_scores, undecided_fails=True)
    assert not strict["roc_auc_drop"]["passed"] and not strict["cmap_drop"]["passed"]


def test_an_interval_across_the_bound_is_undecided_and_a_larger_set_decides():
    # INT8 swaps a few positive/negative pairs: a drop near the bound, uncertain on 40 samples
    rng = np.random.default_rng(3)

    def noisy(n: int) -> dict:
        labels = (rng.random((n, 1)) < 0.5).astype(np.float64)
        float_scores = labels * 0.3 + rng.uniform(0.2, 0.6, (n, 1))  # overlapping classes
        int8_scores = np.clip(float_scores + rng.normal(0, 0.05, (n, 1)), 0, 1)
        return gates_of(labels, float_scores, int8_scores)["roc_auc_drop"]

    small = noisy(40)
    assert small["outcome"] == "undecided" and small["interval"][0] <= 0.005 < small["interval"][1], small
    large = noisy(4000)  # the same loss, about 0.015, measured on enough samples
    assert large["outcome"] == "failed" and 0.005 < large["interval"][0] < large["value"] < large["interval"][1] < 0.03, large


def test_a_collapsed_model_is_refused_with_what_to_try():
    rng = np.random.default_rng(0)
    priors = np.array([0.31, 0.12, 0.44, 0.08])
    collapsed = priors + rng.normal(0, 1e-4, (50, 4))  # constant to the 4th decimal
    with pytest.raises(CollapsedModelError, match=r"'m\.keras' has collapsed: .* 50 gate samples .*train longer, check the data") as info:
        check_not_collapsed(collapsed, CLASSES, 1 / 256, "m.keras")
    assert isinstance(info.value, ConfigError) and "\n" not in str(info.value)
    partly = collapsed.copy()
    partly[:, 0] = rng.uniform(0, 1, 50)  # one class still ranks: converted, with a warning
    check_not_collapsed(partly, CLASSES, 1 / 256, "m.keras")
    check_not_collapsed(collapsed[:1], CLASSES, 1 / 256, "m.keras")  # one sample cannot show it


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_roc_auc_drop": -0.1}, "max_roc_auc_drop must be a number in [0, 1]; got -0.1"),
        ({"min_rank_agreement": 1.5}, "min_rank_agreement must be a share in [0, 1]; got 1.5"),
        ({"max_output_mae": "x"}, "max_output_mae must be a number in [0, 1]; got 'x'"),
    ],
)
def test_gate_bounds_are_checked(settings, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ConvertConfig(**settings)


def test_rank_agreement_with_nothing_to_judge_fails_unless_waived():
    labels, float_scores, _ = planted_ranking_loss(40)
    flat = 0.3 + float_scores * 1e-3  # no pair two INT8 steps apart
    assert np.isnan(agreement(flat, flat)["rank_agreement"])
    assert not gates_of(labels, flat, flat)["rank_agreement"]["passed"]
    assert gates_of(labels, flat, flat, min_rank_agreement=0.0)["rank_agreement"]["passed"]
