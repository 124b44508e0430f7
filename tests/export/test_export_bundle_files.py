"""The bundle's files without TensorFlow: write_bundle over an old bundle, read_bundle's refusals, and the
validation vectors quantized exactly as the INT8 model was fed (local and memory:// stores)."""

from __future__ import annotations

import numpy as np
import pytest

from shardkit.audio.frontends import FrontendConfig
from shardkit.export.bundle import MANIFEST, BundleError, ModelOutputs, bundle_folder, read_bundle, write_bundle
from shardkit.export.runtime import dequantize, quantize
from shardkit.export.samples import SampleSet
from shardkit.export.vectors import dequantize_int8, quantize_int8
from shardkit.storage import Store

FRONTEND = FrontendConfig(chunk_s=0.25, n_fft=64, n_frames=16, n_mels=16, n_mfcc=8)
BOUNDARIES = {
    "input": {"scale": 0.003921568859368563, "zero_point": -128, "tensor_dtype": "float32"},
    "output": {"scale": 0.00390625, "zero_point": -128, "tensor_dtype": "float32"},
}
CLASSES = ("alpha", "beta")


def model_outputs(content: bytes = b"model bytes", samples: int = 6) -> ModelOutputs:
    """A converted model's outputs on ``samples`` made-up gate samples (no TensorFlow needed)."""
    rng = np.random.default_rng(0)
    labels = np.eye(len(CLASSES) + 1, len(CLASSES), dtype=np.float32)[np.arange(samples) % (len(CLASSES) + 1)]
    sample_set = SampleSet(
        keys=tuple(f"k{i}" for i in range(samples)),
        features=rng.random((samples, *FRONTEND.output_shape, 1)).astype(np.float32),
        labels=labels,
        classes=CLASSES,
        audio=rng.integers(-3000, 3000, (samples, FRONTEND.chunk_samples)).astype(np.int16),
    )
    scores = rng.random((samples, len(CLASSES))).astype(np.float32)
    return ModelOutputs("m_int8.tflite", content, CLASSES, BOUNDARIES, sample_set, scores, scores)


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(str(tmp_path / "out"))
    return Store(f"memory://bundle-files-{tmp_path.name}")


def test_a_rewritten_bundle_keeps_no_file_of_the_old_one(store):
    model = model_outputs()
    store.write_bytes(model.name, model.content)
    write_bundle(store, model, FRONTEND, vectors=4)
    folder = bundle_folder(model.name)
    assert f"{folder}/val_inputs.npy" in store.listdir(folder)
    manifest = write_bundle(store, model, FRONTEND, vectors=0)  # the same model re-converted without vectors
    assert manifest["vectors"] == 0
    assert set(store.listdir(folder)) == {f"{folder}/{name}" for name in [*manifest["files"], MANIFEST]}
    read_bundle(store.location(folder), store.storage_options)


def test_read_bundle_refuses_a_bundle_whose_model_is_not_beside_it(store):
    model = model_outputs()
    manifest = write_bundle(store, model, FRONTEND, vectors=2)  # e.g. killed before the model was promoted
    with pytest.raises(BundleError, match=r"the model 'm_int8.tflite' the bundle was made for is not beside it in '.+' \(never promoted"):
        read_bundle(manifest["location"], store.storage_options)
    assert read_bundle(manifest["location"], store.storage_options, require_model=False)["vectors"] == 2
    store.write_bytes(model.name, model.content)
    assert read_bundle(manifest["location"], store.storage_options)["model"]["name"] == model.name


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b'{"format": "shardkit-n6-bundle/1", "fi', "not valid JSON"), (b'{"format": "shardkit-n6-bundle/1"}', "has no 'files'"), (b"[]", "not a JSON object")],
)
def test_read_bundle_names_a_malformed_manifest(store, content, reason):
    model = model_outputs()
    store.write_bytes(model.name, model.content)
    location = write_bundle(store, model, FRONTEND, vectors=0)["location"]
    store.write_bytes(f"{bundle_folder(model.name)}/{MANIFEST}", content)
    with pytest.raises(BundleError, match=f"{MANIFEST} in .*: {reason}") as caught:
        read_bundle(location, store.storage_options)
    assert "\n" not in str(caught.value)


def test_vectors_quantize_exactly_as_the_int8_model_is_fed():
    """The vectors' INT8 inputs must be what LiteRT was given when the INT8 outputs were computed
    (float64 arithmetic rounded a few of a million values the other way)."""
    values = np.random.default_rng(0).random((16, 256, 256, 1)).astype(np.float32)
    details = {"dtype": np.int8, "quantization": (BOUNDARIES["input"]["scale"], BOUNDARIES["input"]["zero_point"])}
    np.testing.assert_array_equal(quantize_int8(values, BOUNDARIES["input"]), quantize(values, details))
    q = quantize(values, details)
    np.testing.assert_array_equal(dequantize_int8(q, BOUNDARIES["input"]), dequantize(q, details))
