"""A small stand-in teacher with BirdNET's interface: float32 audio [batch, samples] in, one logit per label out.

Each label but the last is a matched filter at one frequency (cos/sin kernels, power averaged
over the window) compared with the window's broadband power, so its logit is high exactly where
a tone of that frequency stands out. The last label, ``Engine_Engine``, follows the broadband
power. The tensor before the logits is the embedding (the per-label powers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE_HZ = 16000
WINDOW_S = 1.0
KERNEL = 256
TONES = {"Alpha tonus_Alpha Tone": 2000.0, "Beta tonus_Beta Tone": 3000.0, "Gamma tonus_Gamma Tone": 4500.0, "Delta tonus_Delta Tone": 6000.0}
LABELS = [*TONES, "Engine_Engine"]


def make_standin_teacher(folder: Path) -> tuple[Path, Path, int]:
    """Write ``standin.tflite`` and ``standin_labels.txt``; return their paths and the embedding's offset from the output index."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    window = int(RATE_HZ * WINDOW_S)
    t = np.arange(KERNEL) / RATE_HZ
    taper = np.hanning(KERNEL)
    kernels = np.stack([f(2 * np.pi * hz * t) * taper for hz in TONES.values() for f in (np.cos, np.sin)], axis=1)
    kernels = tf.constant(kernels[:, None, :], tf.float32)  # [width, in, out]
    pairs = np.zeros((2 * len(TONES), len(TONES)), np.float32)
    for i in range(len(TONES)):
        pairs[2 * i : 2 * i + 2, i] = 1.0
    pairs = tf.constant(pairs)
    # a tone of amplitude A gives (A * sum(taper) / 2) ** 2 per pair; white noise of variance s2 gives s2 * sum(taper ** 2)
    noise_gain = float(np.sum(taper**2))

    class Standin(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, window], tf.float32)])
        def __call__(self, audio):
            x = tf.expand_dims(audio, -1)
            filtered = tf.nn.conv1d(x, kernels, stride=KERNEL // 2, padding="VALID")
            power = tf.reduce_mean(tf.square(filtered), axis=1)
            embedding = tf.matmul(power, pairs, name="embedding")
            broadband = tf.reduce_mean(tf.square(audio), axis=1, keepdims=True) * noise_gain
            tones = tf.math.log(embedding + 1e-9) - tf.math.log(broadband + 1e-9) - 2.5
            engine = 0.5 * tf.math.log(broadband + 1e-9) + 2.0
            return tf.concat([tones, engine], axis=1)

    module = Standin()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    model = folder / "standin.tflite"
    model.write_bytes(converter.convert())
    labels = folder / "standin_labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    output = interpreter.get_output_details()[0]["index"]
    found = [d["index"] for d in interpreter.get_tensor_details() if "embedding" in d["name"].lower() and list(d["shape"][-1:]) == [len(TONES)]]
    assert found, "the stand-in's embedding tensor was not found by name"
    return model, labels, found[0] - output
