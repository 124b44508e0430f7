"""Where does INT8 lose accuracy? The fake-quant twin with groups of activations left in float.

    python tools/quant_ablation.py MODEL.keras SHARDS [--gate-samples 500]

Builds the deployable model and its fake-quant twin (the converter's scheme, ranges from the
converter's calibration draw), then scores the gate samples with everything quantized,
with one group of activation quantizers switched off at a time (model input; frontend
stage = mel mixer and magnitude scaling; backbone), and with weights only. Prints ROC-AUC
and the float-vs-twin output cosine (mean, 5th percentile) per row.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: layer-name fragments of the frontend stage inside the model (hybrid mixer and scaling)
FRONTEND_STAGE = ("mel_mixer", "mag_")


def ablation(model_path: str, shards: str, gate_samples: int = 500) -> list[dict]:
    """Rows of ``{"row", "roc_auc", "cosine_mean", "cosine_p5"}``."""
    from shardkit.export.config import ConvertConfig
    from shardkit.export.convert import draw_samples
    from shardkit.export.quantize import calibrate, deployable_model, fake_quant_model, quantizers
    from shardkit.export.runtime import KerasPredictor, agreement
    from shardkit.scoring import classification_metrics
    from shardkit.train.trained_model import load_checkpoint

    checkpoint = load_checkpoint(model_path)
    gate, calibration = draw_samples(shards, checkpoint, ConvertConfig(gate_samples=gate_samples), None)
    deployable = deployable_model(checkpoint.model)
    twin = fake_quant_model(deployable)
    calibrate(twin, calibration.features)
    reference = KerasPredictor(deployable)(gate.features)
    found = [q for q in quantizers(twin) if q.fixed_range is None]
    groups = {
        "all quantized": [],
        "model input in float": [q for q in found if q.name == "input_quant"],
        "frontend stage in float": [q for q in found if any(part in q.name for part in FRONTEND_STAGE)],
        "backbone in float": [q for q in found if q.name != "input_quant" and not any(part in q.name for part in FRONTEND_STAGE)],
        "weights only (no activation quantized)": found,
    }
    rows = [{"row": "float", "roc_auc": classification_metrics(gate.labels, reference)["roc_auc"], "cosine_mean": 1.0, "cosine_p5": 1.0}]
    for name, off in groups.items():
        saved = [(q.low.numpy(), q.high.numpy()) for q in found]
        for q in off:
            q.observing = True  # passes values through (eager calls below)
        scores = np.concatenate([np.asarray(twin(gate.features[i : i + 32], training=False)) for i in range(0, len(gate), 32)])
        for q, (low, high) in zip(found, saved, strict=True):
            q.observing = False
            q.low.assign(low)
            q.high.assign(high)
        measured = agreement(reference, scores)
        rows.append(
            {
                "row": name,
                "roc_auc": classification_metrics(gate.labels, scores)["roc_auc"],
                "cosine_mean": measured["cosine_mean"],
                "cosine_p5": measured["cosine_p5"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("shards")
    parser.add_argument("--gate-samples", type=int, default=500)
    args = parser.parse_args()
    print(f"{'fake-quant twin':<42} {'ROC-AUC':>8} {'cos mean':>9} {'cos p5':>8}")
    for row in ablation(args.model, args.shards, args.gate_samples):
        print(f"{row['row']:<42} {row['roc_auc']:>8.4f} {row['cosine_mean']:>9.4f} {row['cosine_p5']:>8.4f}")


if __name__ == "__main__":
    main()
