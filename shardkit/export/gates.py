"""The conversion gates: a collapsed float model refused before converting, then float-vs-INT8 gates.

What users lose to INT8 is ranking: ROC AUC and cmAP on the gate split. Their drops are gated
with a seeded paired bootstrap interval, which decides one of three outcomes: passed (the whole
interval within the bound), failed (the whole interval beyond it) or too few gate samples to
decide (the interval straddles the bound, or the gate set is too small for any interval). Two
agreement gates that need no labels back them: rank agreement (`scoring.rank_agreement_per_class`)
and the mean absolute output error. Per-sample cosine stays, but it cannot be the only gate:
two near-constant sigmoid vectors have cosine 1.0 whatever their ranking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from shardkit.errors import ConfigError
from shardkit.export.config import ConvertConfig
from shardkit.scoring import bootstrap_drops, classification_metrics

log = logging.getLogger(__name__)

#: paired bootstrap resamples behind a drop's interval
BOOTSTRAP_RESAMPLES = 1000
#: two-sided coverage of that interval
CONFIDENCE = 0.95
#: below this many gate samples no drop is decided, whatever its interval says
MIN_DECIDING_SAMPLES = 30
#: what each outcome of a drop gate says in the report
OUTCOMES = {"passed": "passed", "failed": "FAILED", "undecided": "too few gate samples to decide"}


class CollapsedModelError(ConfigError):
    """The float model's scores barely vary across samples: it is refused before converting."""


def check_not_collapsed(scores: np.ndarray, classes: Sequence[str], min_score_std: float, model: str) -> None:
    """Refuse a float model whose every class score is (nearly) the same for every gate sample.

    A model collapsed to its class priors ranks samples by noise in the 4th decimal: its
    float ROC AUC can look fine while its INT8 twin, one output step being 1/256, ranks nothing.
    A model with only some classes below the bound is converted, with a warning naming them.

    Args:
        scores: ``[N, C]`` float-model sigmoid scores on the gate samples.
        classes: the C class names.
        min_score_std: a class whose score standard deviation over the samples is below this is flat.
        model: the model's path, for the message.

    Raises:
        CollapsedModelError: every class is flat (checked with at least two samples).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) < 2:
        log.warning("%d gate sample(s): cannot tell whether %s collapsed", len(scores), model)
        return
    std = scores.std(axis=0)
    flat = [name for name, value in zip(classes, std, strict=True) if value < min_score_std]
    if len(flat) < len(classes):
        if flat:
            log.warning("%s: scores of %s barely vary across %d gate samples (std < %.4g)", model, flat, len(scores), min_score_std)
        return
    widest = int(np.argmax(std))
    raise CollapsedModelError(
        f"{model!r} has collapsed: its scores barely vary across the {len(scores)} gate samples "
        f"(largest per-class std {std[widest]:.2g}, {classes[widest]!r}, below min_score_std {min_score_std:.4g}), so it scores "
        "every input about the same and INT8 cannot rank anything; train longer, check the data (labels, class balance, "
        "enough samples per class) or start from the demo's settings (shardkit demo); not converted"
    )


def drop_gate(float_value: float, int8_value: float, drops: np.ndarray, max_drop: float, samples: int) -> dict:
    """The outcome of one metric's float → INT8 drop against ``max_drop``.

    Args:
        float_value: the metric of the float model on the gate samples.
        int8_value: the same of the INT8 model.
        drops: paired bootstrap drops (`scoring.bootstrap_drops`).
        max_drop: the largest drop allowed.
        samples: how many gate samples the metrics came from.

    Returns:
        ``{"value", "max", "interval", "confidence", "samples", "outcome"}``; ``interval`` is
        None when undefined; ``outcome`` is a key of `OUTCOMES`.
    """
    value = float_value - int8_value
    interval = None
    if len(drops) and np.isfinite(value):
        tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
        interval = [float(v) for v in np.percentile(drops, [tail, 100.0 - tail])]
    if interval is None or samples < MIN_DECIDING_SAMPLES:
        outcome = "undecided"
    elif interval[1] <= max_drop:
        outcome = "passed"
    elif interval[0] > max_drop:
        outcome = "failed"
    else:
        outcome = "undecided"
    return {"value": float(value), "max": max_drop, "interval": interval, "confidence": CONFIDENCE, "samples": samples, "outcome": outcome}


def _bound_gate(value: float, kind: str, bound: float) -> dict:
    """``{"value", "min" | "max", "passed"}``; NaN (nothing to judge) passes only a waived ``min`` of 0."""
    passed = bool(value >= bound if kind == "min" else value <= bound) if np.isfinite(value) else kind == "min" and bound <= 0
    return {"value": value, kind: bound, "passed": passed}


def evaluate_gates(
    labels: np.ndarray, float_scores: np.ndarray, int8_scores: np.ndarray, measured: dict, n6_ok: bool, config: ConvertConfig
) -> dict[str, dict]:
    """Every conversion gate, each with ``value``, its bound (``min`` or ``max``) and ``passed``.

    Args:
        labels: ``[N, C]`` gate-sample targets.
        float_scores: ``[N, C]`` float-model scores.
        int8_scores: ``[N, C]`` INT8-model scores.
        measured: `runtime.agreement` of the two.
        n6_ok: whether the N6 report is clean.
        config: the bounds.

    Returns:
        ``{name: gate}``: ``cosine_mean``, ``cosine_p5``, ``roc_auc_drop`` and ``cmap_drop``
        (with ``outcome``; an undecided one passes unless ``config.undecided_fails``),
        ``rank_agreement``, ``output_mae`` and, when required, ``n6``.
    """
    float_metrics, int8_metrics = classification_metrics(labels, float_scores), classification_metrics(labels, int8_scores)
    drops = bootstrap_drops(labels, float_scores, int8_scores, BOOTSTRAP_RESAMPLES, config.calibration.seed)
    gates: dict[str, dict] = {}
    for name, kind, bound in (("cosine_mean", "min", config.min_cosine_mean), ("cosine_p5", "min", config.min_cosine_p5)):
        gates[name] = _bound_gate(measured[name], kind, bound)
    for name, bound in (("roc_auc", config.max_roc_auc_drop), ("cmap", config.max_cmap_drop)):
        gate = drop_gate(float_metrics[name], int8_metrics[name], drops[name], bound, len(labels))
        gate["passed"] = gate["outcome"] == "passed" or (gate["outcome"] == "undecided" and not config.undecided_fails)
        if gate["outcome"] == "undecided":
            log.warning("%s", describe_gate(f"{name}_drop", gate))
        gates[f"{name}_drop"] = gate
    gates["rank_agreement"] = _bound_gate(measured["rank_agreement"], "min", config.min_rank_agreement)
    gates["output_mae"] = _bound_gate(measured["output_mae"], "max", config.max_output_mae)
    if config.require_n6:
        gates["n6"] = {"value": n6_ok, "passed": n6_ok}
    return gates


def describe_gate(name: str, gate: dict) -> str:
    """One gate as a phrase: ``roc_auc_drop 0.0210 > 0.005 (95% interval [0.012, 0.031]): FAILED``."""
    if isinstance(gate["value"], bool):
        return f"{name}: {'passed' if gate['passed'] else 'FAILED'}"
    if "min" in gate:
        bound = f"{'>=' if gate['passed'] else '<'} {gate['min']:.4g}"
    else:
        bound = f"{'<=' if gate['value'] <= gate['max'] else '>'} {gate['max']:.4g}"
    text = f"{name} {gate['value']:.4f} {bound}"
    if "outcome" in gate:
        interval = gate["interval"]
        spread = f"{gate['confidence']:.0%} interval [{interval[0]:.4f}, {interval[1]:.4f}], " if interval else ""
        return f"{text} ({spread}{gate['samples']} samples): {OUTCOMES[gate['outcome']]}"
    return f"{text}: {'passed' if gate['passed'] else 'FAILED'}"


def gate_failures(gates: dict[str, dict], n6_violations: int) -> list[str]:
    """One phrase per gate that failed (an N6 one counts its violations)."""
    return [f"n6: {n6_violations} N6 violations" if name == "n6" else describe_gate(name, gate) for name, gate in gates.items() if not gate["passed"]]
