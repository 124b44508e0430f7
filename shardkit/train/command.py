"""The ``shardkit train`` command: flat options → `TrainConfig` → `train` (or `tune`).

Importing this module does not import TensorFlow; the command does, when it runs.
"""

from __future__ import annotations

import click

from shardkit.audio.frontends import COMPRESSIONS, DEFAULT_COMPRESSION, FRONTENDS, FrontendConfig
from shardkit.cli_options import add_options, require_path, storage_option, tensorflow_required
from shardkit.errors import ConfigError
from shardkit.jsonio import dumps
from shardkit.model.config import ARCHITECTURES, MAG_SCALES, POOLINGS, ModelConfig
from shardkit.read.config import BALANCE_MODES, PLACEMENTS
from shardkit.train.config import BATCHINGS, DISTRIBUTIONS, LOSSES, MONITORS, OPTIMIZERS, TrainConfig

#: what a person without the ``tf`` extra is told
NEEDS_TF = "shardkit train needs TensorFlow; run: pip install 'shardkit[tf]'"

_TRAIN, _MODEL, _FRONTEND = TrainConfig.__dataclass_fields__, ModelConfig.__dataclass_fields__, FrontendConfig.__dataclass_fields__


def _opt(flag: str, fields: dict, name: str, help_text: str, **kwargs):
    """An option whose default (None: the config's own) is shown from the config dataclass."""
    default = fields[name].default
    return click.option(flag, name, default=None, help=f"{help_text} [default: {default}]", **kwargs)


def _choice(values) -> click.Choice:
    return click.Choice(list(values))


TRAIN_OPTIONS = [
    _opt("--name", _TRAIN, "name", "Artifact prefix in --out."),
    click.option("--frontend", type=_choice(FRONTENDS), default=None, help=f"Model input features. [default: {_FRONTEND['name'].default}]"),
    click.option("--sample-rate", "sample_rate_hz", type=int, default=None, help="Frontend sample rate (Hz). [default: the shards']"),
    _opt("--chunk-s", _FRONTEND, "chunk_s", "Seconds per model input.", type=float),
    _opt("--n-fft", _FRONTEND, "n_fft", "FFT size.", type=int),
    _opt("--n-frames", _FRONTEND, "n_frames", "Spectrogram width (frames).", type=int),
    _opt("--n-mels", _FRONTEND, "n_mels", "Mel bands (mel, mfcc, and the hybrid mixer).", type=int),
    _opt("--fmin", _FRONTEND, "fmin_hz", "Lowest mel edge (Hz).", type=float),
    _opt("--n-mfcc", _FRONTEND, "n_mfcc", "MFCC coefficients.", type=int),
    click.option(
        "--compression",
        type=_choice(COMPRESSIONS),
        default=None,
        help=f"Magnitude compression before the model's first INT8 tensor (hybrid, mel). [default: {DEFAULT_COMPRESSION}]",
    ),
    _opt("--log-floor-db", _FRONTEND, "log_floor_db", "Range kept by --compression log (dB below the chunk's peak).", type=float),
    _opt("--placement", _TRAIN, "placement", "Frontend in the reader (pipeline) or as the model's first layer (deferred).", type=_choice(PLACEMENTS)),
    _opt("--mag-scale", _MODEL, "mag_scale", "Magnitude scaling.", type=_choice(MAG_SCALES)),
    _opt("--mel-trainable/--mel-frozen", _MODEL, "mel_trainable", "Let the hybrid mel mixer train."),
    _opt("--architecture", _MODEL, "architecture", "Model from the registry.", type=_choice(ARCHITECTURES)),
    _opt("--alpha", _MODEL, "alpha", "Width multiplier.", type=float),
    _opt("--depth-multiplier", _MODEL, "depth_multiplier", "Blocks per stage.", type=int),
    _opt("--embeddings-size", _MODEL, "embeddings_size", "Embedding channels.", type=int),
    _opt("--se/--no-se", _MODEL, "se", "Squeeze-and-excite in each block."),
    _opt("--se-reduction", _MODEL, "se_reduction", "SE bottleneck ratio.", type=int),
    _opt("--inverted-residual/--depthwise-separable", _MODEL, "inverted_residual", "Inverted-residual blocks."),
    _opt("--expansion", _MODEL, "expansion", "Inverted-residual expansion.", type=int),
    _opt("--pooling", _MODEL, "pooling", "Pooling head.", type=_choice(POOLINGS)),
    _opt("--dropout", _MODEL, "dropout", "Dropout before the head.", type=float),
    _opt("--l2", _MODEL, "l2", "L2 penalty on conv kernels.", type=float),
    _opt("--optimizer", _TRAIN, "optimizer", "Optimizer.", type=_choice(OPTIMIZERS)),
    _opt("--learning-rate", _TRAIN, "learning_rate", "Peak learning rate.", type=float),
    click.option("--warmup-epochs", type=float, default=None, help="Linear warm-up, then cosine decay. [default: 1 epoch, at most 5% of the run's steps]"),
    _opt("--final-lr-ratio", _TRAIN, "final_lr_ratio", "Final learning rate / peak.", type=float),
    _opt("--weight-decay", _TRAIN, "weight_decay", "AdamW weight decay.", type=float),
    _opt("--momentum", _TRAIN, "momentum", "SGD momentum.", type=float),
    _opt("--clip-norm", _TRAIN, "clip_norm", "Clip gradients by this global norm.", type=float),
    _opt("--loss", _TRAIN, "loss", "Loss.", type=_choice(LOSSES)),
    _opt("--focal-gamma", _TRAIN, "focal_gamma", "Focal loss gamma.", type=float),
    _opt("--label-smoothing", _TRAIN, "label_smoothing", "Label smoothing.", type=float),
    click.option("--batch-size", type=int, default=None, help="Global batch size. [default: the largest of 64/32/16 giving 16 steps per epoch]"),
    click.option("--epochs", type=int, default=None, help="Epochs. [default: about 1200 steps, within 5 to 60 epochs]"),
    _opt("--max-steps-per-epoch", _TRAIN, "max_steps_per_epoch", "Cut epochs at this many batches.", type=int),
    _opt("--monitor", _TRAIN, "monitor", "Validation metric that picks the best checkpoint.", type=_choice(MONITORS)),
    _opt("--patience", _TRAIN, "patience", "Early stopping patience in epochs.", type=int),
    _opt("--seed", _TRAIN, "seed", "Seed of every random choice.", type=int),
    _opt("--mixed-precision/--float32", _TRAIN, "mixed_precision", "float16 compute."),
    _opt("--distribute", _TRAIN, "distribute", "mirrored: every GPU of this machine.", type=_choice(DISTRIBUTIONS)),
    _opt("--balance", _TRAIN, "balance", "Per-epoch class caps.", type=_choice(BALANCE_MODES)),
    _opt("--shuffle-buffer", _TRAIN, "shuffle_buffer", "Sample shuffle buffer.", type=int),
    _opt(
        "--batching",
        _TRAIN,
        "batching",
        "fixed: every chunk cropped to the frontend's chunk; bucketed: length buckets, padding masked, deployed at the chunk.",
        type=_choice(BATCHINGS),
    ),
    _opt("--deploy-chunk-s", _TRAIN, "deploy_chunk_s", "Seconds the saved model takes under --batching bucketed (None: the frontend's chunk).", type=float),
    _opt(
        "--distill-weight",
        _TRAIN,
        "distill_weight",
        "Share of the teacher's stored soft labels in the target (0: off; shards built with a teacher).",
        type=float,
    ),
    _opt("--distill-temperature", _TRAIN, "distill_temperature", "Temperature T of the soft labels: sigmoid(logit(p) / T).", type=float),
    _opt(
        "--teacher-model",
        _TRAIN,
        "teacher_model",
        "A trained shardkit .keras (same frontend) whose scores of each augmented batch are the soft labels (needs --distill-weight).",
    ),
    click.option("--augment/--no-augment", default=None, help="Waveform augmentation (gain, coloured noise, background, shift). [default: off]"),
    click.option("--mixup-prob", type=float, default=None, help="Share of rows mixed (0: off). [default: 0]"),
    click.option("--mixup-sources", type=int, default=None, help="Most sources per mixed row (2 or 3). [default: 3]"),
    click.option("--mixup-alpha", type=float, default=None, help="Dirichlet concentration of mixup weights. [default: 1.0]"),
    click.option("--spec-augment/--no-spec-augment", default=None, help="SpecAugment masks (pipeline placement). [default: off]"),
    click.option("--freq-masks", type=int, default=None, help="SpecAugment frequency masks. [default: 2]"),
    click.option("--freq-mask-max", type=int, default=None, help="Widest frequency mask (rows). [default: 16]"),
    click.option("--time-masks", type=int, default=None, help="SpecAugment time masks. [default: 2]"),
    click.option("--time-mask-max", type=int, default=None, help="Widest time mask (frames). [default: 24]"),
]


@click.command("train")
@click.argument("shards")
@click.option("--out", "out", required=True, help="Output folder (local or s3://).")
@add_options(TRAIN_OPTIONS)
@click.option("--resume", is_flag=True, help="Continue the run saved in --out from its last finished epoch (same settings).")
@click.option("--probe-from", "probe_from", default=None, help="Linear probe: freeze this trained .keras up to its embeddings and train a new head.")
@click.option("--tune", is_flag=True, help="Hyperparameter search with Optuna (pip install 'shardkit[tune]').")
@click.option("--trials", type=int, default=20, show_default=True, help="Trials of --tune.")
@storage_option("fsspec option for SHARDS and --out (repeatable).")
@click.option("--quiet", is_flag=True, help="No per-step progress bar.")
def train_command(shards: str, out: str, resume: bool, probe_from: str | None, tune: bool, trials: int, storage_options: dict, quiet: bool, **options) -> None:
    """Train the DS-CNN on SHARDS (a shard folder or manifest, local or s3://) into --out."""
    require_path(shards, "SHARDS", storage_options)  # before TensorFlow's import: a typo costs no 8 s
    for path, flag in ((probe_from, "--probe-from"), (options["teacher_model"], "--teacher-model")):
        if path:
            require_path(path, flag, storage_options)
    with tensorflow_required(NEEDS_TF):
        from shardkit.train.runner import train
    from shardkit.train.report import format_result

    verbose = 0 if quiet else 1
    if resume:
        others = sorted(k for k, v in options.items() if v is not None and k != "name")
        if others or probe_from or tune:
            raise ConfigError(
                f"--resume continues the saved run with its saved settings; pass only --out (and --name), not {others or ['--probe-from/--tune']}"
            )
        click.echo(format_result(train(shards, out, None, resume=True, name=options["name"], storage_options=storage_options, verbose=verbose)))
        return
    if tune and probe_from:
        raise ConfigError("--tune searches fresh models; it does not combine with --probe-from")
    if tune:
        from shardkit.train.settings import config_for_run
        from shardkit.train.tune import tune as run_tune

        config = config_for_run(options, shards, storage_options=storage_options)
        click.echo(dumps(run_tune(shards, out, config, trials=trials, storage_options=storage_options), indent=2))
        return
    from shardkit.train.settings import resolved_config

    config, schedule = resolved_config(options, shards, base_model=probe_from, storage_options=storage_options)
    if schedule is not None:
        click.echo(schedule.describe())
    click.echo(format_result(train(shards, out, config, base_model=probe_from, storage_options=storage_options, verbose=verbose)))
