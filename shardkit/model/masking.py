"""Padding-blind layers for training on a free time axis (length-bucketed batches).

A bucketed batch pads every sample to its bucket's width and carries each sample's valid
frames (``lengths``, in input frames). For padding not to change a prediction, nothing the
model computes for the valid frames may read a padded one:

- `PadTime` pads the time axis to a multiple of the model's total time stride first, so every
  stride-2 "same" convolution pads on the right only, whatever the sample's length (with an
  odd width it would pad one frame on the left too and shift the sampling grid);
- `FrameMask` gives, at any depth, which frames are valid (``ceil(lengths / factor)`` of
  them, ``factor`` the time stride so far); `TimeMask` zeroes the others after every layer
  that can make them non-zero (a BatchNorm's shift, a bias, ReLU), so the next 3x3
  convolution sees zeros there, as it would beyond the end of an unpadded sample;
- BatchNorm's batch statistics are taken over valid frames only (Keras' ``mask``);
- `MaskedPool` averages (or takes the maximum) over valid frames only.

A model built this way gives a sample the same score alone or padded in any bucket. Its
weights are the fixed-length model's, layer for layer (these layers have none), so the
deployed model is the fixed-length build with the trained weights copied in
(`shardkit.model.dscnn.fixed_length_copy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="shardkit")
class PadTime(keras.layers.Layer):
    """Zero-pad the time axis of ``[B, H, W, C]`` at its end to a multiple of ``multiple``."""

    def __init__(self, axis: int, multiple: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis, self.multiple = axis, multiple

    def call(self, x):
        width = ops.shape(x)[self.axis]
        extra = (-width) % self.multiple
        pads = [[0, 0]] * 4
        pads[self.axis] = [0, extra]
        return ops.pad(x, pads)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[self.axis] is not None:
            shape[self.axis] = -(-shape[self.axis] // self.multiple) * self.multiple
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="shardkit")
class FrameMask(keras.layers.Layer):
    """``[x, lengths]`` → bool ``[B, H, W]``: True on the valid frames of ``x`` (time along ``axis``).

    ``lengths`` counts input frames; after a total time stride of ``factor`` the first
    ``ceil(lengths / factor)`` frames are valid.
    """

    def __init__(self, axis: int, factor: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis, self.factor = axis, factor

    def call(self, inputs):
        x, lengths = inputs
        valid = (ops.cast(ops.reshape(lengths, [-1]), "int32") + self.factor - 1) // self.factor
        frames = ops.arange(ops.shape(x)[self.axis], dtype="int32")
        inside = ops.expand_dims(frames, 0) < ops.expand_dims(valid, 1)  # [B, W]
        other = ops.shape(x)[3 - self.axis]
        inside = ops.expand_dims(inside, 3 - self.axis)  # [B, 1, W] or [B, W, 1]
        target = [ops.shape(x)[0], other, ops.shape(x)[self.axis]] if self.axis == 2 else [ops.shape(x)[0], ops.shape(x)[self.axis], other]
        return ops.broadcast_to(inside, target)

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0][:3])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs[0].shape[:3], dtype="bool")

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "factor": self.factor}


@keras.saving.register_keras_serializable(package="shardkit")
class TimeMask(keras.layers.Layer):
    """``[x, mask]`` → ``x`` with the frames where ``mask`` (``[B, H, W]``) is False set to 0.

    It ends the Keras mask a masked BatchNorm attaches to its output: every later layer gets
    its mask explicitly, at its own time resolution.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        x, mask = inputs
        return ops.where(ops.expand_dims(mask, -1), x, ops.zeros_like(x))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


@keras.saving.register_keras_serializable(package="shardkit")
class MaskedPool(keras.layers.Layer):
    """``[x, mask]`` → the mean (or max) of ``x`` over the valid cells of ``axes`` (spatial axes 1, 2).

    ``mean``: the sum over valid cells divided by their count (what GlobalAveragePooling2D /
    AveragePooling2D over the whole map give an unpadded input). ``max``: the maximum over
    valid cells (padded cells never win). ``keepdims`` keeps the pooled axes as size 1.
    """

    def __init__(self, axes: tuple[int, ...] = (1, 2), reduce: str = "mean", keepdims: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if reduce not in ("mean", "max"):
            raise ValueError(f"MaskedPool reduce must be 'mean' or 'max'; got {reduce!r}")
        self.axes, self.reduce, self.keepdims = tuple(axes), reduce, keepdims

    def call(self, inputs):
        x, mask = inputs
        valid = ops.expand_dims(mask, -1)
        if self.reduce == "max":
            lowest = ops.full_like(x, float("-inf"))
            return ops.max(ops.where(valid, x, lowest), axis=self.axes, keepdims=self.keepdims)
        weights = ops.cast(valid, x.dtype)
        total = ops.sum(x * weights, axis=self.axes, keepdims=self.keepdims)
        count = ops.sum(weights, axis=self.axes, keepdims=self.keepdims)
        return total / ops.maximum(count, 1.0)

    def compute_output_shape(self, input_shapes):
        shape = list(input_shapes[0])
        for axis in sorted(self.axes, reverse=True):
            if self.keepdims:
                shape[axis] = 1
            else:
                del shape[axis]
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": list(self.axes), "reduce": self.reduce, "keepdims": self.keepdims}


@dataclass(frozen=True)
class TimeAxis:
    """Where a model under construction keeps time, how far it has been strided, and the lengths (None: fixed length).

    With ``lengths`` None every method leaves the fixed-length model exactly as it was.
    """

    lengths: object = None
    axis: int = 2
    factor: int = 1

    @property
    def free(self) -> bool:
        """Whether the time axis is free (the model masks padding)."""
        return self.lengths is not None

    def strided(self, strides: int | tuple[int, int]) -> TimeAxis:
        """After a layer of ``strides``: the time stride so far grows by its time component."""
        step = strides if isinstance(strides, int) else strides[self.axis - 1]
        return TimeAxis(self.lengths, self.axis, self.factor * step)

    def mask(self, x, name: str):
        """The valid-frame mask ``[B, H, W]`` of ``x`` (None at a fixed length)."""
        return FrameMask(self.axis, self.factor, name=f"{name}_frames")([x, self.lengths]) if self.free else None

    def zero_padding(self, x, name: str, frames=None):
        """``x`` with its padded frames zeroed (unchanged at a fixed length); ``frames``: its mask, if made already."""
        if not self.free:
            return x
        return TimeMask(name=f"{name}_mask")([x, self.mask(x, name) if frames is None else frames])
