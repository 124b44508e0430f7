"""Distillation from stored soft labels: the target against numpy, the settings and their refusals, and real
runs (CLI, probe) on shards rewritten with a teacher block, including one whose teacher is always wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers.teacher import add_teacher, agreeing
from helpers.training import LEARNS, tiny_config

tf = pytest.importorskip("tensorflow")

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.pipeline.config import parse_pipeline
from shardkit.pipeline.runner import STAGE_CHECKS
from shardkit.train.config import TrainConfig, config_from_options
from shardkit.train.distill import distill_targets, require_teacher
from shardkit.train.optim import make_loss
from shardkit.train.runner import train


def reference_target(hard: np.ndarray, soft: np.ndarray, mask: np.ndarray, w: float, t: float) -> np.ndarray:
    """The contract's target in float64, with sigmoid(logit(p) / T) written as p^(1/T) / (p^(1/T) + (1 - p)^(1/T))."""
    p = soft.astype(np.float64)
    tempered = p ** (1 / t) / (p ** (1 / t) + (1 - p) ** (1 / t))
    return np.where(mask > 0, (1 - w) * hard + w * tempered, hard)


def batch(seed: int = 0, n: int = 64, classes: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hard = (rng.random((n, classes)) < 0.3).astype(np.float32)
    mask = (rng.random((n, classes)) < 0.6).astype(np.float32)
    soft = (rng.uniform(0.001, 0.999, (n, classes)) * mask).astype(np.float32)
    return hard, soft, mask


@pytest.fixture(scope="module")
def teacher_shards(tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return add_teacher(tiny_shards, tmp_path_factory.mktemp("distill") / "agreeing", agreeing(unmapped=("gamma",)), embedding_size=8)


# --- the target -----------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
@pytest.mark.parametrize("weight", [0.3, 1.0])
def test_the_target_matches_the_contract_computed_in_numpy(weight: float, temperature: float) -> None:
    hard, soft, mask = batch()
    got = distill_targets(hard, soft, mask, weight, temperature).numpy()
    np.testing.assert_allclose(got, reference_target(hard, soft, mask, weight, temperature), rtol=1e-5, atol=1e-6)
    ignoring_mask = (1 - weight) * hard + weight * reference_target(np.zeros_like(hard), soft, np.ones_like(mask), 1.0, temperature)
    assert not np.allclose(got, ignoring_mask, atol=1e-3), "the batch has masked-out classes where the mask matters"


def test_temperature_flattens_towards_one_half_and_one_keeps_the_probabilities() -> None:
    soft = np.float32([[0.01, 0.2, 0.5, 0.9, 0.999]])
    hard, mask = np.zeros_like(soft), np.ones_like(soft)
    np.testing.assert_allclose(distill_targets(hard, soft, mask, 1.0, 1.0).numpy(), soft, atol=1e-6)
    flat = distill_targets(hard, soft, mask, 1.0, 3.0).numpy()
    assert np.all(np.abs(flat - 0.5) <= np.abs(soft - 0.5) + 1e-7) and flat[0, 2] == pytest.approx(0.5)


def test_probabilities_of_exactly_0_and_1_stay_finite() -> None:
    soft = np.float32([[0.0, 1.0]])
    got = distill_targets(np.float32([[1.0, 0.0]]), soft, np.ones_like(soft), 1.0, 2.0).numpy()
    assert np.all(np.isfinite(got)) and got[0, 0] < 1e-3 and got[0, 1] > 1 - 1e-3


@pytest.mark.parametrize("settings", [{"loss": "bce"}, {"loss": "bce", "label_smoothing": 0.1}, {"loss": "focal", "focal_gamma": 2.0}])
def test_weight_zero_is_exactly_the_hard_label_loss(settings: dict) -> None:
    hard, soft, mask = batch(1)
    assert np.array_equal(distill_targets(hard, soft, mask, 0.0, 2.0).numpy(), hard)
    loss = make_loss(TrainConfig(**settings))
    scores = np.random.default_rng(2).uniform(0.05, 0.95, hard.shape).astype(np.float32)
    assert float(loss(distill_targets(hard, soft, mask, 0.0, 1.0), scores)) == float(loss(hard, scores))
    mixed = float(loss(distill_targets(hard, soft, mask, 0.5, 1.0), scores))
    assert mixed == pytest.approx(float(loss(reference_target(hard, soft, mask, 0.5, 1.0).astype(np.float32), scores)), rel=1e-5)


# --- the settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"distill_temperature": 2.0}, "train distill_temperature needs distill_weight > 0 (it is ignored otherwise); got distill_weight=0.0"),
        ({"distill_temperature": 1.0, "distill_weight": 0}, "distill_temperature needs distill_weight > 0"),
        ({"distill_weight": 1.5}, "train distill_weight must be a number in [0, 1]; got 1.5"),
        ({"distill_weight": -0.1}, "train distill_weight must be a number in [0, 1]; got -0.1"),
        ({"distill_weight": 0.5, "distill_temperature": 0}, "train distill_temperature must be a positive number; got 0"),
        ({"distill_weight": "half"}, "train distill_weight must be a number in [0, 1]; got 'half'"),
    ],
)
def test_bad_distill_options_are_refused_by_name(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_options(options)
    assert message in str(caught.value)


def test_a_temperature_without_weight_is_refused_in_a_config_too() -> None:
    with pytest.raises(ConfigError, match="distill_temperature needs distill_weight > 0"):
        TrainConfig(distill_temperature=2.0)
    config = TrainConfig(distill_weight=0.5, distill_temperature=2.0)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    old = {k: v for k, v in TrainConfig().to_dict().items() if not k.startswith("distill")}
    assert TrainConfig.from_dict(old).distill_weight == 0.0, "a config saved before distillation existed loads with it off"


def test_the_pipeline_train_table_takes_the_distill_keys() -> None:
    head = '[pipeline]\nname = "m"\ninput = "in"\nwork = "w"\n'
    STAGE_CHECKS["train"](parse_pipeline(head + "[train]\ndistill_weight = 0.5\ndistill_temperature = 2.0\n"))
    with pytest.raises(ConfigError, match="distill_temperature needs distill_weight > 0"):
        STAGE_CHECKS["train"](parse_pipeline(head + "[train]\ndistill_temperature = 2.0\n"))


def test_shards_without_teacher_data_are_refused_before_any_work(tiny_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as caught:
        train(str(tiny_shards), str(out), tiny_config(distill_weight=0.5))
    assert "distill_weight > 0 needs the teacher's soft labels" in str(caught.value)
    assert "(format 'shardkit/2') were built without a teacher" in str(caught.value) and "shardkit build --teacher" in str(caught.value)
    assert not [p for p in out.rglob("*") if p.is_file()], "nothing written (the writability probe leaves only an empty folder)"


def test_a_shardkit_1_build_trains_without_distillation_and_is_refused_with_it(tiny_shards: Path, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_shards, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": "shardkit/1"}))
    with pytest.raises(ConfigError, match=r"\(format 'shardkit/1'\) were built without a teacher"):
        train(str(old), str(tmp_path / "distilled"), tiny_config(distill_weight=0.5))
    result = train(str(old), str(tmp_path / "plain"), tiny_config(epochs=1, max_steps_per_epoch=2))
    assert result.epochs_done == 1


def test_a_teacher_that_maps_no_class_is_refused() -> None:
    manifest = {"format": "shardkit/2", "teacher": {"name": "t", "mapping": {"a": None, "b": None}}}
    with pytest.raises(ConfigError, match=r"the teacher of 's' maps none of \['a', 'b'\]"):
        require_teacher(manifest, "s")
    assert require_teacher({**manifest, "teacher": {"name": "t", "mapping": {"a": "A", "b": None}}}, "s")["name"] == "t"


# --- real runs ------------------------------------------------------------------------------------

#: the tiny run of helpers/training.py, as `shardkit train` options
TINY = [
    "--chunk-s", "1.0", "--n-fft", "128", "--n-frames", "32", "--n-mels", "16", "--n-mfcc", "8",
    "--architecture", "dscnn_lite", "--alpha", "0.25", "--embeddings-size", "32",
    "--batch-size", "8", "--shuffle-buffer", "50", "--learning-rate", "3e-3", "--quiet",
]  # fmt: skip


def test_a_cli_run_with_distillation_completes_and_records_its_settings(teacher_shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["train", str(teacher_shards), "--out", str(out), "--name", "kd", "--epochs", "2", "--distill-weight", "0.5", *TINY])
    assert result.exit_code == 0, result.output
    assert "trained 'kd': 2/2 epochs" in result.output
    config = json.loads((out / "kd_model_config.json").read_text())
    assert config["train"]["distill_weight"] == 0.5 and config["train"]["distill_temperature"] == 1.0
    assert config["distill"] == {"teacher": "stand-in-teacher", "source": "shards", "mapped_classes": ["alpha", "beta"], "weight": 0.5, "temperature": 1.0}
    state = json.loads((out / "kd_train_state.json").read_text())
    assert state["config"]["distill_weight"] == 0.5 and len(state["history"]) == 2
    refused = CliRunner().invoke(cli, ["train", str(teacher_shards), "--out", str(tmp_path / "t"), "--distill-temperature", "2", *TINY])
    assert refused.exit_code == 2 and "distill_temperature needs distill_weight > 0" in refused.output


def test_an_always_wrong_teacher_at_full_weight_teaches_the_inverse(inverted_teacher_shards: Path, learnable_run, tmp_path: Path) -> None:
    """p = 1 - hard for every class: with w = 1 the model ranks against the (hard) validation labels; with w = 0 it ranks with them."""
    hard = learnable_run.history[-1]["val_roc_auc"]
    distilled = train(str(inverted_teacher_shards), str(tmp_path), tiny_config(distill_weight=1.0, **LEARNS)).history[-1]["val_roc_auc"]
    assert hard > 0.7, f"the tiny run learns the hard labels (val ROC-AUC {hard:.3f})"
    assert distilled < 0.3, f"w=1 learns the teacher's inverted labels (val ROC-AUC {distilled:.3f} against the hard ones)"


def test_the_linear_probe_distils_too(inverted_teacher_shards: Path, learnable_run, tmp_path: Path) -> None:
    base = Path(learnable_run.out) / "tiny.keras"
    probe = {"name": "probe", "batch_size": 4, "epochs": 4, "learning_rate": 1e-2, "shuffle_buffer": 50, "distill_weight": 1.0}
    result = train(str(inverted_teacher_shards), str(tmp_path), probe, base_model=str(base))
    config = json.loads((tmp_path / "probe_model_config.json").read_text())
    assert config["probe_from"] == str(base) and config["distill"]["teacher"] == "always-wrong"
    auc = result.history[-1]["val_roc_auc"]
    assert auc < 0.4, f"the probe's new head learns the inverted soft labels on the base's embeddings (val ROC-AUC {auc:.3f})"
