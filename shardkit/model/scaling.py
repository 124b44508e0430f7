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

#: breakpoints of the piecewise-linear compression on [0, 1] inputs (min-max normalised),
#: geometric so that it can follow a log curve over two decades. Not finer: in the INT8
#: model the mel bands are one tensor with a step of about 0.003 of full scale, and a
#: segment narrower than a few steps only amplifies rounding (breakpoints from 0.002 with
#: eps 0.002 gave slopes of ~56 and an INT8 model whose output cosine p5 was 0.87)
PWL_BREAKPOINTS = (0.0, 0.01, 0.03, 0.1, 0.3)
#: the curve the initial slopes follow: log(1 + x / eps) / log(1 + 1 / eps), 0 at 0 and 1 at 1
PWL_LOG_EPS = 0.01
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


def pwl_initial_slopes() -> list[float]:
    """Slopes of the segments between `PWL_BREAKPOINTS` (and 1.0) on the log curve."""
    knots = np.array([*PWL_BREAKPOINTS, 1.0])
    curve = np.log1p(knots / PWL_LOG_EPS) / np.log1p(1.0 / PWL_LOG_EPS)
    return list(np.diff(curve) / np.diff(knots))


def piecewise_linear(x, name: str = "pwl"):
    """Learned log-like compression, one curve per channel: ``sum_k s_k * segment_k(x)``.

    ``segment_k = relu(x - t_k) - relu(x - t_{k+1})`` is x's share of segment k (between 0
    and the segment's width; the last one is open above), and the learned slopes ``s_k``
    start on a log curve. Every intermediate stays within [0, 1], which keeps INT8 ranges
    tight (the equivalent ``sum_k w_k relu(x - t_k)`` has branches 50x larger than its sum).
    """
    hinges = []
    for k, threshold in enumerate(PWL_BREAKPOINTS):
        shifted = _pointwise(f"{name}_shift{k}", 1.0, -threshold)(x)
        hinges.append(keras.layers.ReLU(name=f"{name}_hinge{k}")(shifted))
    parts = []
    for k, slope in enumerate(pwl_initial_slopes()):
        segment = keras.layers.Subtract(name=f"{name}_segment{k}")([hinges[k], hinges[k + 1]]) if k + 1 < len(hinges) else hinges[k]
        parts.append(_pointwise(f"{name}_slope{k}", slope)(segment))
    return keras.layers.Add(name=f"{name}_sum")(parts)


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
