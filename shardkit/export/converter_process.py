"""The TFLite converter, run alone in a child process (it leaks memory on every call).

``python -m shardkit.export.converter_process MODEL.keras CALIBRATION.npy OUT.tflite [--int8-io]``
loads a batch-1 deployable model, quantizes it to full INT8 with the calibration array as
representative data (one sample per step, in order), and writes the flatbuffer to OUT.
`convert_in_subprocess` is the parent's side.
"""

from __future__ import annotations

import os
import subprocess
import sys

from shardkit.errors import ShardkitError


class ConverterError(ShardkitError):
    """The TFLite converter failed or timed out."""


def convert_model(model_path: str, calibration_path: str, out_path: str, int8_io: bool) -> None:
    """Full-INT8 conversion of ``model_path`` (runs in this process)."""
    import numpy as np
    import tensorflow as tf

    from shardkit.model.mixer import as_tflite_layers
    from shardkit.train.artifacts import load_model

    model = as_tflite_layers(load_model(model_path))  # traced only, never run in TF
    calibration = np.load(calibration_path)

    def representative():
        for row in calibration:
            yield [row[np.newaxis].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    content = converter.convert()
    with open(out_path, "wb") as handle:
        handle.write(content)


def convert_in_subprocess(model_path: str, calibration_path: str, out_path: str, int8_io: bool, timeout_s: float) -> None:
    """Run `convert_model` in a fresh Python process.

    Raises:
        ConverterError: non-zero exit (with the tail of its output) or timeout.
    """
    command = [sys.executable, "-m", "shardkit.export.converter_process", model_path, calibration_path, out_path, *(["--int8-io"] if int8_io else [])]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConverterError(f"the TFLite converter did not finish within {timeout_s:.0f} s") from exc
    if done.returncode != 0 or not os.path.exists(out_path):
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ConverterError(f"the TFLite converter failed (exit {done.returncode}):\n{tail}")


def main(argv: list[str]) -> int:
    """Command-line entry of the child process."""
    args = [a for a in argv if a != "--int8-io"]
    if len(args) != 3:
        print("usage: python -m shardkit.export.converter_process MODEL.keras CALIBRATION.npy OUT.tflite [--int8-io]", file=sys.stderr)
        return 2
    convert_model(*args, int8_io="--int8-io" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
