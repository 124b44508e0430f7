"""Human-readable summary of a training run."""

from __future__ import annotations


def format_result(result) -> str:
    """A few lines: where the artifacts are, the best epoch and its validation metrics."""
    config = result.config
    lines = [f"trained {config.name!r}: {result.epochs_done}/{config.epochs} epochs" + (" (early stop)" if result.stopped_early else "")]
    if result.best_epoch is not None:
        best = result.best
        lines.append(
            f"  best epoch {result.best_epoch} by {config.monitor}: val ROC-AUC {best.get('val_roc_auc', float('nan')):.4f}, "
            f"cmAP {best.get('val_cmap', float('nan')):.4f}, loss {best.get('val_loss', float('nan')):.4f}"
        )
    if result.history:
        last = result.history[-1]
        lines.append(f"  last epoch: {last['steps']} steps, {last['samples_per_s']} samples/s, input wait {100 * last['input_wait']:.1f}% of step time")
    lines.append(f"  model: {result.artifacts.get('model')}")
    lines.append(f"  config, labels, history, curves and train state beside it in {result.out}")
    return "\n".join(lines)
