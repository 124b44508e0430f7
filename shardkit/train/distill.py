"""Distillation from the teacher's soft labels stored in the shards: the training target, and the shards' check.

A build run with a teacher (format shardkit/2) stores, per sample, the teacher's probability
for each class it maps; the reader hands them over with their mask (`ReaderConfig.soft_labels`).
The target a run trains on, with ``w`` = ``distill_weight`` and ``T`` = ``distill_temperature``:

    target = (1 - w) * hard + w * sigmoid(logit(p) / T)    where the teacher has p for the class
    target = hard                                          elsewhere

``T > 1`` flattens the teacher's probabilities towards 0.5, ``T < 1`` sharpens them; ``T = 1``
keeps them. The loss (BCE or focal, with label smoothing) then runs on that target as on hard
labels. Validation always scores against the hard labels. TensorFlow is imported on first use.
The soft labels may instead come from a trained model run on each batch
(`shardkit.train.teacher_model`); the target is the same.
"""

from __future__ import annotations

from typing import Any

from shardkit.errors import ConfigError

#: probabilities are clipped to [EPSILON, 1 - EPSILON] before the logit (0 and 1 have none)
EPSILON = 1e-7


def require_teacher(manifest: dict | None, shards: str, option: str = "distill_weight") -> dict:
    """The shards' teacher block (the manifest's ``teacher``), or a `ConfigError` saying why there is none to distil from.

    Args:
        manifest: the shards' manifest (None: the source has none).
        shards: the shard source, for the message.
        option: the setting that asked for distillation, for the message.

    Raises:
        ConfigError: no manifest, a manifest without a ``teacher`` block (a build without
            ``--teacher``, or format shardkit/1), or a teacher that maps none of the classes.
    """
    if manifest is None:
        raise ConfigError(f"{option} > 0 needs shards with a manifest holding a 'teacher' block; {shards!r} has no manifest")
    teacher = manifest.get("teacher")
    if not isinstance(teacher, dict):
        raise ConfigError(
            f"{option} > 0 needs the teacher's soft labels, but the shards {shards!r} (format {manifest.get('format')!r}) were built "
            "without a teacher (no 'teacher' block in their manifest); rebuild them with `shardkit build --teacher ...`, or leave distillation off"
        )
    mapping = teacher.get("mapping")
    if isinstance(mapping, dict) and not any(mapping.values()):
        raise ConfigError(f"{option} > 0 needs a teacher that maps some class, but the teacher of {shards!r} maps none of {sorted(mapping)}")
    return teacher


def distill_targets(labels: Any, soft: Any, mask: Any, weight: float, temperature: float = 1.0) -> Any:
    """The distillation target ``[B, C]`` (see the module docstring) as a float32 tensor.

    Args:
        labels: float32 ``[B, C]`` hard (multi-hot, possibly mixed) labels.
        soft: float32 ``[B, C]`` teacher probabilities.
        mask: float32 ``[B, C]``, 1 where ``soft`` holds the teacher's probability.
        weight: ``w`` in [0, 1]; 0 gives the hard labels exactly.
        temperature: ``T`` > 0.
    """
    import tensorflow as tf

    labels = tf.convert_to_tensor(labels, tf.float32)
    p = tf.clip_by_value(tf.convert_to_tensor(soft, tf.float32), EPSILON, 1.0 - EPSILON)
    tempered = tf.sigmoid((tf.math.log(p) - tf.math.log1p(-p)) / temperature)
    mixed = (1.0 - weight) * labels + weight * tempered
    return tf.where(tf.convert_to_tensor(mask, tf.float32) > 0, mixed, labels)


def with_distill_targets(dataset: Any, weight: float, temperature: float = 1.0) -> Any:
    """A reader's batches ``(x, {"labels", "soft", "mask"}, ...)`` as ``(x, target, ...)`` (`distill_targets`)."""

    def target(x, y, *rest):
        return (x, distill_targets(y["labels"], y["soft"], y["mask"], weight, temperature), *rest)

    return dataset.map(target)


def distill_record(teacher: dict, weight: float, temperature: float, source: str = "shards") -> dict:
    """What a model's config records of its distillation: the teacher's name, its mapped classes, ``w``, ``T`` and the source.

    ``source`` is ``shards`` (the soft labels stored by the build) or ``teacher_model`` (a trained
    model run on each batch, `shardkit.train.teacher_model`; its name is its path).
    """
    mapping = teacher.get("mapping") if isinstance(teacher.get("mapping"), dict) else {}
    mapped = sorted(c for c, label in mapping.items() if label)
    return {"teacher": teacher.get("name"), "source": source, "mapped_classes": mapped, "weight": weight, "temperature": temperature}
