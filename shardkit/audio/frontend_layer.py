"""The frontend as a Keras layer: the deferred placement.

The reader yields waveforms, and this non-trainable layer computes the spectrogram as the
model's first layer, on the accelerator. The exported (N6) model starts after it and still
takes the spectrogram, so training and deployment share one frontend definition.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from shardkit.audio.frontends import FrontendConfig
from shardkit.audio.frontends_tf import tf_frontend


@keras.saving.register_keras_serializable(package="shardkit")
class SpectrogramFrontend(keras.layers.Layer):
    """Waveforms ``[B, N]`` → features ``[B, rows, W, 1]`` per the spectrogram contract.

    Args:
        frontend: a `FrontendConfig` or its dict (as saved in the model config; one saved
            without ``compression`` is a v1 frontend, uncompressed).
    """

    def __init__(self, frontend: FrontendConfig | dict, **kwargs) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.frontend = frontend if isinstance(frontend, FrontendConfig) else FrontendConfig.from_dict(frontend)

    def call(self, waveforms: tf.Tensor) -> tf.Tensor:
        features = tf_frontend(waveforms, self.frontend)
        return features if self.frontend.name == "raw" else features[..., tf.newaxis]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = self.frontend.output_shape
        return (input_shape[0], *shape) if self.frontend.name == "raw" else (input_shape[0], *shape, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "frontend": self.frontend.to_dict()}
