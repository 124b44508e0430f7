"""A trained shardkit model as an online teacher: loaded, checked against the run, its soft labels added per batch.

``shardkit train --teacher-model BIG.keras --distill-weight W`` distils from a trained model
(self-distillation) instead of the soft labels a build stored. The teacher must see the
student's features, so its frontend (the spectrogram contract, sample rate and compression
included) must be the run's; the classes it shares with the shards get its probabilities,
the others mask 0 (hard labels there). Its scores are computed per training batch, frozen and
in inference mode, after the reader's augmentation (mixup, SpecAugment): the teacher judges
exactly what the student sees. Validation never uses it. TensorFlow is imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shardkit.errors import ConfigError
from shardkit.train.trained_model import load_checkpoint, require_trained


@dataclass
class OnlineTeacher:
    """A loaded teacher and how its outputs map onto the run's classes.

    Attributes:
        path: the teacher's ``.keras`` path or URL.
        model: the teacher's deployable model (features in, sigmoid scores out), frozen.
        mapping: run class → the same class in the teacher, or None where it lacks it.
        index: per run class, the teacher's output column (0 where it lacks the class: masked).
    """

    path: str
    model: Any
    mapping: dict[str, str | None]
    index: list[int]

    @property
    def mask(self) -> list[float]:
        """Per run class, 1.0 where the teacher has it."""
        return [1.0 if label else 0.0 for label in self.mapping.values()]

    def record(self) -> dict:
        """The teacher as `shardkit.train.distill.distill_record` takes it (name and mapping)."""
        return {"name": self.path, "mapping": dict(self.mapping)}


def load_teacher(path: str, frontend: Any, classes: list[str], storage_options: dict | None = None) -> OnlineTeacher:
    """Load a trained ``.keras`` (with its model config) as the teacher of a run on ``frontend`` and ``classes``.

    Args:
        path: the teacher's ``.keras``, written by ``shardkit train`` (or ``shardkit qat``).
        frontend: the run's `shardkit.audio.frontends.FrontendConfig`.
        classes: the run's classes (the shards'), in output order.
        storage_options: fsspec options for ``path``.

    Raises:
        ConfigError: not a trained shardkit model, a frontend that differs from the run's, or
            no class shared with the shards.
    """
    checkpoint = load_checkpoint(path, storage_options)
    require_trained(checkpoint, "a teacher must be a trained model")
    theirs, ours = checkpoint.frontend.to_dict(), frontend.to_dict()
    if theirs != ours:
        differ = {key: (theirs.get(key), ours.get(key)) for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)}
        raise ConfigError(
            f"the teacher model {path!r} was trained on frontend {theirs} but this run's frontend is {ours} "
            f"(they differ in {differ}, as (teacher, run)); a teacher must see the student's features"
        )
    teacher_classes = checkpoint.classes
    mapping = {name: (name if name in teacher_classes else None) for name in classes}
    if not any(mapping.values()):
        raise ConfigError(
            f"the teacher model {path!r} has classes {teacher_classes} and the shards have {classes}: they share none, so it has nothing to teach"
        )
    checkpoint.model.trainable = False
    index = [teacher_classes.index(label) if label else 0 for label in mapping.values()]
    return OnlineTeacher(path, checkpoint.model, mapping, index)


def with_teacher_soft_labels(dataset: Any, teacher_model: Any, index: list[int], mask: list[float]) -> Any:
    """A reader's batches ``(x, labels, ...)`` as ``(x, {"labels", "soft", "mask"}, ...)`` with the teacher's scores of ``x``.

    Args:
        dataset: the training reader's epoch (augmented features, hard labels).
        teacher_model: what takes ``x`` (the teacher, behind the frontend layer under deferred placement).
        index: per class of the labels, the teacher's output column.
        mask: per class, 1.0 where the teacher has it; ``soft`` is 0 where the mask is.
    """
    import tensorflow as tf

    columns = tf.constant(index, tf.int32)
    row = tf.constant(mask, tf.float32)

    def add(x, labels, *rest):
        scores = tf.cast(teacher_model(x, training=False), tf.float32)
        shared = tf.broadcast_to(row, tf.shape(labels))
        soft = tf.stop_gradient(tf.gather(scores, columns, axis=1)) * shared
        return (x, {"labels": labels, "soft": soft, "mask": shared}, *rest)

    return dataset.map(add)
