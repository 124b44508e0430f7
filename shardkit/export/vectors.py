"""Validation vectors of a converted model: stratified gate samples, their INT8 boundaries and files.

The vectors are what an on-target check compares against: the raw chunk, the float features
(the training frontend), the features quantized at the model's first INT8 tensor, and the
float and INT8 models' outputs. They are written as one ``.npz`` and, for ``stedgeai
validate --valinput/--valoutput``, as ``.npy`` arrays in the model's input and output shapes.
"""

from __future__ import annotations

import io

import numpy as np

from shardkit.errors import ConfigError
from shardkit.export.runtime import dequantize, quantize
from shardkit.export.samples import NEGATIVE_STRATUM, SampleSet, stratified_pick

#: vectors per class (and for the negatives) when a bundle has room for them
PER_STRATUM = 2


def _tensor_quantization(details: dict) -> dict:
    scale, zero_point = details["quantization"]
    return {"scale": float(scale), "zero_point": int(zero_point)}


def int8_boundaries(predictor) -> dict:
    """Scale and zero point of a TFLite model's first and last INT8 tensors.

    For INT8 I/O they are the input and output tensors' own; for float I/O (INT8 inside)
    they are the output of the QUANTIZE op reading the input and the input of the DEQUANTIZE
    op writing the output. Each side also names the I/O tensor's dtype (``tensor_dtype``).

    Args:
        predictor: a `shardkit.export.runtime.TFLitePredictor`.

    Raises:
        ConfigError: a float I/O model without a QUANTIZE after its input or a DEQUANTIZE
            before its output (not a full-INT8 model).
    """
    interpreter = predictor.interpreter
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    sides = {"input": (predictor.input, "QUANTIZE", "inputs", "outputs"), "output": (predictor.output, "DEQUANTIZE", "outputs", "inputs")}
    boundaries = {}
    for side, (details, op_name, touching, other) in sides.items():
        dtype = np.dtype(details["dtype"]).name
        if dtype == "int8":
            boundaries[side] = {**_tensor_quantization(details), "tensor_dtype": dtype}
            continue
        found = [op for op in ops if op["op_name"] == op_name and details["index"] in list(op[touching])]
        if not found:
            raise ConfigError(f"the model's {side} is {dtype} with no {op_name} op beside it; a full-INT8 model must have one")
        boundaries[side] = {**_tensor_quantization(tensors[int(found[0][other][0])]), "tensor_dtype": dtype}
    return boundaries


def _int8_details(boundary: dict) -> dict:
    """``boundary`` as the interpreter's tensor details, for `runtime.quantize` / `runtime.dequantize`."""
    return {"dtype": np.int8, "quantization": (boundary["scale"], boundary["zero_point"])}


def quantize_int8(values: np.ndarray, boundary: dict) -> np.ndarray:
    """``clip(round(x / scale) + zero_point, -128, 127)`` as int8, in float32 exactly as the INT8 model was fed."""
    return quantize(np.asarray(values, np.float32), _int8_details(boundary))


def dequantize_int8(values: np.ndarray, boundary: dict) -> np.ndarray:
    """``(q - zero_point) * scale`` as float32, as `runtime.dequantize` computes it."""
    return dequantize(np.asarray(values), _int8_details(boundary))


def pick_vectors(labels: np.ndarray, classes: tuple[str, ...], count: int, per_stratum: int = PER_STRATUM) -> list[int]:
    """Indices of up to ``count`` samples: ``per_stratum`` of each class (by first label) and of the negatives, in turns."""
    strata: dict[str, list[tuple[bytes, int]]] = {}
    for i, row in enumerate(np.asarray(labels)):
        positive = np.flatnonzero(row > 0.5)
        name = classes[int(positive[0])] if len(positive) else NEGATIVE_STRATUM
        if len(strata.setdefault(name, [])) < per_stratum:
            strata[name].append((i.to_bytes(8, "big"), i))
    return stratified_pick(strata, count)


def validation_vectors(samples: SampleSet, float_scores: np.ndarray, int8_scores: np.ndarray, boundaries: dict, count: int) -> dict[str, np.ndarray]:
    """The arrays of ``validation.npz`` for up to ``count`` stratified samples of ``samples``.

    Args:
        samples: the gate samples, with their audio (`SampleSet.audio`).
        float_scores: the float model's outputs on them.
        int8_scores: the INT8 model's (dequantized) outputs on them.
        boundaries: `int8_boundaries` of the INT8 model.
        count: the most vectors.

    Returns:
        ``raw_chunks`` [n, N] float32, ``float_inputs`` [n, ...] float32 (the model's input
        shape), ``int8_inputs``, ``float_outputs`` [n, C], ``int8_outputs``, ``keys``, ``classes``.
    """
    if samples.audio is None:
        raise ConfigError("validation vectors need the samples' audio: draw them with keep_audio=True")
    index = pick_vectors(samples.labels, samples.classes, count)
    float_inputs = samples.features[index].astype(np.float32)
    return {
        "raw_chunks": (samples.audio[index].astype(np.float32) / 32768.0).astype(np.float32),
        "float_inputs": float_inputs,
        "int8_inputs": quantize_int8(float_inputs, boundaries["input"]),
        "float_outputs": np.asarray(float_scores, np.float32)[index],
        "int8_outputs": quantize_int8(np.asarray(int8_scores, np.float32)[index], boundaries["output"]),
        "keys": np.array([samples.keys[i] for i in index], dtype=str),
        "classes": np.array(samples.classes, dtype=str),
    }


def stedgeai_arrays(vectors: dict[str, np.ndarray], boundaries: dict) -> dict[str, np.ndarray]:
    """``val_inputs.npy`` / ``val_outputs.npy``: the vectors in the model's I/O shapes and dtypes.

    The inputs are the float features (int8 ones for an INT8-input model); the outputs the
    INT8 model's, dequantized for a float-output model. ``val_outputs_float.npy`` holds the
    float model's outputs, for a check of the deployed model against the float one.
    """
    inputs = vectors["int8_inputs"] if boundaries["input"]["tensor_dtype"] == "int8" else vectors["float_inputs"]
    int8_out = vectors["int8_outputs"]
    outputs = int8_out if boundaries["output"]["tensor_dtype"] == "int8" else dequantize_int8(int8_out, boundaries["output"])
    return {"val_inputs.npy": inputs, "val_outputs.npy": outputs, "val_outputs_float.npy": vectors["float_outputs"]}


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in the ``.npy`` format."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """``arrays`` as a compressed ``.npz``."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
