"""Graph rewrites for deployment: a flat float32 model with BatchNorm folded, and its fake-quant twin.

The converter's full-INT8 scheme, mirrored here so QAT trains against it:

* weights: symmetric, per output channel, ``scale = max|w| / 127``, values in [-127, 127];
  BatchNorm that follows a conv is folded into the conv's kernel and bias first (as the
  converter does), so the quantized kernel is the folded one;
* activations: asymmetric per tensor, ``scale = (max - min) / 255`` over a range that holds
  0, from the min/max over the calibration set (the converter's calibrator); one
  quantization per op output, where a ReLU that follows a conv/dense/add is fused into it
  (only the ReLU's output is quantized) and reshapes, max and average pooling (TFLite's INT8
  pools keep their input's scale) and dropout keep the scale; a sigmoid's output has the fixed scale 1/256 (zero point -128).

`deployable_model` gives the flat float32 model that is saved and converted (no fake-quant
layer, mixed-precision policies dropped, nested models inlined); `fake_quant_model` wraps
that model's own layers, so training it updates the deployable model's weights in place.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

#: layer classes whose kernel is quantized per output channel, and the kernel axes reduced for it
WEIGHT_AXES = {"Conv2D": (0, 1, 2), "DepthwiseConv2D": (0, 1), "Dense": (0,), "MelMixer": (0,)}
#: layer classes whose output keeps its input's quantization (no op of their own in INT8)
PASS_THROUGH = frozenset({"Reshape", "Flatten", "Identity", "Dropout", "SpatialDropout2D", "MaxPooling2D", "AveragePooling2D"})
#: layer classes into which the converter fuses a following ReLU
FUSES_RELU = frozenset({"Conv2D", "MelMixer", "DepthwiseConv2D", "Dense", "Add", "Subtract", "Multiply"})
#: INT8 activation range and weight range
QMIN, QMAX, WEIGHT_QMAX = -128, 127, 127
#: a sigmoid's INT8 output range in TFLite: scale 1/256, zero point -128
SIGMOID_RANGE = (0.0, 255.0 / 256.0)


# ----- graph walking ----------------------------------------------------------------------


def _leaf_call(layer_fn: Callable) -> Callable:
    """An operation mapper for `_run_through_graph` that inlines nested models."""

    def operation(op):
        if isinstance(op, keras.Model):
            return lambda *args, **kwargs: op._run_through_graph(args[0] if len(args) == 1 else list(args), operation_fn=operation)
        return lambda *args, **kwargs: layer_fn(op, *args, **kwargs)

    return operation


def rebuild(model: keras.Model, layer_fn: Callable, batch_size: int | None = None, input_fn: Callable | None = None) -> keras.Model:
    """A new functional model with ``layer_fn(layer, *args, **kwargs)`` in place of every leaf layer call.

    Args:
        model: a functional model (nested functional models are inlined).
        layer_fn: computes a layer's outputs in the new graph.
        batch_size: fixed batch size of the new inputs (the converter wants 1), or None.
        input_fn: applied to each new input tensor before the graph (e.g. input quantization).
    """
    inputs = [keras.Input(batch_shape=(batch_size, *tensor.shape[1:]), name=tensor.name) for tensor in model.inputs]
    start = [input_fn(x) for x in inputs] if input_fn else inputs
    outputs = model._run_through_graph(start[0] if len(start) == 1 else start, operation_fn=_leaf_call(layer_fn))
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=model.name)


def consumers(model: keras.Model) -> dict[str, list[keras.layers.Layer]]:
    """Layer name → the layers that take its output, in a flat model (``"<input>"`` for the inputs)."""
    found: dict[str, list] = {}
    input_ids = {id(t) for t in model.inputs}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                producer = "<input>" if id(tensor) in input_ids else tensor._keras_history.operation.name
                found.setdefault(producer, []).append(layer)
    return found


# ----- the deployable float32 model ---------------------------------------------------------


def _float32_clone(layer: keras.layers.Layer, **changes) -> keras.layers.Layer:
    return type(layer).from_config({**layer.get_config(), "dtype": "float32", **changes})


def _foldable(model: keras.Model) -> dict[str, str]:
    """BatchNorm name → the conv it folds into (the conv's only consumer, the BN's only input)."""
    found = {}
    taken = consumers(model)
    for layer in model.layers:
        if type(layer).__name__ not in ("Conv2D", "DepthwiseConv2D") or getattr(layer.activation, "__name__", "linear") != "linear":
            continue
        after = taken.get(layer.name, [])
        if len(after) == 1 and type(after[0]).__name__ == "BatchNormalization" and after[0].axis in (-1, [-1], [3], 3):
            found[after[0].name] = layer.name
    return found


def _folded_weights(conv: keras.layers.Layer, bn: keras.layers.BatchNormalization) -> list[np.ndarray]:
    kernel = np.asarray(conv.kernel, dtype=np.float64)
    bias = np.asarray(conv.bias, dtype=np.float64) if conv.use_bias else 0.0
    gamma = np.asarray(bn.gamma, dtype=np.float64) if bn.scale else 1.0
    beta = np.asarray(bn.beta, dtype=np.float64) if bn.center else 0.0
    factor = gamma / np.sqrt(np.asarray(bn.moving_variance, dtype=np.float64) + bn.epsilon)
    if type(conv).__name__ == "DepthwiseConv2D":
        folded = kernel * factor.reshape(kernel.shape[2], kernel.shape[3])
    else:
        folded = kernel * factor
    new_bias = (bias - np.asarray(bn.moving_mean, dtype=np.float64)) * factor + beta
    return [folded.astype(np.float32), np.asarray(new_bias, dtype=np.float32)]


def deployable_model(model: keras.Model, batch_size: int | None = None) -> keras.Model:
    """``model`` as one flat float32 graph with every conv→BatchNorm pair folded into the conv.

    Same outputs as ``model`` in inference (to float rounding); no nested models, no
    mixed-precision policies, nothing trainable frozen in BatchNorm form.
    """
    flat = rebuild(model, lambda layer, *args, **kwargs: _copy_call(layer, *args, **kwargs), batch_size)
    folds = _foldable(flat)
    convs = {conv: bn for bn, conv in folds.items()}

    def call(layer, *args, **kwargs):
        if layer.name in folds:
            return args[0]  # folded into the conv before it
        if layer.name in convs:
            bn = flat.get_layer(convs[layer.name])
            clone = _float32_clone(layer, use_bias=True)
            outputs = clone(*args)
            clone.set_weights(_folded_weights(layer, bn))
            return outputs
        return _copy_call(layer, *args, **kwargs)

    return rebuild(flat, call, batch_size)


def _copy_call(layer: keras.layers.Layer, *args, **kwargs):
    """Call a float32 copy of ``layer`` (its weights copied) on ``args``."""
    clone = _float32_clone(layer)
    kwargs.pop("training", None)
    outputs = clone(*args, **kwargs)
    clone.set_weights(layer.get_weights())
    clone.trainable = layer.trainable
    return outputs


# ----- fake quantization ------------------------------------------------------------------


def round_half_away(x):
    """Round to nearest, ties away from zero, as TFLite's quantizer does (numpy's round takes ties to even)."""
    return keras.ops.sign(x) * keras.ops.floor(keras.ops.abs(x) + 0.5)


def fake_quant_activation(x, low, high):
    """Asymmetric per-tensor INT8 rounding of ``x`` over [low, high] (0 included), straight-through."""
    ops = keras.ops
    low, high = ops.minimum(low, 0.0), ops.maximum(high, 0.0)
    scale = ops.maximum((high - low) / (QMAX - QMIN), 1e-9)
    zero_point = ops.clip(round_half_away(QMIN - low / scale), QMIN, QMAX)
    clipped = ops.clip(x, (QMIN - zero_point) * scale, (QMAX - zero_point) * scale)
    quantized = (ops.clip(round_half_away(x / scale) + zero_point, QMIN, QMAX) - zero_point) * scale
    return clipped + ops.stop_gradient(quantized - clipped)


def fake_quant_weights(kernel, axes: tuple[int, ...]):
    """Symmetric per-channel INT8 rounding of ``kernel`` (channels = the axes not reduced), straight-through."""
    ops = keras.ops
    scale = ops.maximum(ops.max(ops.abs(kernel), axis=axes, keepdims=True) / WEIGHT_QMAX, 1e-12)
    quantized = ops.clip(round_half_away(kernel / scale), -WEIGHT_QMAX, WEIGHT_QMAX) * scale
    return kernel + ops.stop_gradient(quantized - kernel)


class ActivationQuantizer(keras.layers.Layer):
    """Per-tensor fake quantization with a calibrated range (or a fixed one, e.g. a sigmoid's [0, 1]).

    While ``observing`` is set (eager calls only), it passes values through and widens its
    range to their min/max, as the converter's calibrator does.
    """

    def __init__(self, fixed_range: tuple[float, float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fixed_range = fixed_range
        self.observing = False
        self.low = self.add_weight(shape=(), initializer="zeros", trainable=False, name="low")
        self.high = self.add_weight(shape=(), initializer="zeros", trainable=False, name="high")
        if fixed_range is not None:
            self.low.assign(fixed_range[0])
            self.high.assign(fixed_range[1])

    def call(self, x):
        if self.observing:
            if self.fixed_range is None:
                self.low.assign(keras.ops.minimum(self.low, keras.ops.min(x)))
                self.high.assign(keras.ops.maximum(self.high, keras.ops.max(x)))
            return x
        return fake_quant_activation(x, self.low, self.high)


class QuantizedWeights(keras.layers.Layer):
    """A Conv2D / MelMixer / DepthwiseConv2D / Dense computed with its kernel fake-quantized per channel.

    The wrapped layer's own variables are used (and trained); a sigmoid activation gets its
    input quantized (the converter's separate LOGISTIC op) and the fixed 1/256 output scale.
    """

    def __init__(self, layer: keras.layers.Layer, **kwargs) -> None:
        super().__init__(name=f"{layer.name}_quant", **kwargs)
        self.inner = layer
        self.kind = type(layer).__name__
        self.activation = getattr(layer, "activation", keras.activations.linear)  # a MelMixer has none
        self.activation_name = getattr(self.activation, "__name__", "linear")
        self.pre_activation = ActivationQuantizer(name=f"{layer.name}_pre_quant") if self.activation_name == "sigmoid" else None

    def call(self, x):
        layer, ops = self.inner, keras.ops
        kernel = fake_quant_weights(layer.kernel, WEIGHT_AXES[self.kind])
        if self.kind == "Conv2D":
            y = ops.conv(x, kernel, strides=layer.strides, padding=layer.padding, data_format=layer.data_format, dilation_rate=layer.dilation_rate)
        elif self.kind == "DepthwiseConv2D":
            y = ops.depthwise_conv(x, kernel, strides=layer.strides, padding=layer.padding, data_format=layer.data_format, dilation_rate=layer.dilation_rate)
        elif self.kind == "MelMixer":
            y = layer.mix(x, kernel)
        else:
            y = ops.matmul(x, kernel)
        if getattr(layer, "use_bias", False):
            y = y + layer.bias
        if self.pre_activation is not None:
            return fake_quant_activation(ops.sigmoid(self.pre_activation(y)), *SIGMOID_RANGE)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


def _fixed_output_range(layer: keras.layers.Layer) -> tuple[float, float] | None:
    activation = getattr(layer, "activation", None)
    if type(layer).__name__ == "Activation" and getattr(activation, "__name__", "") == "sigmoid":
        return SIGMOID_RANGE
    return None


def quantizes_output(layer: keras.layers.Layer, after: list[keras.layers.Layer]) -> bool:
    """Whether the converter gives ``layer``'s output its own INT8 quantization."""
    kind = type(layer).__name__
    if kind in PASS_THROUGH:
        return False
    if kind in WEIGHT_AXES and getattr(getattr(layer, "activation", None), "__name__", "linear") == "sigmoid":
        return False  # the wrapper quantizes around the sigmoid itself
    fused_relu = len(after) == 1 and type(after[0]).__name__ == "ReLU" and after[0].max_value is None and not after[0].negative_slope
    return not (kind in FUSES_RELU and fused_relu and getattr(layer, "activation", None) in (None, keras.activations.linear))


def _add_chain(layer: keras.layers.Layer, inputs: list):
    """An Add of n > 2 tensors as the converter emits it: n - 1 ADDs, each partial sum quantized."""
    total = inputs[0]
    for k, x in enumerate(inputs[1:-1], start=1):
        total = keras.layers.Add(name=f"{layer.name}_partial{k}")([total, x])
        total = ActivationQuantizer(name=f"{layer.name}_partial{k}_quant")(total)
    return keras.layers.Add(name=f"{layer.name}_last")([total, inputs[-1]])


def fake_quant_model(deployable: keras.Model) -> keras.Model:
    """The QAT twin of a `deployable_model`: same layers (weights shared), fake quantization added."""
    taken = consumers(deployable)

    def call(layer, *args, **kwargs):
        kwargs.pop("training", None)
        if type(layer).__name__ in WEIGHT_AXES:
            outputs = QuantizedWeights(layer)(*args)
        elif type(layer).__name__ == "Add" and len(args[0]) > 2:
            outputs = _add_chain(layer, args[0])
        elif type(layer).__name__ == "BatchNormalization":
            layer.trainable = False  # frozen: moving statistics and affine as trained
            outputs = layer(*args, training=False)
        else:
            outputs = layer(*args, **kwargs)
        if quantizes_output(layer, taken.get(layer.name, [])):
            outputs = ActivationQuantizer(fixed_range=_fixed_output_range(layer), name=f"{layer.name}_out_quant")(outputs)
        return outputs

    quant_input = ActivationQuantizer(name="input_quant")
    return rebuild(deployable, call, input_fn=quant_input)


def quantizers(model: keras.Model) -> list[ActivationQuantizer]:
    """Every `ActivationQuantizer` of a `fake_quant_model` (the wrappers' inner ones included)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, ActivationQuantizer):
            found.append(layer)
        elif isinstance(layer, QuantizedWeights) and layer.pre_activation is not None:
            found.append(layer.pre_activation)
    return found


def calibrate(model: keras.Model, features: np.ndarray, batch_size: int = 32) -> int:
    """Set every calibrated range of a `fake_quant_model` to the min/max over ``features``; returns the count."""
    found = [q for q in quantizers(model) if q.fixed_range is None]
    for quantizer in found:
        quantizer.low.assign(0.0)
        quantizer.high.assign(0.0)
        quantizer.observing = True
    try:
        for start in range(0, len(features), batch_size):
            model(features[start : start + batch_size], training=False)
    finally:
        for quantizer in found:
            quantizer.observing = False
    return len(found)
