"""The QAT losses: how far the fake-quant student's sigmoid scores are from the float teacher's.

``LOSSES`` maps a `QATConfig.loss` name to a factory that takes the config's settings (a dict)
and returns ``loss(teacher, student)`` over ``[batch, classes]`` sigmoid scores:

* ``bce``: binary cross-entropy of the student against the teacher's scores as soft targets.
  With the teacher fixed its gradient is the Bernoulli KL's (BCE = KL + the teacher's entropy).
* ``tail_distill``: ``kl_weight`` × Bernoulli KL(teacher || student), mean over classes and
  samples, + ``cosine_weight`` × (1 - the batch's mean per-sample cosine) + ``tail_cosine_weight``
  × (1 - the mean of its worst ``tail_fraction`` cosines): the cosine terms push on the samples
  whose score vector INT8 turns most, which a mean over samples lets through.

`mixed_loss` blends either with binary cross-entropy against the labels (`QATConfig.teacher_weight`).
Keras is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

#: the tail_distill settings of `QATConfig` and their defaults
TAIL_DISTILL_WEIGHTS = {"kl_weight": 1.0, "cosine_weight": 0.10, "tail_cosine_weight": 0.75, "tail_fraction": 0.10}
#: scores are clipped to [EPSILON, 1 - EPSILON] before a logarithm (Keras's BCE clips the same)
EPSILON = 1e-7

Loss = Callable[[Any, Any], Any]


def binary_crossentropy(targets, scores):
    """Mean binary cross-entropy of sigmoid ``scores`` against ``targets`` in [0, 1] (Keras's)."""
    import keras

    return keras.ops.mean(keras.losses.binary_crossentropy(targets, scores))


def bernoulli_kl(teacher, student):
    """KL(teacher || student) of each class's Bernoulli, mean over classes and samples.

    Args:
        teacher: ``[N, C]`` sigmoid scores of the float model.
        student: ``[N, C]`` sigmoid scores of the fake-quant model.
    """
    import keras

    ops = keras.ops
    t, s = ops.clip(teacher, EPSILON, 1.0 - EPSILON), ops.clip(student, EPSILON, 1.0 - EPSILON)
    return ops.mean(t * ops.log(t / s) + (1.0 - t) * ops.log((1.0 - t) / (1.0 - s)))


def cosine_per_sample(teacher, student):
    """``[N]`` cosine between each sample's teacher and student score vectors."""
    import keras

    ops = keras.ops
    norms = ops.sqrt(ops.sum(teacher * teacher, axis=-1) * ops.sum(student * student, axis=-1))
    return ops.sum(teacher * student, axis=-1) / ops.maximum(norms, EPSILON)


def worst_mean(values, fraction: float):
    """Mean of the smallest ``ceil(fraction * N)`` (at least one) of the 1-D ``values``."""
    import keras

    ops = keras.ops
    count = ops.shape(values)[0]
    worst = ops.maximum(ops.cast(ops.ceil(fraction * ops.cast(count, "float32")), "int32"), 1)
    ordered = ops.sort(values)
    kept = ops.arange(count) < worst
    return ops.sum(ops.where(kept, ordered, ops.zeros_like(ordered))) / ops.cast(worst, ordered.dtype)


def tail_distill(teacher, student, *, kl_weight: float, cosine_weight: float, tail_cosine_weight: float, tail_fraction: float):
    """Bernoulli KL + mean cosine + worst-cosine distillation loss (see the module docstring).

    Args:
        teacher: ``[N, C]`` sigmoid scores of the float model.
        student: ``[N, C]`` sigmoid scores of the fake-quant model.
        kl_weight: weight of the Bernoulli KL.
        cosine_weight: weight of 1 - the mean per-sample cosine.
        tail_cosine_weight: weight of 1 - the mean of the worst cosines.
        tail_fraction: share of the samples that are the worst (at least one).

    Returns:
        A scalar; 0 when the student equals the teacher.
    """
    cosine = cosine_per_sample(teacher, student)
    import keras

    mean = keras.ops.mean(cosine)
    return kl_weight * bernoulli_kl(teacher, student) + cosine_weight * (1.0 - mean) + tail_cosine_weight * (1.0 - worst_mean(cosine, tail_fraction))


#: QATConfig.loss → factory(settings) → loss(teacher, student)
LOSSES: dict[str, Callable[[Mapping[str, Any]], Loss]] = {
    "bce": lambda settings: binary_crossentropy,
    "tail_distill": lambda settings: partial(tail_distill, **{name: settings[name] for name in TAIL_DISTILL_WEIGHTS}),
}


def mixed_loss(distill: Loss, teacher_weight: float) -> Callable[[Any, Any, Any], Any]:
    """``loss(teacher, student, labels)``: ``teacher_weight`` × ``distill`` + the rest × BCE against the labels.

    For ``bce`` this equals BCE against ``teacher_weight * teacher + (1 - teacher_weight) * labels``
    (cross-entropy is linear in its targets), the loss QAT had before ``tail_distill``.
    """
    if teacher_weight == 1.0:
        return lambda teacher, student, labels: distill(teacher, student)
    if teacher_weight == 0.0:
        return lambda teacher, student, labels: binary_crossentropy(labels, student)
    return lambda teacher, student, labels: teacher_weight * distill(teacher, student) + (1.0 - teacher_weight) * binary_crossentropy(labels, student)
