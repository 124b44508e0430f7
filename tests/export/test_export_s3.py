"""convert and evaluate with the model, the shards and the outputs on S3 (a real endpoint on 127.0.0.1)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ai_edge_litert")

from shardkit.export.config import CalibrationConfig, ConvertConfig
from shardkit.export.convert import convert
from shardkit.export.evaluate import evaluate


def test_convert_and_evaluate_on_s3(tiny_model, tiny_shards, s3_env):
    import s3fs

    fs = s3fs.S3FileSystem()
    bucket = s3_env
    fs.put(str(tiny_shards), f"{bucket}/shards", recursive=True)
    for name in ("tiny.keras", "tiny_model_config.json"):
        fs.put_file(str(tiny_model.parent / name), f"{bucket}/models/{name}")
    result = convert(
        f"s3://{bucket}/models/tiny.keras", f"s3://{bucket}/shards", config=ConvertConfig(gate_samples=20, calibration=CalibrationConfig(samples=40))
    )
    assert result.passed and result.tflite_path == f"s3://{bucket}/models/tiny_int8.tflite"
    assert fs.exists(f"{bucket}/models/tiny_int8.tflite") and fs.exists(f"{bucket}/models/tiny_int8_report.json")
    config = json.loads(fs.cat_file(f"{bucket}/models/tiny_int8_model_config.json"))
    assert list(config["sha256"]) == ["tiny_int8.tflite"]
    report = evaluate(result.tflite_path, f"s3://{bucket}/shards", "val")
    assert report["models"][0]["kind"] == "tflite" and report["samples"] > 0
    assert fs.exists(f"{bucket}/models/tiny_int8_eval_val.png")
