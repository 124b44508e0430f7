"""Run a deployable model — a `.keras` or a `.tflite` through ai_edge_litert — on feature arrays.

Both predictors take float32 features ``[N, ...]`` and return float32 scores ``[N, C]``; an
INT8-I/O TFLite model has its input quantized and its output dequantized here, with the
scales stored in the model.
"""

from __future__ import annotations

import numpy as np

from shardkit.errors import ConfigError

#: rows per Keras inference call
KERAS_BATCH = 64


class KerasPredictor:
    """Inference-mode calls of a Keras model, traced once."""

    kind = "keras"

    def __init__(self, model) -> None:
        from shardkit.model.inference import inference_function

        self.model = model
        self._predict = inference_function(model)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        out = [np.asarray(self._predict(features[i : i + KERAS_BATCH]), dtype=np.float32) for i in range(0, len(features), KERAS_BATCH)]
        return np.concatenate(out) if out else np.zeros((0, self.model.output_shape[-1]), np.float32)


class TFLitePredictor:
    """A TFLite model run one sample at a time (the deployed batch size) by ai_edge_litert."""

    kind = "tflite"

    def __init__(self, content: bytes) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ConfigError("running .tflite models needs ai-edge-litert: pip install 'shardkit[tf]'") from exc
        self.interpreter = Interpreter(model_content=content)
        self.interpreter.allocate_tensors()
        (self.input,) = self.interpreter.get_input_details()
        (self.output,) = self.interpreter.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.input["shape"][1:])

    def __call__(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float32)
        if tuple(features.shape[1:]) != self.input_shape:
            raise ConfigError(f"the TFLite model takes inputs of shape {self.input_shape}; got {tuple(features.shape[1:])}")
        scores = []
        for row in features:
            self.interpreter.set_tensor(self.input["index"], quantize(row[np.newaxis], self.input))
            self.interpreter.invoke()
            scores.append(dequantize(self.interpreter.get_tensor(self.output["index"])[0], self.output))
        return np.stack(scores).astype(np.float32) if scores else np.zeros((0, int(self.output["shape"][-1])), np.float32)


def quantize(values: np.ndarray, details: dict) -> np.ndarray:
    """Float values → the tensor's dtype (unchanged for a float tensor)."""
    if details["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(details["dtype"])


def dequantize(values: np.ndarray, details: dict) -> np.ndarray:
    """The tensor's values as float32."""
    if details["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


#: one step of a sigmoid output in INT8 (scale 1/256): rows below it in both models agree
SILENT_ROW = 1.0 / 256.0
#: rank agreement counts the sample pairs the float model sets at least this far apart
RANK_MARGIN = 2.0 / 256.0


def cosine_per_row(a: np.ndarray, b: np.ndarray, silent: float = SILENT_ROW) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``.

    A row where every score of both models is below ``silent`` (a confident negative, which
    INT8 rounds to all zeros) counts as agreement, 1.0: its cosine is undefined, not 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)
    both_silent = (np.max(np.abs(a), axis=1) < silent) & (np.max(np.abs(b), axis=1) < silent)
    return np.where(both_silent, 1.0, cosine)


def agreement(float_scores: np.ndarray, int8_scores: np.ndarray) -> dict[str, float]:
    """How closely two models' outputs agree.

    Per-row cosine (mean, 5th percentile, min), the mean and max absolute output difference,
    top-1 agreement, and rank agreement: the macro over classes of the share of sample pairs
    the float model sets `RANK_MARGIN` (two INT8 output steps) apart that INT8 orders alike
    (`scoring.rank_agreement_per_class`; NaN when no class has such a pair). Cosine alone is
    blind to ranking: near-constant rows have cosine 1.0 in any order.
    """
    from shardkit.scoring import macro, rank_agreement_per_class

    if len(float_scores) == 0:
        raise ConfigError("no samples to compare the two models on (every gate sample was undecodable?)")
    cosine = cosine_per_row(float_scores, int8_scores)
    return {
        "rank_agreement": macro(rank_agreement_per_class(float_scores, int8_scores, RANK_MARGIN)),
        "output_mae": float(np.mean(np.abs(np.asarray(float_scores, dtype=np.float64) - np.asarray(int8_scores, dtype=np.float64)))),
        "cosine_mean": float(np.mean(cosine)),
        "cosine_p5": float(np.percentile(cosine, 5)),
        "cosine_min": float(np.min(cosine)),
        "max_abs_diff": float(np.max(np.abs(np.asarray(float_scores) - np.asarray(int8_scores)))),
        "top1_agreement": float(np.mean(np.argmax(float_scores, axis=1) == np.argmax(int8_scores, axis=1))),
        "samples": len(cosine),
    }
