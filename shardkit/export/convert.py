"""`convert`: a trained model → a gated, verified full-INT8 TFLite model for the N6.

Calibration samples (representative data) and gate samples are drawn by key, stratified,
and disjoint. The model is rebuilt flat in float32 with BatchNorm folded and batch 1, the
converter runs in a child process, and the result is compared with the float model on the
gate samples (`gates.py`: a collapsed float model is refused before converting; then the
ROC-AUC and cmAP drops, rank agreement, output MAE and cosine) and checked against the N6
rules. The report is
always written; the ``.tflite`` is promoted only when every gate passes: its model config
first (holding the model's SHA-256), then the model file in one atomic step.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shardkit.errors import ConfigError, ShardkitError
from shardkit.export.bundle import MANIFEST, ModelOutputs, bundle_folder, write_bundle
from shardkit.export.config import ConvertConfig
from shardkit.export.gates import check_not_collapsed, describe_gate, evaluate_gates, gate_failures
from shardkit.export.runtime import KerasPredictor, TFLitePredictor, agreement
from shardkit.export.samples import SampleSet, pick_samples
from shardkit.jsonio import dumps
from shardkit.storage import Store
from shardkit.train.trained_model import Checkpoint, load_checkpoint

log = logging.getLogger(__name__)

#: format id of the conversion report
REPORT_FORMAT = "shardkit-convert/1"


class GateFailed(ShardkitError):
    """A conversion gate failed: the report is written, the model is not promoted."""

    def __init__(self, result: ConvertResult) -> None:
        super().__init__(f"conversion gates failed: {'; '.join(result.failures)} (report: {result.report_path}); the INT8 model was not promoted")
        self.result = result


@dataclass
class ConvertResult:
    """What a conversion produced."""

    passed: bool
    report: dict
    report_path: str
    tflite_path: str | None = None
    failures: list[str] = field(default_factory=list)
    bundle_path: str | None = None


def artifact_names(stem: str) -> dict[str, str]:
    """File names written by converting ``<stem>.keras``."""
    return {
        "tflite": f"{stem}_int8.tflite",
        "model_config": f"{stem}_int8_model_config.json",
        "report": f"{stem}_int8_report.json",
        "summary": f"{stem}_int8_report.txt",
        "labels": f"{stem}_int8_labels.txt",
    }


def draw_samples(
    shards: str, checkpoint: Checkpoint, config: ConvertConfig, storage_options: dict[str, Any] | None, keep_audio: bool = False
) -> tuple[SampleSet, SampleSet]:
    """``(gate, calibration)``: stratified, deterministic and disjoint by key (the gate's audio kept with ``keep_audio``).

    Raises:
        ConfigError: the shards' classes differ from the model's, or the sets would overlap.
    """
    frontend = checkpoint.frontend
    gate = pick_samples(
        shards, config.gate_split, frontend, config.gate_samples, seed=config.calibration.seed, storage_options=storage_options, keep_audio=keep_audio
    )
    if list(gate.classes) != checkpoint.classes:
        raise ConfigError(f"the shards' classes {list(gate.classes)} differ from the model's {checkpoint.classes}")
    calibration = pick_samples(
        shards,
        config.calibration.split,
        frontend,
        config.calibration.samples,
        seed=config.calibration.seed,
        exclude=frozenset(gate.keys),
        storage_options=storage_options,
    )
    for name, samples in (("gate", gate), ("calibration", calibration)):
        if not len(samples):
            raise ConfigError(f"no decodable {name} samples in {shards!r}")
    overlap = set(gate.keys) & set(calibration.keys)
    if overlap:  # pick_samples excludes them; this guards the contract itself
        raise ConfigError(f"calibration and gate samples overlap in {len(overlap)} keys, e.g. {sorted(overlap)[:3]}")
    return gate, calibration


def quantized_io(predictor: TFLitePredictor) -> dict:
    """Input and output dtype, scale and zero point of a converted model."""

    def describe(details: dict) -> dict:
        scale, zero_point = details["quantization"]
        return {"dtype": np.dtype(details["dtype"]).name, "shape": [int(n) for n in details["shape"]], "scale": float(scale), "zero_point": int(zero_point)}

    return {"input": describe(predictor.input), "output": describe(predictor.output)}


def _metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    from shardkit.scoring import classification_metrics

    return classification_metrics(labels, scores)


def convert(
    checkpoint_path: str, shards: str, out: str | None = None, config: ConvertConfig = ConvertConfig(), storage_options: dict[str, Any] | None = None
) -> ConvertResult:
    """Convert ``checkpoint_path`` to full INT8, gate it, and promote it when the gates pass.

    Args:
        checkpoint_path: a ``.keras`` written by ``shardkit train`` or ``shardkit qat``.
        shards: the shard set the calibration and gate samples come from.
        out: output folder (default: the checkpoint's).
        config: conversion settings.
        storage_options: fsspec options for the shards, the checkpoint and ``out``.

    Returns:
        The result; ``passed`` is True (a failing gate raises).

    Raises:
        ConfigError: bad checkpoint or shards, before converting.
        CollapsedModelError: the float model scores every gate sample about the same (a
            ConfigError), before converting.
        GateFailed: a gate failed; the report is written, the model is not promoted.
        ConverterError: the converter itself failed.
    """
    from shardkit.export.converter_process import convert_in_subprocess
    from shardkit.export.n6_report import format_n6_report, n6_report
    from shardkit.export.quantize import deployable_model
    from shardkit.train import artifacts

    checkpoint = load_checkpoint(checkpoint_path, storage_options)
    store = Store(out or checkpoint.folder, storage_options or {})
    store.check_writable()
    files = artifact_names(checkpoint.stem)
    gate, calibration = draw_samples(shards, checkpoint, config, storage_options, keep_audio=config.bundle_vectors > 0)
    float_scores = KerasPredictor(checkpoint.model)(gate.features)
    check_not_collapsed(float_scores, checkpoint.classes, config.min_score_std, checkpoint.path)
    log.info(
        "converting %s: %d calibration samples (%s), %d gate samples (%s)",
        checkpoint.path,
        len(calibration),
        config.calibration.split,
        len(gate),
        config.gate_split,
    )
    with tempfile.TemporaryDirectory() as tmp:
        model_path, calibration_path, tflite_path = (os.path.join(tmp, name) for name in ("model.keras", "calibration.npy", "model.tflite"))
        deployable_model(checkpoint.model, batch_size=1).save(model_path)
        np.save(calibration_path, calibration.features)
        convert_in_subprocess(model_path, calibration_path, tflite_path, config.int8_io, config.timeout_s)
        with open(tflite_path, "rb") as handle:
            content = handle.read()
        int8 = TFLitePredictor(content)
        int8_scores = int8(gate.features)
        measured = agreement(float_scores, int8_scores)
        n6 = n6_report(content)
        gates = evaluate_gates(gate.labels, float_scores, int8_scores, measured, n6.ok, config)
        failures = gate_failures(gates, len(n6.violations))
        digest = hashlib.sha256(content).hexdigest()
        bundle = None if failures else _write_bundle(store, files["tflite"], content, checkpoint, int8, gate, float_scores, int8_scores, config)
        report = {
            "format": REPORT_FORMAT,
            "source": {"model": checkpoint.path, "name": checkpoint.stem, "sha256": (checkpoint.config.get("sha256") or {}).get(f"{checkpoint.stem}.keras")},
            "shards": shards,
            "config": config.to_dict(),
            "passed": not failures,
            "failures": failures,
            "gates": gates,
            "agreement": measured,
            "metrics": {"float": _metrics(gate.labels, float_scores), "int8": _metrics(gate.labels, int8_scores)},
            "calibration": {"split": config.calibration.split, "samples": len(calibration), "keys": list(calibration.keys)},
            "gate_samples": {"split": config.gate_split, "samples": len(gate), "keys": list(gate.keys)},
            "quantization": quantized_io(int8),
            "tflite": {"name": files["tflite"], "bytes": len(content), "sha256": digest, "promoted": not failures},
            "n6": n6.to_dict(),
            "bundle": bundle,
            "versions": artifacts.versions(),
        }
        store.write_json(files["report"], report)
        store.write_bytes(files["summary"], (format_convert_report(report) + "\n\n" + format_n6_report(n6) + "\n").encode())
        result = ConvertResult(
            passed=not failures,
            report=report,
            report_path=store.location(files["report"]),
            failures=failures,
            bundle_path=bundle["location"] if bundle else None,
        )
        if failures:
            for stale in (files["tflite"], files["model_config"], files["labels"], f"{bundle_folder(files['tflite'])}/{MANIFEST}"):
                store.delete(stale)  # an earlier run's promoted model must not sit beside this failed report
            raise GateFailed(result)
        model_config = {
            **checkpoint.config,
            "name": f"{checkpoint.stem}_int8",
            "quantization": {"scheme": "full-int8", "weights": "symmetric per-channel int8", "activations": "asymmetric per-tensor int8", **quantized_io(int8)},
            "converted_from": {"model": checkpoint.path, "sha256": report["source"]["sha256"]},
            "gates": gates,
            "sha256": {files["tflite"]: digest},
            "n6_violations": [str(v) for v in n6.violations],
            "versions": artifacts.versions(),
        }
        store.write_json(files["model_config"], model_config)
        artifacts.write_labels(store, files["labels"], checkpoint.classes)
        store.write_bytes(files["tflite"], content)
    result.tflite_path = store.location(files["tflite"])
    return result


def _write_bundle(store: Store, name: str, content: bytes, checkpoint: Checkpoint, int8: TFLitePredictor, gate, float_scores, int8_scores, config) -> dict:
    """The N6 bundle beside the model (`bundle.py`); what the report records of it."""
    from shardkit.export.vectors import int8_boundaries

    model = ModelOutputs(name, content, tuple(checkpoint.classes), int8_boundaries(int8), gate, float_scores, int8_scores)
    manifest = write_bundle(store, model, checkpoint.frontend, config.bundle_vectors)
    return {"location": manifest["location"], "vectors": manifest["vectors"], "contract_version": manifest["contract_version"]}


def format_convert_report(report: dict) -> str:
    """A few readable lines: gates, agreement, float vs INT8 metrics, the model file."""
    lines = [f"INT8 conversion of {report['source']['model']}: {'PASSED' if report['passed'] else 'FAILED'}"]
    lines += [f"  gate {describe_gate(name, gate)}" for name, gate in report["gates"].items()]
    agree = report["agreement"]
    lines.append(
        f"  cosine mean {agree['cosine_mean']:.4f}, p5 {agree['cosine_p5']:.4f}, min {agree['cosine_min']:.4f}; max |diff| {agree['max_abs_diff']:.4f}; top-1 agreement {agree['top1_agreement']:.3f} ({agree['samples']} samples)"
    )
    lines.append(f"  output MAE {agree['output_mae']:.4f}; rank agreement {agree['rank_agreement']:.4f}")
    for kind in ("float", "int8"):
        m = report["metrics"][kind]
        lines.append(f"  {kind:>5}: ROC-AUC {m['roc_auc']:.4f}  cmAP {m['cmap']:.4f}")
    lines.append(
        f"  calibration: {report['calibration']['samples']} samples from {report['calibration']['split']!r}; gates on {report['gate_samples']['samples']} from {report['gate_samples']['split']!r}"
    )
    tflite = report["tflite"]
    lines.append(f"  {tflite['name']}: {tflite['bytes']} bytes, sha256 {tflite['sha256'][:16]}…, {'promoted' if tflite['promoted'] else 'NOT promoted'}")
    if report.get("bundle"):
        bundle = report["bundle"]
        lines.append(f"  N6 bundle (contract v{bundle['contract_version']}, {bundle['vectors']} validation vectors): {bundle['location']}")
    return "\n".join(lines)


def report_json(report: dict) -> str:
    """The report as indented JSON (for ``--json``)."""
    return dumps(report, indent=2)
