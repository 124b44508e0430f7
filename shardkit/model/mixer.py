"""The hybrid frontend's mel mixer: frequency bins → bands as one matrix product over frequency.

``[B, F, T, 1]`` → ``[B, 1, T, M]``. The same arithmetic as a ``Conv2D(M, (F, 1))``, but
computed as a MatMul of ``[B*T, F]`` by ``[F, M]``: TensorFlow 2.21's oneDNN convolution
aborts on Intel AVX-512 VNNI CPUs for such a tall (F x 1) kernel at batch >= 8 (it asks the
allocator for 64 GiB, then fails a dtype check), and a matrix product is cheaper anyway.
Nothing in training, evaluation or QAT ever runs the tall convolution.

The TFLite converter only traces the model (its calibration runs TFLite's own kernels), so
`as_tflite_layers` hands it the mixer in its Conv2D form: one CONV_2D op, the form the N6
NPU runs, bit-for-bit the graph of earlier shardkit versions. `mixers_to_matmul` upgrades a
model saved by those versions (a Conv2D named ``mel_mixer``) to the matrix form on load.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

#: the layer name other stages rely on (linear probe, export, N6 check, ablations)
MEL_MIXER_LAYER = "mel_mixer"


@keras.saving.register_keras_serializable(package="shardkit")
class MelMixer(keras.layers.Layer):
    """``y[b, 0, t, m] = sum_f x[b, f, t, 0] * kernel[f, m]``, no bias.

    Args:
        bands: output bands M.
        kernel_initializer: initial ``[F, M]`` weights.
    """

    def __init__(self, bands: int, kernel_initializer="glorot_uniform", **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(bands, int) or bands < 1:
            raise ValueError(f"MelMixer bands must be a positive integer; got {bands!r}")
        self.bands = bands
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape) -> None:
        if len(input_shape) != 4 or input_shape[-1] != 1:
            raise ValueError(f"MelMixer takes [batch, bins, frames, 1] spectrograms; got shape {tuple(input_shape)}")
        self.kernel = self.add_weight(shape=(input_shape[1], self.bands), initializer=self.kernel_initializer, name="kernel")

    def call(self, x):
        return self.mix(x, self.kernel)

    @staticmethod
    def mix(x, kernel):
        """``x`` ``[B, F, T, 1]`` times ``kernel`` ``[F, M]`` over F → ``[B, 1, T, M]`` (also used by QAT's fake quantization)."""
        ops = keras.ops
        frames = ops.transpose(ops.squeeze(x, axis=-1), (0, 2, 1))  # [B, T, F]
        bands = ops.matmul(frames, ops.cast(kernel, frames.dtype))  # [B, T, M]
        return ops.expand_dims(bands, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, input_shape[2], self.bands)

    def get_config(self) -> dict:
        return {**super().get_config(), "bands": self.bands, "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def _conv_form(mixer: MelMixer) -> keras.layers.Conv2D:
    """The (F x 1) Conv2D that computes what ``mixer`` computes (weights set once it is built)."""
    return keras.layers.Conv2D(mixer.bands, (mixer.kernel.shape[0], 1), use_bias=False, dtype="float32", name=mixer.name)


def _matrix_form(conv: keras.layers.Conv2D) -> MelMixer:
    return MelMixer(conv.filters, dtype=conv.dtype_policy, trainable=conv.trainable, name=conv.name)


def _is_old_mixer(layer: keras.layers.Layer) -> bool:
    return type(layer).__name__ == "Conv2D" and layer.name == MEL_MIXER_LAYER and layer.kernel_size[1] == 1 and not layer.use_bias


def _picked(model: keras.Model, pick: Callable) -> bool:
    return any(_picked(layer, pick) if isinstance(layer, keras.Model) else pick(layer) for layer in model.layers)


def _swap_layers(model: keras.Model, pick: Callable, replace: Callable, to_weights: Callable) -> keras.Model:
    """``model`` with each layer for which ``pick(layer)`` holds replaced by ``replace(layer)``.

    Other layers are shared, not copied; nested models are handled recursively. Returns
    ``model`` itself (compiled state and all) when nothing is picked.
    """
    if not _picked(model, pick):
        return model
    swapped: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.Model):
            return _swap_layers(layer, pick, replace, to_weights)
        if pick(layer):
            new = replace(layer)
            swapped.append((layer, new))
            return new
        return layer

    result = keras.models.clone_model(model, clone_function=clone)
    for old, new in swapped:
        new.set_weights([to_weights(old, new)])
    return result


def mixers_to_matmul(model: keras.Model) -> keras.Model:
    """A model saved with the old (F x 1) Conv2D mixer, with the matrix-product mixer instead (same weights).

    A compiled model stays compiled with its own optimizer (the other layers, and so the
    optimizer's variables, are shared), so a checkpoint of an earlier version resumes.
    """
    upgraded = _swap_layers(model, _is_old_mixer, _matrix_form, lambda old, new: np.asarray(old.kernel).reshape(new.kernel.shape))
    if upgraded is not model and getattr(model, "optimizer", None) is not None:
        upgraded.compile(optimizer=model.optimizer, loss=model.loss)
    return upgraded


def as_tflite_layers(model: keras.Model) -> keras.Model:
    """``model`` with every `MelMixer` in its Conv2D form, for the TFLite converter only (never run in TF)."""
    return _swap_layers(model, lambda layer: isinstance(layer, MelMixer), _conv_form, lambda old, new: np.asarray(old.kernel).reshape(new.kernel.shape))
