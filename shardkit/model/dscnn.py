"""The DS-CNN family: input adapter, stem, depthwise-separable stages, pooling, sigmoid head.

`build_model` returns the deployable model: it takes what the reader's frontend yields
(``[B, rows, W, 1]`` spectrograms, or ``[B, N]`` waveforms for ``raw``) and outputs
per-class probabilities. N6 rules hold by construction: every channel count is a multiple
of 8 (`round_channels`), no stride exceeds 2, activations are ReLU and sigmoid only, and
every layer is one the NPU runs (checked by `shardkit.model.n6.check_n6`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import keras

from shardkit.audio.frontends import FrontendConfig, mel_filters
from shardkit.errors import ConfigError
from shardkit.model.config import ARCHITECTURES, ModelConfig, round_channels, variable_length_problem
from shardkit.model.masking import MaskedPool, PadTime, TimeAxis
from shardkit.model.mixer import MEL_MIXER_LAYER, MelMixer
from shardkit.model.scaling import magnitude_scaling

#: layer names other stages rely on (linear probe, export, N6 check)
EMBEDDINGS_LAYER = "embeddings"
HEAD_LAYER = "head"
#: the time axis of a fixed-length model: nothing is masked
FIXED = TimeAxis()
#: the name of the lengths input of a model on a free time axis (what a bucketed reader yields beside the features)
LENGTHS_INPUT = "lengths"
#: the features key of such a model's input dict (the reader's name for them)
FEATURES_INPUT = "features"
#: BatchNorm moving-average momentum: 0.9 (not Keras' 0.99) so that the statistics used at
#: inference settle within a few hundred steps, which small bioacoustic sets never exceed
BN_MOMENTUM = 0.9


def _regularizer(config: ModelConfig):
    return keras.regularizers.L2(config.l2) if config.l2 > 0 else None


def _bn_relu(x, name: str, time: TimeAxis, relu: bool = True):
    """BatchNorm (statistics over valid frames only), ReLU, padded frames zeroed again (``time``: the axis at ``x``)."""
    frames = time.mask(x, name)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x, mask=frames)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x if frames is None else time.zero_padding(x, name, frames)


def _conv_bn_relu(x, channels: int, kernel, strides, name: str, config: ModelConfig, relu: bool = True, time: TimeAxis = FIXED):
    """``time``: the time axis after this layer's stride."""
    x = keras.layers.Conv2D(channels, kernel, strides=strides, padding="same", use_bias=False, kernel_regularizer=_regularizer(config), name=f"{name}_conv")(x)
    return _bn_relu(x, name, time, relu)


def _depthwise_bn_relu(x, strides: int, name: str, config: ModelConfig, time: TimeAxis = FIXED):
    x = keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, depthwise_regularizer=_regularizer(config), name=f"{name}_dw")(x)
    return _bn_relu(x, f"{name}_dw", time)


def _mean(x, name: str, time: TimeAxis, keepdims: bool = False):
    """The global average of ``x`` over its valid cells."""
    if time.free:
        return MaskedPool((1, 2), "mean", keepdims, name=name)([x, time.mask(x, name)])
    return keras.layers.GlobalAveragePooling2D(keepdims=keepdims, name=name)(x)


def squeeze_excite(x, reduction: int, name: str, time: TimeAxis = FIXED):
    """Channel attention: average, bottleneck (1x1 convs), sigmoid gate, rescale."""
    channels = x.shape[-1]
    squeezed = _mean(x, f"{name}_squeeze", time, keepdims=True)
    squeezed = keras.layers.Conv2D(round_channels(channels / reduction), 1, activation="relu", name=f"{name}_reduce")(squeezed)
    gate = keras.layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(squeezed)
    return keras.layers.Multiply(name=f"{name}_scale")([x, gate])


def depthwise_separable_block(x, channels: int, strides: int, name: str, config: ModelConfig, time: TimeAxis = FIXED):
    """3x3 depthwise + 1x1 pointwise (each with BN and ReLU); residual when shapes allow. ``time``: after the stride."""
    inputs = x
    x = _depthwise_bn_relu(x, strides, name, config, time)
    if config.se:
        x = squeeze_excite(x, config.se_reduction, f"{name}_se", time)
    x = _conv_bn_relu(x, channels, 1, 1, f"{name}_pw", config, time=time)
    if strides == 1 and inputs.shape[-1] == channels:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def inverted_residual_block(x, channels: int, strides: int, name: str, config: ModelConfig, time: TimeAxis = FIXED):
    """1x1 expand, 3x3 depthwise, (SE), 1x1 linear projection; residual when shapes allow. ``time``: after the stride."""
    inputs = x
    before = replace(time, factor=time.factor // strides)  # the 1x1 expansion runs before the stride
    x = _conv_bn_relu(x, round_channels(inputs.shape[-1] * config.expansion), 1, 1, f"{name}_expand", config, time=before)
    x = _depthwise_bn_relu(x, strides, name, config, time)
    if config.se:
        x = squeeze_excite(x, config.se_reduction, f"{name}_se", time)
    x = _conv_bn_relu(x, channels, 1, 1, f"{name}_project", config, relu=False, time=time)
    if strides == 1 and inputs.shape[-1] == channels:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def attention_pooling(x, time: TimeAxis, name: str = "attention_pool"):
    """Sigmoid-gated average pooling: per position and channel, a learned gate in (0, 1).

    Softmax attention would need EXP and a division over positions, which fall back to the
    MCU on the N6; a sigmoid gate followed by the average stays on the NPU.
    """
    gate = keras.layers.Conv2D(x.shape[-1], 1, activation="sigmoid", name=f"{name}_gate")(x)
    gated = keras.layers.Multiply(name=f"{name}_weight")([x, gate])
    return _mean(gated, f"{name}_mean", time)


def _global_average(x, time: TimeAxis, name: str = "gap"):
    return _mean(x, name, time)


def max_pooling(x, time: TimeAxis, name: str = "max_pool"):
    """Global max as one MaxPooling2D over the whole map (REDUCE_MAX would fall back to the MCU).

    Calls are short events in mostly-noise chunks: an average over the chunk dilutes them,
    the maximum keeps the strongest detection per channel.
    """
    if time.free:
        return MaskedPool((1, 2), "max", name=f"{name}_window")([x, time.mask(x, f"{name}_window")])
    x = keras.layers.MaxPooling2D((x.shape[1], x.shape[2]), strides=1, name=f"{name}_window")(x)
    return keras.layers.Flatten(name=f"{name}_flatten")(x)


def time_pooling(x, time: TimeAxis, name: str = "time_pool"):
    """Average over time only and keep the frequency positions: ``[B, F' * C]``.

    Global average pooling also averages over frequency, so the head cannot tell a call at
    2 kHz from one at 6 kHz except through padding effects; on small sets that cue matters.
    """
    if time.free:
        x = MaskedPool((time.axis,), "mean", keepdims=True, name=f"{name}_mean")([x, time.mask(x, f"{name}_mean")])
    else:
        pool = (x.shape[1], 1) if time.axis == 1 else (1, x.shape[2])
        x = keras.layers.AveragePooling2D(pool, strides=1, name=f"{name}_mean")(x)  # one window: stride 1 gives the same output and meets the N6 stride rule
    return keras.layers.Flatten(name=f"{name}_flatten")(x)


#: block and pooling registries
BLOCKS: dict[bool, Callable] = {False: depthwise_separable_block, True: inverted_residual_block}
POOLING: dict[str, Callable] = {"gap": _global_average, "attention": attention_pooling, "time": time_pooling, "max": max_pooling}


# ----- input adapters: what the reader yields → a [B, H, W, 1]-like image --------------------


def _hybrid_input(frontend: FrontendConfig, config: ModelConfig, variable_length: bool = False):
    """Linear spectrogram in; a mixer initialised from Slaney mel weights turns bins into bands.

    ``[B, F, T, 1]`` → `MelMixer` (a matrix product over frequency, never a tall (F x 1)
    convolution: see `shardkit.model.mixer`) → ``[B, 1, T, mels]`` (bands as channels, so the
    scaling is per band) → scaling → reshaped (free in NHWC) to a ``[B, T, mels, 1]`` image.
    The Slaney weights are multiplied by the bin width in Hz, which makes each band about the
    weighted mean of its bins: same shapes, but activations on the [0, 1] scale of the input
    instead of ~50x smaller, which BatchNorm's epsilon and INT8 both need.
    """
    rows, frames = frontend.output_shape
    frames = None if variable_length else frames
    inputs = keras.Input((rows, frames, 1), name=FEATURES_INPUT if variable_length else "spectrogram")
    bin_hz = frontend.sample_rate_hz / frontend.n_fft
    weights = (bin_hz * mel_filters(frontend)).T.astype("float32")  # [F, mels]
    mixer = MelMixer(frontend.n_mels, kernel_initializer=keras.initializers.Constant(weights), trainable=config.mel_trainable, name=MEL_MIXER_LAYER)
    x = magnitude_scaling(mixer(inputs), config.mag_scale)
    return inputs, keras.layers.Reshape((frames or -1, frontend.n_mels, 1), name="bands_as_image")(x), 1


def _spectrogram_input(frontend: FrontendConfig, config: ModelConfig, variable_length: bool = False):
    """Mel or MFCC image in, ``[B, rows, W, 1]``; scaling with one set of parameters."""
    rows, frames = frontend.output_shape
    inputs = keras.Input((rows, None if variable_length else frames, 1), name=FEATURES_INPUT if variable_length else "spectrogram")
    return inputs, magnitude_scaling(inputs, config.mag_scale), 2


def _raw_input(frontend: FrontendConfig, config: ModelConfig, variable_length: bool = False):
    """Waveform in; a learned filterbank of stride-2 (9 x 1) convs down to about W frames.

    Far more activation memory than a spectrogram input: see the N6 report before deploying.
    """
    n = frontend.chunk_samples
    inputs = keras.Input((n,), name="waveform")
    x = keras.layers.Reshape((n, 1, 1), name="waveform_as_image")(inputs)
    steps = max(1, math.ceil(math.log2(max(2, n / frontend.n_frames))))
    channels = round_channels(frontend.n_mels)
    for step in range(steps):
        x = _conv_bn_relu(x, channels, (9, 1), (2, 1), f"filterbank{step}", config)
    x = magnitude_scaling(x, config.mag_scale)
    return inputs, keras.layers.Reshape((x.shape[1], channels, 1), name="bands_as_image")(x), 1


INPUT_ADAPTERS: dict[str, Callable] = {"hybrid": _hybrid_input, "mel": _spectrogram_input, "mfcc": _spectrogram_input, "raw": _raw_input}


def time_stride(config: ModelConfig) -> int:
    """The model's total time stride: the stem and the first block of every stage halve time."""
    return 2 ** (1 + len(ARCHITECTURES[config.architecture].stage_channels))


def build_model(
    frontend: FrontendConfig, num_classes: int, config: ModelConfig = ModelConfig(), name: str = "dscnn", variable_length: bool = False
) -> keras.Model:
    """The deployable classifier for ``frontend``'s features and ``num_classes`` classes.

    Args:
        frontend: the spectrogram contract the inputs follow.
        num_classes: width of the sigmoid head.
        config: family settings.
        name: the Keras model name.
        variable_length: a free time axis: the model takes ``{"features": [B, rows, W, 1],
            "lengths": [B]}`` (valid frames per sample, as a bucketed reader yields them) and
            masks the padding out of everything it computes (`shardkit.model.masking`), so a
            sample scores the same alone or padded. Same layers and weights as the fixed build.

    Raises:
        ConfigError: ``variable_length`` with a frontend or scaling that cannot mask padding.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes!r}")
    if variable_length and (problem := variable_length_problem(frontend, config)):
        raise ConfigError(f"cannot train on a free time axis: {problem}")
    plan = ARCHITECTURES[config.architecture]
    inputs, x, time_axis = INPUT_ADAPTERS[frontend.name](frontend, config, variable_length)
    lengths = keras.Input((), dtype="int32", name=LENGTHS_INPUT) if variable_length else None
    time = TimeAxis(lengths, time_axis)
    x = _bn_relu(x, "input", time, relu=False)  # features are peaky and small after min-max: learn their scale
    if time.free:
        x = PadTime(time.axis, time_stride(config), name="pad_time")(x)
    time = time.strided(2)
    x = _conv_bn_relu(x, round_channels(plan.stem_channels * config.alpha), 3, 2, "stem", config, time=time)
    block = BLOCKS[config.inverted_residual]
    for stage, base in enumerate(plan.stage_channels):
        channels = round_channels(base * config.alpha)
        for repeat in range(config.depth_multiplier):
            strides, block_name = 2 if repeat == 0 else 1, f"stage{stage}_block{repeat}"
            time = time.strided(strides)
            if stage < plan.full_conv_stages:
                x = _conv_bn_relu(x, channels, 3, strides, block_name, config, time=time)
            else:
                x = block(x, channels, strides, block_name, config, time)
    x = _conv_bn_relu(x, round_channels(config.embeddings_size), 1, 1, "embed", config, time=time)
    x = POOLING[config.pooling](x, time)
    x = keras.layers.Identity(name=EMBEDDINGS_LAYER)(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="sigmoid", dtype="float32", name=HEAD_LAYER)(x)
    if time.free:
        return keras.Model({FEATURES_INPUT: inputs, LENGTHS_INPUT: lengths}, outputs, name=name)
    return keras.Model(inputs, outputs, name=name)


def is_variable_length(model: keras.Model) -> bool:
    """Whether ``model`` was built on a free time axis (it takes ``lengths``)."""
    return any(getattr(t, "name", "").split(":")[0] == LENGTHS_INPUT for t in model.inputs)


def fixed_length_copy(model: keras.Model, frontend: FrontendConfig, config: ModelConfig) -> keras.Model:
    """The fixed-length model of ``frontend`` (its chunk: the deployed shape) with ``model``'s weights, layer by layer.

    The masking layers of a free time axis hold no weights, so the copy computes what
    ``model`` computes for a sample of exactly that length, with only N6 layers.
    """
    fixed = build_model(frontend, model.output_shape[-1], config, name=model.name)
    for layer in fixed.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return fixed


def with_frontend(model: keras.Model, frontend: FrontendConfig) -> keras.Model:
    """The training model of the deferred placement: waveforms → `SpectrogramFrontend` → ``model``."""
    from shardkit.audio.frontend_layer import SpectrogramFrontend

    waveforms = keras.Input((frontend.chunk_samples,), name="waveform")
    # float32 even under mixed precision: the STFT and the min-max need the range
    features = SpectrogramFrontend(frontend, dtype="float32", name="frontend")(waveforms)
    return keras.Model(waveforms, model(features), name=f"{model.name}_train")
