"""The STM32N6 NPU's construction rules as constants, shared by the Keras check and the TFLite report.

The rules (DESIGN.md, model and deployment): channel counts that a layer chooses are
multiples of 8, no convolution or pooling stride above 2, only layers, ops and activations
the NPU runs in INT8 (no ReLU6 or other clipping, no MIN/MAX, no division or LOG).
`shardkit.model.n6` checks them on a Keras model, layer by layer; `shardkit.export.n6_report`
checks them on a converted ``.tflite``, op by op. This module imports no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Keras layer classes whose TFLite ops the N6 NPU runs in INT8
ALLOWED_LAYERS = frozenset(
    {
        "InputLayer",
        "Conv2D",
        "MelMixer",  # converted as its (F x 1) CONV_2D form (shardkit.model.mixer)
        "DepthwiseConv2D",
        "BatchNormalization",
        "ReLU",
        "Activation",
        "Add",
        "Subtract",
        "Multiply",
        "GlobalAveragePooling2D",
        "AveragePooling2D",
        "MaxPooling2D",
        "Dropout",
        "SpatialDropout2D",
        "Dense",
        "Reshape",
        "Flatten",
        "Identity",
        "Concatenate",
        "ZeroPadding2D",
    }
)
#: activations the NPU runs (a clipped ReLU such as relu6 falls back to the MCU)
ALLOWED_ACTIVATIONS = frozenset({"relu", "sigmoid", "linear"})
#: TFLite builtin ops the N6 NPU runs in INT8 (float QUANTIZE / DEQUANTIZE only at the model's edges)
ALLOWED_OPS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "ADD",
        "SUB",
        "MUL",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "MEAN",
        "RESHAPE",
        "SQUEEZE",
        "RELU",
        "LOGISTIC",
        "CONCATENATION",
        "PAD",
        "QUANTIZE",
        "DEQUANTIZE",
    }
)
#: fused activations the NPU applies in the op (RELU6 and RELU_N1_TO_1 clips fall back to the MCU)
ALLOWED_FUSED_ACTIVATIONS = frozenset({"NONE", "RELU"})
#: largest allowed stride along any axis
MAX_STRIDE = 2
#: channel counts must be multiples of this
CHANNEL_MULTIPLE = 8


@dataclass(frozen=True)
class N6Violation:
    """One broken rule: which layer, which rule, what was found."""

    layer: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"layer {self.layer!r}: {self.rule}: {self.detail}"
