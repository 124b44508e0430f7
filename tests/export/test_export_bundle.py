"""The N6 bundle: the C frontend compiled with the system compiler and held to the numpy reference;
the bundle written by `convert`, re-read with its hashes checked, and its vectors reproduced by
C frontend → INT8 quantization → LiteRT."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from factories import tone_in_noise

from shardkit.audio.frontends import FrontendConfig, reference_frontend
from shardkit.export.bundle import C_SOURCES, MANIFEST, BundleError, firmware_source, read_bundle
from shardkit.export.c_header import HEADER_NAME, config_header

#: strict flags: the frontend must compile clean as portable C99
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
#: the contract's tolerance between implementations
FRONTEND_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def cc() -> str:
    """The system C compiler; CI (SHARDKIT_REQUIRE_CC=1) fails instead of skipping without one."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        if os.environ.get("SHARDKIT_REQUIRE_CC") == "1":
            pytest.fail("SHARDKIT_REQUIRE_CC=1 but no C compiler (cc, gcc, clang) is on PATH")
        pytest.skip("no C compiler (cc, gcc, clang) on PATH: the C frontend tests need one")
    return compiler


@pytest.fixture(scope="module")
def frontend_chunks():
    """Chunks the C frontend is checked on, for a frontend config: calls in noise, a loud clipped chunk, silence.

    A fixture so that real recordings can replace the synthetic ones.
    """

    def make(config: FrontendConfig) -> np.ndarray:
        seconds, rate = config.chunk_s, config.sample_rate_hz
        calls = tone_in_noise(seconds, rate, calls=((0.1 * seconds, 0.3 * seconds, 2500), (0.5 * seconds, 0.2 * seconds, 6000)), seed=1)
        faint = tone_in_noise(seconds, rate, calls=((0.3 * seconds, 0.3 * seconds, 1200),), noise_rms=0.001, call_amplitude=0.004, seed=2)
        loud = np.clip(tone_in_noise(seconds, rate, noise_rms=0.5, seed=3), -1.0, 1.0)
        chunks = np.stack([calls, faint, loud, np.zeros(config.chunk_samples, np.float32)])
        return chunks[:, : config.chunk_samples].astype(np.float32)

    return make


def compile_frontend(cc: str, folder: Path, header: str | None = None) -> Path:
    """The host check program built in ``folder`` (the packaged C sources copied there unless present)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in C_SOURCES:
        if not (folder / name).exists():
            (folder / name).write_bytes(firmware_source(name))
    if header is not None:
        (folder / HEADER_NAME).write_text(header)
    binary = folder / "frontend_check"
    sources = [str(folder / "shardkit_frontend_check.c"), str(folder / "shardkit_frontend.c")]
    proc = subprocess.run([cc, *CFLAGS, f"-I{folder}", *sources, "-o", str(binary), "-lm"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return binary


def run_frontend(binary: Path, chunks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Features of ``chunks`` computed by the compiled C frontend: ``[n, *shape]``."""
    folder = binary.parent
    chunks.astype("<f4").tofile(folder / "chunks.f32")
    proc = subprocess.run([str(binary), str(folder / "chunks.f32"), str(folder / "features.f32")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return np.fromfile(folder / "features.f32", "<f4").reshape(len(chunks), *shape)


VARIANTS = [("hybrid", "none"), ("hybrid", "sqrt"), ("hybrid", "log"), ("mel", "none"), ("mel", "sqrt"), ("mel", "log"), ("mfcc", "none"), ("raw", "none")]


@pytest.mark.parametrize(("name", "compression"), VARIANTS)
def test_c_frontend_matches_the_numpy_reference(cc, frontend_chunks, tmp_path, name, compression):
    config = FrontendConfig(name=name, compression=compression)
    header = config_header(config, classes=("alpha", 'quote"d', "mésange"))
    binary = compile_frontend(cc, tmp_path, header)
    chunks = frontend_chunks(config)
    features = run_frontend(binary, chunks, config.output_shape)
    reference = np.stack([reference_frontend(chunk, config) for chunk in chunks])
    error = np.abs(features - reference).max(axis=tuple(range(1, features.ndim)))
    assert np.all(error <= FRONTEND_TOLERANCE), f"{name}/{config.compression}: max |C - numpy| per chunk {error}"
    if name in ("hybrid", "mel"):
        assert np.all(features[-1] == 0.0)  # silence normalises to zeros, not NaN


def real_chunks(recordings: Path, config: FrontendConfig) -> np.ndarray:
    """Every recording resampled to the contract's rate, cut into whole chunks (a shorter one zero-padded)."""
    from shardkit.audio.decode import open_audio, read_resampled

    chunks = []
    for path in sorted(p for p in recordings.rglob("*") if p.is_file() and p.name != "SOURCES.json"):
        with open_audio(str(path)) as handle:
            seconds = handle.frames / handle.samplerate
            audio = read_resampled(handle, 0.0, int(seconds * config.sample_rate_hz), config.sample_rate_hz)
        n = config.chunk_samples
        padded = np.pad(audio, (0, -len(audio) % n))
        chunks += list(padded.reshape(-1, n))
    return np.stack(chunks).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "compression"), VARIANTS[:6])
def test_c_frontend_matches_the_numpy_reference_on_real_recordings(cc, real_recordings, tmp_path, name, compression):
    """Farm-animal recordings shipped in a Debian package, through the compiled C frontend and the numpy reference."""
    config = FrontendConfig(name=name, compression=compression)
    chunks = real_chunks(real_recordings, config)
    assert len(chunks) >= 6 and np.sqrt(np.mean(chunks**2, axis=1)).min() > 1e-4, "real, non-silent chunks"
    features = run_frontend(compile_frontend(cc, tmp_path, config_header(config)), chunks, config.output_shape)
    reference = np.stack([reference_frontend(chunk, config) for chunk in chunks])
    assert np.abs(features - reference).max() <= FRONTEND_TOLERANCE, f"{name}/{compression} on {len(chunks)} real chunks"


def test_c_frontend_with_a_small_odd_contract(cc, frontend_chunks, tmp_path):
    config = FrontendConfig(name="mel", compression="log", sample_rate_hz=16000, chunk_s=1.0, n_fft=64, n_frames=37, n_mels=20, log_floor_db=30.0)
    binary = compile_frontend(cc, tmp_path, config_header(config))
    chunks = frontend_chunks(config)
    reference = np.stack([reference_frontend(chunk, config) for chunk in chunks])
    assert np.abs(run_frontend(binary, chunks, config.output_shape) - reference).max() <= FRONTEND_TOLERANCE


def test_c_frontend_refuses_a_non_finite_chunk(cc, tmp_path):
    config = FrontendConfig(chunk_s=0.5)
    binary = compile_frontend(cc, tmp_path, config_header(config))
    chunk = np.zeros((1, config.chunk_samples), np.float32)
    chunk[0, 100] = np.nan
    chunk.astype("<f4").tofile(tmp_path / "nan.f32")
    proc = subprocess.run([str(binary), str(tmp_path / "nan.f32"), str(tmp_path / "out.f32")], capture_output=True, text=True)
    assert proc.returncode == 3 and "returned -2" in proc.stderr


def test_class_names_reach_c_unchanged(cc, tmp_path):
    """Each class name, compiled from the header's string literals, is its UTF-8 bytes: quotes, backslashes,
    non-ASCII bytes followed by a digit, control characters, and ``??`` (C99 trigraphs, ``??!`` is ``|``)."""
    classes = ("alpha", 'quote"d', "back\\slash", "mésange1", "why??!", "tab\tnew\nline", "??=x", "")
    program = tmp_path / "names.c"
    program.write_text(
        '#include <stdio.h>\n#include <string.h>\n#include "shardkit_frontend_config.h"\n'
        "static const char *names[SHARDKIT_N_CLASSES] = SHARDKIT_CLASS_NAMES;\n"
        "int main(void) { int i; for (i = 0; i < SHARDKIT_N_CLASSES; i++) fwrite(names[i], 1, strlen(names[i]) + 1, stdout); return 0; }\n"
    )
    (tmp_path / HEADER_NAME).write_text(config_header(FrontendConfig(), classes))
    binary = tmp_path / "names"
    proc = subprocess.run([cc, *CFLAGS, f"-I{tmp_path}", str(program), "-o", str(binary)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    printed = subprocess.run([str(binary)], capture_output=True, check=True).stdout
    assert printed.split(b"\0")[:-1] == [name.encode() for name in classes]


# --- the bundle written by convert ------------------------------------------------------------

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def bundle_model(tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model on the log-compressed contract (v2), so the bundle and the C frontend are checked on the
    compressed input (the session's `tiny_model` takes the default, uncompressed one); 8 epochs, because
    fewer leave its scores too flat to convert (a collapsed model is refused before any bundle)."""
    import dataclasses

    from helpers.training import TINY_FRONTEND, tiny_config

    from shardkit.train.runner import train

    out = tmp_path_factory.mktemp("bundle_model")
    train(str(tiny_shards), str(out), tiny_config(epochs=8, frontend=dataclasses.replace(TINY_FRONTEND, compression="log")), verbose=0)
    return out / "tiny.keras"


@pytest.fixture(scope="module")
def bundled(bundle_model: Path, tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory):
    from shardkit.export.config import ConvertConfig
    from shardkit.export.convert import convert

    out = tmp_path_factory.mktemp("bundled")
    # the gates are the gate tests' business; on 9 gate samples this tiny model misses rank agreement and MAE
    result = convert(str(bundle_model), str(tiny_shards), str(out), ConvertConfig(min_rank_agreement=0.0, max_output_mae=1.0))
    return result, out, out / "tiny_int8_n6_bundle"


def test_convert_writes_the_bundle_and_read_bundle_checks_it(bundled, bundle_model):
    result, out, folder = bundled
    assert result.bundle_path == str(folder) and result.report["bundle"]["location"] == str(folder)
    manifest = read_bundle(str(folder))
    assert json.loads((out / "tiny_int8_report.json").read_text())["bundle"]["vectors"] == manifest["vectors"] > 0
    classes = json.loads((bundle_model.parent / "tiny_model_config.json").read_text())["classes"]
    assert manifest["classes"] == classes and manifest["contract_version"] == 2
    assert result.report["n6"]["ok"] and result.report["n6"]["violations"] == [], "a v2 (log) model's INT8 graph is N6-clean"
    expected = {HEADER_NAME, *C_SOURCES, "validation.npz", "val_inputs.npy", "val_outputs.npy", "val_outputs_float.npy", "README.md"}
    assert set(manifest["files"]) == expected and {p.name for p in folder.iterdir()} == expected | {MANIFEST}
    vectors = np.load(folder / "validation.npz")
    assert list(vectors["classes"]) == classes and len(vectors["keys"]) == manifest["vectors"]
    assert set(vectors["keys"]) <= set(result.report["gate_samples"]["keys"])
    assert manifest["frontend"]["compression"] == "log" and "#define SHARDKIT_COMPRESSION 2 /* log */" in (folder / HEADER_NAME).read_text()
    readme = (folder / "README.md").read_text()
    assert "stedgeai validate" in readme and "--mode target" in readme and "--valinput val_inputs.npy" in readme


def test_a_tampered_or_incomplete_bundle_is_named(bundled, tmp_path):
    _, out, folder = bundled
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    shutil.copy(out / "tiny_int8.tflite", tmp_path / "tiny_int8.tflite")  # read_bundle wants the model beside it
    (copy / "shardkit_frontend.c").write_bytes((copy / "shardkit_frontend.c").read_bytes() + b"\n")
    with pytest.raises(BundleError, match=r"bundle file 'shardkit_frontend.c' .* changed"):
        read_bundle(str(copy))
    shutil.copy(folder / "shardkit_frontend.c", copy / "shardkit_frontend.c")
    read_bundle(str(copy))
    (copy / "val_inputs.npy").unlink()
    with pytest.raises(BundleError, match="bundle file 'val_inputs.npy' is missing"):
        read_bundle(str(copy))
    shutil.copy(folder / "val_inputs.npy", copy / "val_inputs.npy")
    (tmp_path / "tiny_int8.tflite").write_bytes((out / "tiny_int8.tflite").read_bytes()[:-1] + b"\0")
    with pytest.raises(BundleError, match="the model 'tiny_int8.tflite' beside .* is not the one"):
        read_bundle(str(copy))
    (copy / MANIFEST).unlink()
    with pytest.raises(BundleError, match="not a complete bundle"):
        read_bundle(str(copy))


def test_c_frontend_and_litert_reproduce_the_bundle_vectors(bundled, cc):
    from shardkit.export.runtime import TFLitePredictor

    _, out, folder = bundled
    manifest = read_bundle(str(folder))
    vectors = np.load(folder / "validation.npz")
    work = folder.parent / "c_build"
    shutil.copytree(folder, work)
    binary = compile_frontend(cc, work)  # the bundle's own header and sources
    features = run_frontend(binary, vectors["raw_chunks"], vectors["float_inputs"].shape[1:])
    assert np.abs(features - vectors["float_inputs"]).max() <= FRONTEND_TOLERANCE
    q_in, q_out = manifest["quantization"]["input"], manifest["quantization"]["output"]
    int8_inputs = np.clip(np.round(features / q_in["scale"]) + q_in["zero_point"], -128, 127)
    assert np.abs(int8_inputs - vectors["int8_inputs"].astype(np.int32)).max() <= 1
    # the float-I/O model quantizes its input with the same scale: give it the dequantized INT8 values
    predictor = TFLitePredictor((out / "tiny_int8.tflite").read_bytes())
    scores = predictor(((int8_inputs - q_in["zero_point"]) * q_in["scale"]).astype(np.float32))
    int8_outputs = np.round(scores / q_out["scale"]) + q_out["zero_point"]
    assert np.abs(int8_outputs - vectors["int8_outputs"].astype(np.int32)).max() <= 1
    stedgeai_in, stedgeai_out = np.load(folder / "val_inputs.npy"), np.load(folder / "val_outputs.npy")
    assert stedgeai_in.shape == (manifest["vectors"], *predictor.input_shape) and stedgeai_in.dtype == np.float32
    assert stedgeai_out.shape == (manifest["vectors"], len(manifest["classes"]))
    np.testing.assert_allclose(predictor(stedgeai_in), stedgeai_out, atol=1e-6)


def test_a_failed_gate_leaves_no_complete_bundle(bundled, bundle_model, tiny_shards, tmp_path):
    from shardkit.export.config import CalibrationConfig, ConvertConfig
    from shardkit.export.convert import GateFailed, convert

    _, _, folder = bundled
    shutil.copytree(folder, tmp_path / folder.name)  # an earlier run's bundle
    config = ConvertConfig(min_cosine_mean=1.0, min_rank_agreement=0.0, max_output_mae=1.0, gate_samples=20, calibration=CalibrationConfig(samples=40))
    with pytest.raises(GateFailed):
        convert(str(bundle_model), str(tiny_shards), str(tmp_path), config)
    assert not (tmp_path / folder.name / MANIFEST).exists()
    with pytest.raises(BundleError, match="not a complete bundle"):
        read_bundle(str(tmp_path / folder.name))
