"""`TrainConfig`: checks that name the setting and the value, flat options, dict and JSON round trips."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("tensorflow")

from shardkit.audio.frontends import FrontendConfig
from shardkit.augment import MixupConfig, SpecAugmentConfig, WaveAugmentConfig
from shardkit.errors import ConfigError
from shardkit.model.config import ModelConfig
from shardkit.train.config import TrainConfig, config_from_options


def full_config() -> TrainConfig:
    """Every nested part set, and every part off its defaults."""
    return TrainConfig(
        name="full",
        frontend=FrontendConfig(name="mel", sample_rate_hz=16000, chunk_s=2.0, n_fft=256, n_frames=64, n_mels=32, fmin_hz=100.0, n_mfcc=12),
        model=ModelConfig(architecture="dscnn_lite", alpha=0.75, depth_multiplier=2, se=True, inverted_residual=True, pooling="attention", mag_scale="pcen"),
        batch_size=16,
        epochs=7,
        max_steps_per_epoch=50,
        learning_rate=5e-4,
        warmup_epochs=0.5,
        optimizer="adamw",
        clip_norm=1.0,
        loss="focal",
        label_smoothing=0.1,
        monitor="val_cmap",
        patience=3,
        seed=7,
        balance="cap",
        augment=WaveAugmentConfig(gain_db=(-3.0, 3.0), noise_colours=("pink", "brown"), sample_rate_hz=16000),
        mixup=MixupConfig(prob=0.3, max_sources=2, alpha=0.4),
        spec_augment=SpecAugmentConfig(freq_masks=1, freq_mask_max=4, time_masks=3, time_mask_max=8, mask_value=0.5),
        val_split="test",
    )


# ----- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", 0),
        ("learning_rate", -1),
        ("learning_rate", float("nan")),
        ("optimizer", "rmsprop"),
        ("loss", "mse"),
        ("monitor", "accuracy"),
        ("patience", 0),
        ("label_smoothing", 1.0),
        ("placement", "gpu"),
        ("distribute", "multiworker"),
        ("clip_norm", 0),
        ("val_split", "train"),
        ("name", "a/b"),
        ("momentum", 1.0),
        ("final_lr_ratio", 1.5),
    ],
)
def test_bad_values_are_refused_naming_field_and_value(field: str, value):
    with pytest.raises(ConfigError, match=rf"^train {field} must be .*; got {re.escape(repr(value))}$"):
        TrainConfig(**{field: value})


def test_val_split_message_names_the_train_split():
    with pytest.raises(ConfigError, match=r"other than train_split='fit'; got 'fit'"):
        TrainConfig(train_split="fit", val_split="fit")


@pytest.mark.parametrize(
    ("settings", "found"),
    [({"placement": "deferred"}, "placement='deferred'"), ({"frontend": FrontendConfig(name="raw")}, "frontend='raw'")],
    ids=["deferred", "raw"],
)
def test_spec_augment_needs_pipeline_placement_and_a_spectrogram(settings: dict, found: str):
    with pytest.raises(ConfigError, match=r"spec_augment needs placement='pipeline' and a spectrogram frontend") as info:
        TrainConfig(spec_augment=SpecAugmentConfig(), **settings)
    assert found in str(info.value)
    TrainConfig(**settings)  # fine without SpecAugment


def test_monitor_mode():
    assert TrainConfig().monitor_mode == "max"
    assert TrainConfig(monitor="val_loss").monitor_mode == "min"


def test_fractional_epochs_are_refused():
    with pytest.raises(ConfigError, match=r"epochs .* got 1\.5"):
        TrainConfig(epochs=1.5)


# ----- flat options -------------------------------------------------------------------------


def test_flat_options_map_into_nested_configs():
    config = config_from_options(
        {
            "name": "flat",
            "frontend": "mel",
            "sample_rate_hz": 16000,
            "n_mels": 32,
            "alpha": 0.5,
            "se": True,
            "architecture": "dscnn_lite",
            "mixup_prob": 0.3,
            "spec_augment": True,
            "freq_masks": 1,
            "augment": True,
            "epochs": 4,
            "optimizer": "sgd",
            "batch_size": None,
            "learning_rate": None,
        }
    )
    assert config.name == "flat" and config.epochs == 4 and config.optimizer == "sgd"
    assert config.frontend == FrontendConfig(name="mel", sample_rate_hz=16000, n_mels=32)
    assert config.model == ModelConfig(architecture="dscnn_lite", alpha=0.5, se=True)
    assert config.mixup == MixupConfig(prob=0.3)
    assert config.spec_augment == SpecAugmentConfig(freq_masks=1)
    assert config.augment == WaveAugmentConfig(sample_rate_hz=16000)
    assert config.augment.sample_rate_hz == config.frontend.sample_rate_hz
    # None values take the defaults
    assert config.batch_size == TrainConfig().batch_size and config.learning_rate == TrainConfig().learning_rate


def test_none_everywhere_is_the_default_config():
    names = ("frontend", "n_mels", "alpha", "se", "mixup_prob", "spec_augment", "augment", "epochs", "batch_size", "mixup_sources", "freq_masks")
    assert config_from_options(dict.fromkeys(names)) == TrainConfig()
    assert config_from_options({}) == TrainConfig()


def test_mixup_options_and_zero_prob():
    assert config_from_options({"mixup_prob": 0}).mixup is None
    assert config_from_options({"mixup_prob": 0.0, "mixup_sources": 2}).mixup is None
    assert config_from_options({"mixup_prob": 1.0, "mixup_sources": 2, "mixup_alpha": 0.5}).mixup == MixupConfig(prob=1.0, max_sources=2, alpha=0.5)
    assert config_from_options({"spec_augment": False, "augment": False}).spec_augment is None


def test_unknown_option_is_named():
    with pytest.raises(ConfigError, match=r"unknown train options \['n_melz'\]"):
        config_from_options({"n_melz": 32, "alpha": 0.5})


def test_bad_flat_values_are_named_by_their_config():
    with pytest.raises(ConfigError, match=r"model alpha .* got 0"):
        config_from_options({"alpha": 0})
    with pytest.raises(ConfigError, match=r"frontend name .* got 'stft'"):
        config_from_options({"frontend": "stft"})
    with pytest.raises(ConfigError, match=r"mixup prob"):
        config_from_options({"mixup_prob": 2.0})
    with pytest.raises(ConfigError, match=r"spec_augment needs placement='pipeline'"):
        config_from_options({"spec_augment": True, "placement": "deferred"})


# ----- round trips --------------------------------------------------------------------------


def test_dict_round_trip_with_every_part_set():
    config = full_config()
    data = config.to_dict()
    assert data["model"]["alpha"] == 0.75 and data["mixup"]["prob"] == 0.3 and data["augment"]["noise_colours"] == ("pink", "brown")
    assert TrainConfig.from_dict(data) == config
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_json_round_trip_with_every_part_set():
    config = full_config()
    data = json.loads(json.dumps(config.to_dict()))
    assert data["augment"]["gain_db"] == [-3.0, 3.0]  # JSON turned tuples into lists
    restored = TrainConfig.from_dict(data)
    assert restored == config
    assert isinstance(restored.augment.gain_db, tuple) and isinstance(restored.frontend, FrontendConfig)


def test_unknown_keys_are_refused():
    data = {**TrainConfig().to_dict(), "learning_rat": 0.1, "epoch": 3}
    with pytest.raises(ConfigError, match=r"unknown settings \['epoch', 'learning_rat'\]"):
        TrainConfig.from_dict(data)


@pytest.mark.parametrize("section", ["frontend", "model", "mixup"])
def test_unknown_nested_keys_are_refused(section: str):
    data = full_config().to_dict()
    data[section]["bogus"] = 1
    with pytest.raises(ConfigError, match="bogus"):
        TrainConfig.from_dict(data)


def test_bad_values_in_a_dict_are_refused():
    data = TrainConfig().to_dict()
    data["model"]["pooling"] = "median"
    with pytest.raises(ConfigError, match=r"model pooling .* got 'median'"):
        TrainConfig.from_dict(data)


def test_hybrid_mel_bands_must_be_a_multiple_of_8() -> None:
    from shardkit.audio.frontends import FrontendConfig

    with pytest.raises(ConfigError, match="n_mels must be a multiple of 8 with the hybrid frontend.*got 20"):
        TrainConfig(frontend=FrontendConfig(n_mels=20))
    assert TrainConfig(frontend=FrontendConfig(name="mel", n_mels=20)).frontend.n_mels == 20


def test_auc_monitor_needs_a_scorable_val_split() -> None:
    from types import SimpleNamespace

    from shardkit.train.runner import _check_val_split

    only_positives = SimpleNamespace(classes=["a"], manifest={"splits": {"val": {"samples": 4, "classes": {"a": 4}}}})
    with pytest.raises(ConfigError, match="needs a class with both positive and negative samples in the 'val' split"):
        _check_val_split(only_positives, TrainConfig())
    _check_val_split(only_positives, TrainConfig(monitor="val_loss"))  # the loss is defined
    mixed = SimpleNamespace(classes=["a"], manifest={"splits": {"val": {"samples": 4, "classes": {"a": 3}}}})
    _check_val_split(mixed, TrainConfig())
