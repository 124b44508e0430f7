"""Which QAT loss keeps the INT8 model closest to float? Today's BCE against the tail-aware distillation.

    python tools/bench_qat_loss.py MODEL.keras SHARDS OUT [--epochs 3] [--batch-size 16] [--learning-rate 3e-4]

Fine-tunes MODEL once per variant (``bce``; ``tail_distill``; ``tail_distill`` with 10 % hard
labels) with the same settings, converts each result (and MODEL itself, post-training
quantization) to full INT8 with the gates opened, and scores all of them on the converter's
gate samples: float ROC-AUC / cmAP of the trained model, INT8 ROC-AUC / cmAP, their drop, and
the output MAE (mean |float - INT8| of the sigmoid scores, against the trained float model).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: variant name → QATConfig settings (None: no QAT, the trained model converted directly)
VARIANTS = {
    "ptq": None,
    "bce": {"loss": "bce"},
    "tail_distill": {"loss": "tail_distill"},
    "tail_distill+labels0.1": {"loss": "tail_distill", "teacher_weight": 0.9},
}


def compare(model_path: str, shards: str, out: str, settings: dict, variants: dict = VARIANTS, gate_samples: int = 500) -> list[dict]:
    """One row per variant: float and INT8 metrics on the gate samples, their drop, output MAE, QAT epoch kept."""
    from shardkit.export.config import CalibrationConfig, ConvertConfig, QATConfig
    from shardkit.export.convert import convert, draw_samples
    from shardkit.export.qat import qat
    from shardkit.export.quantize import deployable_model
    from shardkit.export.runtime import KerasPredictor, TFLitePredictor
    from shardkit.scoring import classification_metrics
    from shardkit.train.trained_model import load_checkpoint

    calibration = CalibrationConfig(samples=settings.pop("calibration_samples", 200))
    convert_config = ConvertConfig(calibration=calibration, gate_samples=gate_samples, min_cosine_mean=-1.0, min_cosine_p5=-1.0)
    checkpoint = load_checkpoint(model_path)
    gate, _ = draw_samples(shards, checkpoint, convert_config, None)
    reference = KerasPredictor(deployable_model(checkpoint.model))(gate.features)
    float_metrics = classification_metrics(gate.labels, reference)
    rows = []
    for name, overrides in variants.items():
        folder = Path(out) / name
        source, kept = model_path, None
        if overrides is not None:
            result = qat(model_path, shards, str(folder), QATConfig(**settings, **overrides, calibration=calibration))
            source, kept = result.model_path, result.best_epoch
        converted = convert(source, shards, str(folder), convert_config)
        int8 = TFLitePredictor(Path(converted.tflite_path).read_bytes())(gate.features)
        metrics = classification_metrics(gate.labels, int8)
        rows.append(
            {
                "variant": name,
                "float_roc_auc": float_metrics["roc_auc"],
                "float_cmap": float_metrics["cmap"],
                "int8_roc_auc": metrics["roc_auc"],
                "int8_cmap": metrics["cmap"],
                "roc_auc_drop": float_metrics["roc_auc"] - metrics["roc_auc"],
                "cmap_drop": float_metrics["cmap"] - metrics["cmap"],
                "output_mae": float(np.mean(np.abs(reference - int8))),
                "epoch_kept": kept,
                "samples": len(gate),
            }
        )
    return rows


def format_rows(rows: list[dict]) -> str:
    """A fixed-width table of `compare`'s rows."""
    lines = [f"{'variant':<24} {'float AUC':>9} {'INT8 AUC':>9} {'drop':>8} {'float cmAP':>10} {'INT8 cmAP':>9} {'drop':>8} {'out MAE':>8} {'kept':>4}"]
    for r in rows:
        kept = "-" if r["epoch_kept"] is None else str(r["epoch_kept"])
        lines.append(
            f"{r['variant']:<24} {r['float_roc_auc']:>9.4f} {r['int8_roc_auc']:>9.4f} {r['roc_auc_drop']:>+8.4f} "
            f"{r['float_cmap']:>10.4f} {r['int8_cmap']:>9.4f} {r['cmap_drop']:>+8.4f} {r['output_mae']:>8.5f} {kept:>4}"
        )
    return "\n".join(lines) + f"\n({rows[0]['samples']} gate samples)" if rows else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("shards")
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--gate-samples", type=int, default=500)
    args = parser.parse_args()
    settings = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate}
    print(format_rows(compare(args.model, args.shards, args.out, settings, gate_samples=args.gate_samples)))


if __name__ == "__main__":
    main()
