"""STM32N6 construction rules (`shardkit.n6_rules`), checked on a Keras model, layer by layer.

The rules (DESIGN.md, model and deployment): channel counts that a layer chooses are
multiples of 8 (the classifier head's width is the class count and is exempt), no
convolution or pooling stride above 2, only layers and activations the NPU runs in INT8 —
no ReLU6 or other clipping, no MIN/MAX, no division or LOG. Issue-level detail on the
converted TFLite model (ops, activation sizes) is the converter stage's report; this check
is what the model builder guarantees.
"""

from __future__ import annotations

import keras

from shardkit.model.dscnn import HEAD_LAYER
from shardkit.n6_rules import ALLOWED_ACTIVATIONS, ALLOWED_LAYERS, CHANNEL_MULTIPLE, MAX_STRIDE, N6Violation


def _layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def _activation_name(layer: keras.layers.Layer) -> str | None:
    activation = getattr(layer, "activation", None)
    return None if activation is None else getattr(activation, "__name__", str(activation))


def check_layer(layer: keras.layers.Layer, exempt_channels: frozenset[str] = frozenset({HEAD_LAYER})) -> list[N6Violation]:
    """The N6 rules broken by one layer."""
    kind = type(layer).__name__
    found = []
    if kind not in ALLOWED_LAYERS:
        found.append(N6Violation(layer.name, "layer not run by the NPU", f"{kind} would fall back to the MCU"))
    activation = _activation_name(layer)
    if activation is not None and activation not in ALLOWED_ACTIVATIONS:
        found.append(N6Violation(layer.name, "activation not run by the NPU", f"{activation!r} (allowed: {sorted(ALLOWED_ACTIVATIONS)})"))
    if kind == "ReLU" and (layer.max_value is not None or layer.negative_slope or layer.threshold):
        found.append(
            N6Violation(layer.name, "clipped or leaky ReLU", f"max_value={layer.max_value}, negative_slope={layer.negative_slope}, threshold={layer.threshold}")
        )
    strides = getattr(layer, "strides", None)
    if strides is not None and max(strides) > MAX_STRIDE:
        found.append(N6Violation(layer.name, f"stride above {MAX_STRIDE}", f"strides={tuple(strides)}"))
    chosen = getattr(layer, "filters", None) or getattr(layer, "units", None) or getattr(layer, "bands", None)
    if chosen is not None and chosen % CHANNEL_MULTIPLE and layer.name not in exempt_channels:
        found.append(N6Violation(layer.name, f"channels not a multiple of {CHANNEL_MULTIPLE}", f"{chosen} output channels"))
    return found


def check_n6(model: keras.Model) -> list[N6Violation]:
    """Every N6 rule broken anywhere in ``model`` (nested models included); [] when it complies."""
    return [violation for layer in _layers(model) for violation in check_layer(layer)]
