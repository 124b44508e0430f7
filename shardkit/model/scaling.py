"""Magnitude scaling after the frontend, built from NPU-friendly Keras layers.

Inputs are ``[B, H, W, C]`` with time along W; parameters are per channel C (the mel bands
of the hybrid mixer, or 1 for a precomputed spectrogram). ``pwl`` and ``pcen`` use only 1x1
depthwise convs, ReLU, average pooling, Add and Subtract, which the N6 NPU runs in INT8;
``db`` needs a LOG op, which falls back to the MCU (the N6 check reports it).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

#: breakpoints of the piecewise-linear compression on [0, 1] inputs (min-max normalised)...
PWL_BREAKPOINTS = (0.0, 0.02, 0.1, 0.35)
#: ...and its initial slopes, a concave curve close to sqrt(x) (steep near 0, flat near 1)
PWL_SLOPES = (8.0, 2.4, 0.9, 0.5)
#: width (frames) of each of the two box filters that smooth the PCEN background estimate
PCEN_SMOOTH_FRAMES = 15
#: initial share of the smoothed background subtracted per channel
PCEN_INIT_STRENGTH = 0.8


def _pointwise(name: str, weight: float, bias: float | None = None) -> keras.layers.DepthwiseConv2D:
    """A per-channel ``x * w (+ b)``: a 1x1 depthwise conv."""
    return keras.layers.DepthwiseConv2D(
        1,
        use_bias=bias is not None,
        depthwise_initializer=keras.initializers.Constant(weight),
        bias_initializer=keras.initializers.Constant(bias or 0.0),
        name=name,
    )


def piecewise_linear(x, name: str = "pwl"):
    """Learned concave compression ``sum_k w_k * relu(x - t_k)``, one curve per channel."""
    branches = []
    previous = 0.0
    for k, (threshold, slope) in enumerate(zip(PWL_BREAKPOINTS, PWL_SLOPES)):
        shifted = _pointwise(f"{name}_shift{k}", 1.0, -threshold)(x)
        hinge = keras.layers.ReLU(name=f"{name}_hinge{k}")(shifted)
        branches.append(_pointwise(f"{name}_slope{k}", slope - previous)(hinge))
        previous = slope
    return keras.layers.Add(name=f"{name}_sum")(branches)


def pcen_like(x, name: str = "pcen"):
    """PCEN without division: subtract a learned share of a smoothed background, then compress.

    The background is two box filters along time (average pooling, stride 1), and the
    division of real PCEN becomes a subtraction in the (already compressed-range) input;
    the root compression becomes the piecewise-linear curve.
    """
    smooth = keras.layers.AveragePooling2D((1, PCEN_SMOOTH_FRAMES), strides=1, padding="same", name=f"{name}_smooth0")(x)
    smooth = keras.layers.AveragePooling2D((1, PCEN_SMOOTH_FRAMES), strides=1, padding="same", name=f"{name}_smooth1")(smooth)
    background = _pointwise(f"{name}_strength", PCEN_INIT_STRENGTH)(smooth)
    foreground = keras.layers.ReLU(name=f"{name}_floor")(keras.layers.Subtract(name=f"{name}_subtract")([x, background]))
    return piecewise_linear(foreground, name=f"{name}_pwl")


@keras.saving.register_keras_serializable(package="shardkit")
class DecibelScaling(keras.layers.Layer):
    """``10 * log10(x + 1e-6)`` rescaled to about [0, 1] (60 dB range); LOG is an MCU op on the N6."""

    def call(self, x):
        db = 10.0 * keras.ops.log(x + 1e-6) / np.log(10.0)
        return (db + 60.0) / 60.0


def _decibels(x, name: str = "db"):
    return DecibelScaling(name=name)(x)


def _identity(x, name: str = "none"):
    return x


#: mode name → function(tensor, name) → tensor
SCALINGS: dict[str, Callable] = {"pwl": piecewise_linear, "pcen": pcen_like, "db": _decibels, "none": _identity}


def magnitude_scaling(x, mode: str):
    """Apply the magnitude scaling ``mode`` (one of `SCALINGS`)."""
    return SCALINGS[mode](x, name=f"mag_{mode}")
