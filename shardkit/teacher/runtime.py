"""Run a teacher on audio windows in LiteRT: probabilities over its labels and, when asked, its embedding.

One interpreter per process (build workers each load their own, once), one thread each, as
the build's workers run one BLAS thread each.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from shardkit.errors import ConfigError
from shardkit.teacher.config import TeacherConfig
from shardkit.teacher.registry import model_files, read_labels, species_labels

#: windows per interpreter call
BATCH = 8

_loaded: dict[tuple, Teacher] = {}


class Teacher:
    """A loaded teacher.

    Attributes:
        config: its settings.
        labels: its labels, in output order.
        species: per label, whether it names a species (not ``Engine_Engine``: see `registry.is_species`).
        window: samples per input window.
        seconds: time spent in the interpreter so far.
        windows: windows scored so far.
    """

    def __init__(self, config: TeacherConfig) -> None:
        from ai_edge_litert.interpreter import Interpreter

        model, labels = model_files(config)
        self.config = config
        self.labels = read_labels(labels)
        self.species = np.array(species_labels(self.labels), dtype=bool)
        self.window = int(round(config.window_s * config.sample_rate_hz))
        with warnings.catch_warnings():  # preserve_all_tensors warns that it is meant for debugging
            warnings.simplefilter("ignore")
            try:
                self._interpreter = Interpreter(model_path=model, num_threads=1, experimental_preserve_all_tensors=config.embeddings)
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"teacher {config.name!r}: {model!r} is not a loadable .tflite model ({exc})") from exc
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        shape = list(self._input["shape"])
        if len(shape) != 2 or self._input["dtype"] != np.float32:
            raise ConfigError(f"teacher {config.name!r} must take float32 audio [batch, samples]; its input is {self._input['dtype'].__name__} {shape}")
        if shape[1] != self.window:
            raise ConfigError(
                f"teacher {config.name!r} takes {shape[1]} samples per window; window_s x sample_rate_hz gives {self.window}"
                f" ({config.window_s} s x {config.sample_rate_hz} Hz)"
            )
        if int(self._output["shape"][-1]) != len(self.labels):
            raise ConfigError(f"teacher {config.name!r} has {int(self._output['shape'][-1])} outputs but its labels file has {len(self.labels)} labels")
        self._batch = 0
        self.seconds = 0.0
        self.windows = 0

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [batch, self.window])
            self._interpreter.allocate_tensors()
            self._batch = batch

    def _invoke(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """One call on exactly `BATCH` windows (a short batch is zero-padded: one tensor shape, allocated once)."""
        n = len(batch)
        if n < BATCH:
            batch = np.concatenate([batch, np.zeros((BATCH - n, self.window), np.float32)])
        self._resize(BATCH)
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output["index"])[:n].astype(np.float64)
        embedding = None
        if self.config.embeddings:
            embedding = np.array(self._interpreter.get_tensor(self._output["index"] + self.config.embedding_offset)[:n], dtype=np.float32)
        return out, embedding

    def predict(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities ``[n, labels]`` and, with ``embeddings``, embeddings ``[n, dim]`` of audio windows ``[n, window]``."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        started = time.perf_counter()
        probs, embeddings = [], []
        for first in range(0, len(windows), BATCH):
            out, embedding = self._invoke(windows[first : first + BATCH])
            probs.append(1.0 / (1.0 + np.exp(-np.clip(out, -60, 60))) if self.config.outputs == "logits" else out)
            if embedding is not None:
                embeddings.append(embedding)
        self.seconds += time.perf_counter() - started
        self.windows += len(windows)
        if not probs:
            return np.zeros((0, len(self.labels))), (np.zeros((0, 0), np.float32) if self.config.embeddings else None)
        return np.concatenate(probs), (np.concatenate(embeddings) if self.config.embeddings else None)


def load_teacher(config: TeacherConfig) -> Teacher:
    """The process's teacher for ``config`` (loaded on first use)."""
    key = (config.name, config.model, config.labels, config.sample_rate_hz, config.window_s, config.outputs, config.embeddings, config.embedding_offset)
    if key not in _loaded:
        _loaded[key] = Teacher(config)
    return _loaded[key]
