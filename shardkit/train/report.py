"""Human-readable summary of a training run."""

from __future__ import annotations

from shardkit.scoring import COLLAPSED_SCORE_STD


def is_collapsed(row: dict) -> bool:
    """Whether an epoch's validation scores barely vary across samples (a row without the spread: unknown, no)."""
    spread = row.get("val_score_std")
    return spread is not None and spread < COLLAPSED_SCORE_STD  # NaN (under two samples) compares False


def collapse_note(row: dict) -> str:
    """What an epoch line adds when that epoch's model has collapsed ("" otherwise)."""
    if not is_collapsed(row):
        return ""
    return f" COLLAPSED: val scores barely vary across samples (largest per-class std {row['val_score_std']:.2g} < 1/256)"


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
        if is_collapsed(best):
            lines.append(
                f"  the best model has COLLAPSED: its val scores barely vary across samples (largest per-class std {best['val_score_std']:.2g}), "
                "so it scores every input alike and its ROC-AUC ranks noise; convert will refuse it. Train longer or with more steps "
                "per epoch (a smaller --batch-size), check the labels and class balance, or start from the demo's settings (shardkit demo)"
            )
    if result.history:
        last = result.history[-1]
        lines.append(f"  last epoch: {last['steps']} steps, {last['samples_per_s']} samples/s, input wait {100 * last['input_wait']:.1f}% of step time")
    lines.append(f"  model: {result.artifacts.get('model')}")
    lines.append(f"  config, labels, history, curves and train state beside it in {result.out}")
    return "\n".join(lines)
