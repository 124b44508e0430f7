"""The spectrogram contract of one model as a C header: `shardkit_frontend_config.h` for the firmware."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shardkit.audio.frontends import CONTRACT_VERSION, LOG_EPS, LOG_FLOOR_ABS, NORM_EPS, FrontendConfig, dct_matrix, mel_filters

#: frontend name → SHARDKIT_FRONTEND id (shardkit_frontend.h)
FRONTEND_IDS = {"hybrid": 1, "mel": 2, "mfcc": 3, "raw": 4}
#: compression name → SHARDKIT_COMPRESSION id (shardkit_frontend.h)
COMPRESSION_IDS = {"none": 0, "sqrt": 1, "log": 2}
#: frontends whose C code needs the mel filters (and, for mfcc, the DCT basis)
BAND_FRONTENDS = ("mel", "mfcc")
#: the name the C sources include it by
HEADER_NAME = "shardkit_frontend_config.h"
#: numbers per line of an initializer
PER_LINE = 8


def c_float(value: float) -> str:
    """A float32 literal that reads back as the same float32 (9 significant digits)."""
    return f"{float(np.float32(value)):.9g}f".replace("inff", "INFINITY")


def c_string(text: str) -> str:
    """A C string literal of ``text`` as UTF-8; quotes, backslashes, ``?`` (no trigraph can form), control and non-ASCII bytes escaped."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        out.append(f"\\{char}" if char in '"\\?' else char if 32 <= byte < 127 else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def initializer(items: Sequence[str]) -> str:
    """``{ a, b, ... }`` as a macro body, continued over lines of `PER_LINE` items."""
    if not items:
        return "{ 0 }"
    lines = [", ".join(items[i : i + PER_LINE]) for i in range(0, len(items), PER_LINE)]
    return "{ \\\n    " + ", \\\n    ".join(lines) + " \\\n}"


def sparse_mel(frontend: FrontendConfig) -> tuple[list[int], list[int], np.ndarray]:
    """The mel filters as ``(start, length, weights)``: band m weighs bins ``[start[m], start[m] + length[m])``.

    Each Slaney filter is one triangle, so its non-zero weights are contiguous; ``weights``
    holds the bands' runs one after another (float32).
    """
    filters = mel_filters(frontend)
    starts, lengths, runs = [], [], []
    for row in filters:
        nonzero = np.flatnonzero(row)
        start, stop = (int(nonzero[0]), int(nonzero[-1]) + 1) if len(nonzero) else (0, 0)
        starts.append(start)
        lengths.append(stop - start)
        runs.append(row[start:stop])
    return starts, lengths, np.concatenate(runs).astype(np.float32)


def _define(name: str, value: str, comment: str = "") -> str:
    return f"#define {name} {value}" + (f" /* {comment} */" if comment else "")


def _band_lines(frontend: FrontendConfig) -> list[str]:
    starts, lengths, weights = sparse_mel(frontend)
    lines = [
        "",
        "/* Slaney mel filters (fmin SHARDKIT_FMIN_HZ, fmax Nyquist), sparse: band m weighs the",
        "   magnitude bins [START[m], START[m] + LENGTH[m]) with the next LENGTH[m] WEIGHTS */",
        _define("SHARDKIT_MEL_NNZ", str(len(weights))),
        _define("SHARDKIT_MEL_START", initializer([str(s) for s in starts])),
        _define("SHARDKIT_MEL_LENGTH", initializer([str(n) for n in lengths])),
        _define("SHARDKIT_MEL_WEIGHTS", initializer([c_float(w) for w in weights])),
    ]
    if frontend.name == "mfcc":
        basis = dct_matrix(frontend.n_mfcc, frontend.n_mels).astype(np.float32).ravel()
        lines += ["", "/* orthonormal DCT-II basis, row-major [N_MFCC][N_MELS] */", _define("SHARDKIT_DCT", initializer([c_float(v) for v in basis]))]
    return lines


def _model_lines(classes: Sequence[str], quantization: dict | None) -> list[str]:
    lines = ["", "/* the model's classes (output order) */", _define("SHARDKIT_N_CLASSES", str(len(classes)))]
    lines.append(_define("SHARDKIT_CLASS_NAMES", initializer([c_string(name) for name in classes])))
    if quantization:
        lines += ["", "/* INT8 boundaries of the .tflite: q = round(x / SCALE) + ZERO_POINT, x = (q - ZERO_POINT) * SCALE */"]
        for end in ("input", "output"):
            q = quantization[end]
            upper = end.upper()
            lines.append(_define(f"SHARDKIT_{upper}_SCALE", c_float(q["scale"])))
            lines.append(_define(f"SHARDKIT_{upper}_ZERO_POINT", str(int(q["zero_point"]))))
            lines.append(
                _define(f"SHARDKIT_{upper}_IS_INT8", "1" if q["tensor_dtype"] == "int8" else "0", f"the .tflite's {end} tensor is {q['tensor_dtype']}")
            )
    return lines


def config_header(frontend: FrontendConfig, classes: Sequence[str] = (), quantization: dict | None = None, model: str | None = None) -> str:
    """The text of `HEADER_NAME` for ``frontend`` (and a model's classes and INT8 boundaries).

    Args:
        frontend: the model's spectrogram contract.
        classes: the model's output classes, in order.
        quantization: ``{"input": {...}, "output": {...}}`` with ``scale``, ``zero_point`` and
            ``tensor_dtype`` each (`shardkit.export.vectors.int8_boundaries`), or None.
        model: the model file named in the header's comment.
    """
    rows = frontend.output_shape[0] if frontend.name != "raw" else 1
    lines = [
        f"/* {HEADER_NAME}: the spectrogram contract" + (f" of {model}" if model else "") + ", written by shardkit. Do not edit. */",
        "#ifndef SHARDKIT_FRONTEND_CONFIG_H",
        "#define SHARDKIT_FRONTEND_CONFIG_H",
        "",
        _define("SHARDKIT_CONTRACT_VERSION", str(frontend.contract_version), f"this code implements up to v{CONTRACT_VERSION}"),
        _define("SHARDKIT_FRONTEND", str(FRONTEND_IDS[frontend.name]), frontend.name),
        _define("SHARDKIT_COMPRESSION", str(COMPRESSION_IDS[frontend.compression]), frontend.compression),
        _define("SHARDKIT_SAMPLE_RATE_HZ", str(frontend.sample_rate_hz)),
        _define("SHARDKIT_CHUNK_SAMPLES", str(frontend.chunk_samples), f"{frontend.chunk_s} s"),
        _define("SHARDKIT_N_FFT", str(frontend.n_fft), "periodic Hann window of this length, computed at run time"),
        _define("SHARDKIT_HOP", str(frontend.hop_length), "CHUNK_SAMPLES / N_FRAMES"),
        _define("SHARDKIT_N_FRAMES", str(frontend.n_frames)),
        _define("SHARDKIT_ROWS", str(rows), "feature rows: N_FFT / 2 (hybrid), N_MELS (mel), N_MFCC (mfcc)"),
        _define("SHARDKIT_N_MELS", str(frontend.n_mels)),
        _define("SHARDKIT_N_MFCC", str(frontend.n_mfcc)),
        _define("SHARDKIT_FMIN_HZ", repr(float(frontend.fmin_hz))),
        _define("SHARDKIT_LOG_FLOOR_DB", repr(float(frontend.log_floor_db)), "log compression: dynamic range below the chunk's peak"),
        _define("SHARDKIT_LOG_FLOOR_RATIO", repr(10.0 ** (-frontend.log_floor_db / 20.0)), "10^(-LOG_FLOOR_DB / 20)"),
        _define("SHARDKIT_LOG_FLOOR_ABS", repr(LOG_FLOOR_ABS)),
        _define("SHARDKIT_NORM_EPS", repr(NORM_EPS), "added to the min-max range"),
        _define("SHARDKIT_LOG_EPS", repr(LOG_EPS), "mfcc: floor of the mel power"),
    ]
    if frontend.name in BAND_FRONTENDS:
        lines += _band_lines(frontend)
    lines += _model_lines(classes, quantization)
    lines += ["", "#endif /* SHARDKIT_FRONTEND_CONFIG_H */", ""]
    return "\n".join(lines)
