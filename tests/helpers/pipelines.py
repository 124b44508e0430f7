"""A tiny pipeline file (the tiny training run of `helpers.training`, every stage on), to format with input, work and qat_epochs."""

from __future__ import annotations

TINY = """
[pipeline]
name = "tiny"
input = "{input}"
work = "{work}"

[build]
codec = "pcm16"
shard_max_samples = 8
val_fraction = 0.25
workers = 2

[train]
chunk_s = 1.0
n_fft = 128
n_frames = 32
n_mels = 16
n_mfcc = 8
architecture = "dscnn_lite"
alpha = 0.25
embeddings_size = 32
batch_size = 8
epochs = 2
learning_rate = 3e-3

[qat]
epochs = {qat_epochs}
batch_size = 8
calibration_samples = 40

[convert]
calibration_samples = 40
gate_samples = 20
min_cosine_mean = 0.5
min_cosine_p5 = 0.5
# two epochs on this corpus leave a collapsed model (per-class score std ~3e-4 on its 9 val
# chunks); these runs test the pipeline's mechanics, so the model-quality gates are waived
min_score_std = 0.0
min_rank_agreement = 0.0
max_output_mae = 1.0
"""

#: a pipeline file for the fake stages of `use_fake_stages`, to format with input and work
FAKE = """
[pipeline]
name = "fake"
input = "{input}"
work = "{work}"

[build]
shard_max_samples = 8
workers = 2

[train]
epochs = 2

[qat]
epochs = 1

[convert]
gate_samples = 20

[evaluate]
split = "val"
"""


def _write(folder: str, name: str, data: bytes) -> str:
    import os

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(data)
    return os.path.join(folder, name)


def _fake_build(config, settings: dict, storage: dict) -> dict[str, str]:
    import hashlib
    import json
    import os

    folder = config.url("shards")
    sources = sorted(os.path.relpath(os.path.join(root, name), config.input) for root, _, files in os.walk(config.input) for name in files)
    shard = f"{sources}{sorted(settings.items())}".encode() * 64
    _write(folder, "train-000000.tar", shard)
    entry = {"name": "train-000000.tar", "samples": len(sources), "sha256": hashlib.sha256(shard).hexdigest(), "bytes": len(shard)}
    _write(
        folder, "manifest.json", json.dumps({"splits": {"train": {"samples": len(sources), "shards": [entry]}, "val": {"samples": 3, "shards": []}}}).encode()
    )
    return {"shards": folder}


def _fake_train(config, settings: dict, storage: dict) -> dict[str, str]:
    import json

    folder = config.url("model")
    state = {"best_epoch": 2, "history": [{"epoch": 1, "val_roc_auc": 0.61}, {"epoch": 2, "val_roc_auc": 0.875}]}
    _write(folder, f"{config.name}_train_state.json", json.dumps(state).encode())
    return {"model": _write(folder, f"{config.name}.keras", f"model {sorted(settings.items())}".encode())}


def _fake_qat(config, settings: dict, storage: dict) -> dict[str, str]:
    return {"model": _write(config.url("qat"), f"{config.name}_qat.keras", f"qat {sorted(settings.items())}".encode())}


def _fake_convert(config, settings: dict, storage: dict) -> dict[str, str]:
    import json

    folder = config.url("int8")
    report = {"passed": True, "gates": {}, "metrics": {"float": {"roc_auc": 0.9, "cmap": 0.8}, "int8": {"roc_auc": 0.875, "cmap": 0.78}}}
    tflite = _write(folder, f"{config.name}_int8.tflite", b"\x00tflite" * 100)
    return {"tflite": tflite, "report": _write(folder, f"{config.name}_convert.json", json.dumps(report).encode())}


def _fake_evaluate(config, settings: dict, storage: dict) -> dict[str, str]:
    import json

    report = {"split": "val", "samples": 3, "models": [{"kind": "tflite", "roc_auc": 0.8121, "cmap": 0.7012}, {"kind": "keras", "roc_auc": 0.82, "cmap": 0.71}]}
    return {"report": _write(config.url("eval"), "eval_val.json", json.dumps(report).encode())}


FAKE_RUNNERS = {"build": _fake_build, "train": _fake_train, "qat": _fake_qat, "convert": _fake_convert, "evaluate": _fake_evaluate}


def use_fake_stages(monkeypatch) -> None:
    """Replace every stage (its check and its run) with a fake that writes a few small files, instantly."""
    from shardkit.pipeline import runner

    for stage, fake in FAKE_RUNNERS.items():
        monkeypatch.setitem(runner.STAGE_RUNNERS, stage, fake)
        monkeypatch.setitem(runner.STAGE_CHECKS, stage, lambda config: None)
