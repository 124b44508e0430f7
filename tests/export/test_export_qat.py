"""`shardkit qat`: fine-tuning through fake quantization; the saved model is plain Keras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

keras = pytest.importorskip("keras")

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.export.config import CalibrationConfig, ConvertConfig, QATConfig
from shardkit.export.convert import convert
from shardkit.export.qat import qat
from shardkit.export.quantize import ActivationQuantizer, QuantizedWeights
from shardkit.train.artifacts import load_model


@pytest.fixture(scope="module")
def fine_tuned(tiny_model: Path, tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("qat")
    return qat(str(tiny_model), str(tiny_shards), str(out), QATConfig(epochs=2, batch_size=8, calibration=CalibrationConfig(samples=40))), out


def test_qat_model_reloads_without_fake_quant_ops(fine_tuned, tiny_model):
    result, out = fine_tuned
    assert result.model_path == str(out / "tiny_qat.keras")
    model = load_model(result.model_path)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert not kinds & {ActivationQuantizer.__name__, QuantizedWeights.__name__}
    assert not any("quant" in layer.name for layer in model.layers)
    assert "BatchNormalization" in kinds and sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 1  # folded but for input_bn
    original = load_model(str(tiny_model))
    weights_moved = any(not np.allclose(a, b) for a, b in zip(model.get_layer("head").get_weights(), original.get_layer("head").get_weights(), strict=True))
    assert weights_moved == (result.best_epoch > 0)  # the kept epoch's weights (0: the model as trained)
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    assert model.predict(x, verbose=0).shape == (2, original.output_shape[-1])


def test_qat_records_history_and_config(fine_tuned, tiny_shards):
    result, out = fine_tuned
    train_samples = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]["samples"]
    assert [row["epoch"] for row in result.history] == [0, 1, 2]  # 0: the model before QAT, a candidate too
    assert result.history[0]["loss"] is None and all(np.isfinite(row["loss"]) for row in result.history[1:])
    assert all(np.isfinite(row[key]) for row in result.history for key in ("val_loss", "val_output_mae"))
    config = json.loads((out / "tiny_qat_model_config.json").read_text())
    assert config["qat"]["config"]["epochs"] == 2 and config["qat"]["calibration_samples"] == min(40, train_samples)
    assert config["qat"]["config"]["loss"] == "bce" and config["qat"]["monitor"] == "val_roc_auc"
    assert [row["epoch"] for row in config["qat"]["history"]] == [0, 1, 2] and config["qat"]["history"][0]["loss"] is None
    assert set(config["qat"]["after"]) == {"float", "fake_quant"}
    assert list(config["sha256"]) == ["tiny_qat.keras"]
    assert (out / "tiny_qat_labels.txt").exists()


def test_qat_model_converts_and_passes_the_gates(fine_tuned, tiny_shards, tmp_path):
    result, _ = fine_tuned
    converted = convert(result.model_path, str(tiny_shards), str(tmp_path), ConvertConfig(gate_samples=20, calibration=CalibrationConfig(samples=40)))
    assert converted.passed and (tmp_path / "tiny_qat_int8.tflite").exists()


def test_qat_refuses_a_model_trained_from_scratch(tiny_model, tiny_shards, tmp_path):
    from shardkit.audio.frontends import FrontendConfig
    from shardkit.model.config import ModelConfig
    from shardkit.model.dscnn import build_model

    config = json.loads((tiny_model.parent / "tiny_model_config.json").read_text())
    frontend = FrontendConfig(chunk_s=1.0, n_fft=128, n_frames=32, n_mels=16, n_mfcc=8)
    model = build_model(frontend, 4, ModelConfig(architecture="dscnn_lite", alpha=0.25, embeddings_size=32))
    model.save(tmp_path / "fresh.keras")
    model_config = {**config, "format": "shardkit-model/1", "frontend": frontend.to_dict(), "classes": ["a", "b", "c", "d"], "best": {}}
    (tmp_path / "fresh_model_config.json").write_text(json.dumps(model_config))
    with pytest.raises(ConfigError, match="records no trained epoch"):
        qat(str(tmp_path / "fresh.keras"), str(tiny_shards))
    model_config["best"] = {"epoch": 3}
    (tmp_path / "fresh_model_config.json").write_text(json.dumps(model_config))
    result = CliRunner().invoke(cli, ["qat", str(tmp_path / "fresh.keras"), "--shards", str(tiny_shards)])
    assert result.exit_code == 2 and "looks untrained" in result.output and "initial statistics" in result.output
    assert not (tmp_path / "fresh_qat.keras").exists()


def test_qat_cli_bad_values_exit_2(tiny_model, tiny_shards):
    result = CliRunner().invoke(cli, ["qat", str(tiny_model), "--shards", str(tiny_shards), "--learning-rate", "2"])
    assert result.exit_code == 2 and "qat learning_rate must be a number in (0, 1); got 2.0" in result.output


def test_a_qat_step_trains_the_deployable_model_through_the_twin(tiny_model):
    from shardkit.export.qat import _train_step, qat_loss
    from shardkit.export.quantize import calibrate, deployable_model, fake_quant_model

    original = load_model(str(tiny_model))
    deployable = deployable_model(original)
    twin = fake_quant_model(deployable)
    rng = np.random.default_rng(0)
    features = rng.random((8, *deployable.input_shape[1:]), dtype=np.float32) ** 3
    calibrate(twin, features)
    before = [w.copy() for w in deployable.get_layer("head").get_weights()]
    labels = (rng.random((8, deployable.output_shape[-1])) > 0.5).astype(np.float32)
    step = _train_step(twin, deployable_model(original), keras.optimizers.Adam(1e-2), qat_loss(QATConfig(loss="tail_distill", teacher_weight=0.5)))
    losses = [float(step(features, labels)) for _ in range(3)]
    assert all(np.isfinite(losses))
    after = deployable.get_layer("head").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))  # the twin's gradients reach the saved model's variables


# ----- the tail-aware distillation loss --------------------------------------------------------


def _kl_by_definition(teacher: np.ndarray, student: np.ndarray) -> float:
    """Bernoulli KL(teacher || student) element by element with math.log, averaged: the definition, written apart from the code."""
    import math

    terms = [p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q)) for p, q in zip(teacher.ravel().tolist(), student.ravel().tolist(), strict=True)]
    return sum(terms) / len(terms)


def _scores(rng: np.random.Generator, shape=(20, 6)) -> np.ndarray:
    return rng.uniform(0.01, 0.99, shape).astype(np.float32)


def test_tail_distill_of_identical_scores_is_zero():
    from shardkit.export.qat_losses import TAIL_DISTILL_WEIGHTS, tail_distill

    teacher = _scores(np.random.default_rng(0))
    assert abs(float(tail_distill(teacher, teacher.copy(), **TAIL_DISTILL_WEIGHTS))) < 1e-6


def test_bernoulli_kl_matches_its_definition():
    from shardkit.export.qat_losses import bernoulli_kl, tail_distill

    rng = np.random.default_rng(1)
    teacher, student = _scores(rng), _scores(rng)
    expected = _kl_by_definition(teacher.astype(np.float64), student.astype(np.float64))
    assert float(bernoulli_kl(teacher, student)) == pytest.approx(expected, rel=1e-5)
    assert float(tail_distill(teacher, student, kl_weight=1.0, cosine_weight=0.0, tail_cosine_weight=0.0, tail_fraction=0.1)) == pytest.approx(
        expected, rel=1e-5
    )
    half, confident = np.array([[0.5]], np.float32), np.array([[0.9]], np.float32)  # the direction: KL(teacher || student), not its reverse
    assert float(bernoulli_kl(half, confident)) == pytest.approx(0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1), rel=1e-5)
    assert float(bernoulli_kl(confident, half)) == pytest.approx(0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5), rel=1e-5)


def test_tail_distill_matches_a_numpy_computation_of_its_three_terms():
    from shardkit.export.qat_losses import tail_distill

    rng = np.random.default_rng(2)
    teacher, student = _scores(rng, (25, 4)), _scores(rng, (25, 4))
    t, s = teacher.astype(np.float64), student.astype(np.float64)
    cosine = np.sum(t * s, axis=1) / (np.linalg.norm(t, axis=1) * np.linalg.norm(s, axis=1))
    worst = np.sort(cosine)[:3]  # ceil(0.1 * 25) = 3
    expected = 0.5 * _kl_by_definition(t, s) + 0.2 * (1 - cosine.mean()) + 0.7 * (1 - worst.mean())
    got = tail_distill(teacher, student, kl_weight=0.5, cosine_weight=0.2, tail_cosine_weight=0.7, tail_fraction=0.1)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_the_tail_term_penalises_a_student_wrong_on_few_samples_more_than_the_mean_does():
    from shardkit.export.qat_losses import cosine_per_sample, tail_distill, worst_mean

    rng = np.random.default_rng(3)
    teacher = _scores(rng)
    student = teacher.copy()
    student[[4, 11]] = student[[4, 11]][:, ::-1]  # two of 20 samples: the same scores, the class ranking reversed
    cosine = cosine_per_sample(teacher, student)
    mean_term, tail_term = 1.0 - float(keras.ops.mean(cosine)), 1.0 - float(worst_mean(cosine, 0.1))
    assert mean_term > 0 and tail_term == pytest.approx(10 * mean_term, rel=1e-4)  # the worst 10 % are exactly the two bad samples
    # a student with the same mean cosine, every sample a little off: the mean term cannot tell the two apart, the tail term can
    spread = np.stack([_turned(row, 1.0 - mean_term) for row in teacher])
    spread_cosine = cosine_per_sample(teacher, spread)
    assert float(keras.ops.mean(spread_cosine)) == pytest.approx(1.0 - mean_term, abs=1e-6)
    weights = dict(kl_weight=0.0, cosine_weight=0.10, tail_cosine_weight=0.75, tail_fraction=0.1)
    few, even = float(tail_distill(teacher, student, **weights)), float(tail_distill(teacher, spread, **weights))
    assert few == pytest.approx(0.10 * mean_term + 0.75 * tail_term, rel=1e-4)
    assert even == pytest.approx(0.85 * mean_term, rel=1e-3) and few > 5 * even


def _turned(row: np.ndarray, cosine: float) -> np.ndarray:
    """``row`` moved towards its reverse until its cosine with ``row`` is ``cosine`` (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(60):
        mix = (low + high) / 2
        moved = (1 - mix) * row + mix * row[::-1]
        if np.dot(row, moved) / (np.linalg.norm(row) * np.linalg.norm(moved)) > cosine:
            low = mix
        else:
            high = mix
    return ((1 - low) * row + low * row[::-1]).astype(np.float32)


def test_worst_mean_takes_at_least_one_sample_and_works_traced():
    import tensorflow as tf

    from shardkit.export.qat_losses import TAIL_DISTILL_WEIGHTS, tail_distill, worst_mean

    assert float(worst_mean(np.array([0.9, 0.2, 0.7, 1.0, 0.8], np.float32), 0.1)) == pytest.approx(0.2)
    assert float(worst_mean(np.array([0.9, 0.2, 0.7, 1.0, 0.8], np.float32), 0.5)) == pytest.approx((0.2 + 0.7 + 0.8) / 3)
    rng = np.random.default_rng(4)
    teacher, student = _scores(rng, (13, 5)), _scores(rng, (13, 5))
    spec = tf.TensorSpec([None, 5], tf.float32)
    traced = tf.function(lambda t, s: tail_distill(t, s, **TAIL_DISTILL_WEIGHTS), input_signature=[spec, spec])
    assert float(traced(teacher, student)) == pytest.approx(float(tail_distill(teacher, student, **TAIL_DISTILL_WEIGHTS)), rel=1e-6)


def test_bce_with_labels_mixed_in_is_the_loss_qat_had_before():
    from shardkit.export.qat import qat_loss

    rng = np.random.default_rng(5)
    teacher, student = _scores(rng), _scores(rng)
    labels = (rng.random(teacher.shape) > 0.5).astype(np.float32)
    old = keras.losses.BinaryCrossentropy()(0.3 * teacher + 0.7 * labels, student)
    assert float(qat_loss(QATConfig(teacher_weight=0.3))(teacher, student, labels)) == pytest.approx(float(old), rel=1e-5)
    tail = QATConfig(loss="tail_distill", teacher_weight=0.9)
    mixed = float(qat_loss(tail)(teacher, student, labels))
    pure = float(qat_loss(QATConfig(loss="tail_distill"))(teacher, student, labels))
    assert mixed == pytest.approx(0.9 * pure + 0.1 * float(keras.losses.BinaryCrossentropy()(labels, student)), rel=1e-5)


# ----- the options ---------------------------------------------------------------------------


def test_qat_loss_options_round_trip_through_json_toml_and_the_cli(monkeypatch, tmp_path):
    from shardkit.pipeline.config import parse_pipeline
    from shardkit.pipeline.runner import STAGE_CHECKS

    config = QATConfig(
        loss="tail_distill", kl_weight=0.5, cosine_weight=0.2, tail_cosine_weight=1.5, tail_fraction=0.25, teacher_weight=0.9, monitor="val_cmap"
    )
    assert QATConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    toml = '[pipeline]\nname = "x"\ninput = "in"\nwork = "w"\n[qat]\nloss = "tail_distill"\nkl_weight = 0.5\ncosine_weight = 0.2\n'
    toml += 'tail_cosine_weight = 1.5\ntail_fraction = 0.25\nteacher_weight = 0.9\nmonitor = "val_cmap"\n'
    assert STAGE_CHECKS["qat"](parse_pipeline(toml)) == config
    seen = {}
    monkeypatch.setattr("shardkit.export.qat.qat", lambda checkpoint, shards, out, config, storage_options: seen.setdefault("config", config))
    monkeypatch.setattr("shardkit.export.qat.format_qat_result", lambda result: "ok")
    (tmp_path / "m.keras").write_bytes(b"")
    options = ["--loss", "tail_distill", "--kl-weight", "0.5", "--cosine-weight", "0.2", "--tail-cosine-weight", "1.5", "--tail-fraction", "0.25"]
    result = CliRunner().invoke(
        cli, ["qat", str(tmp_path / "m.keras"), "--shards", str(tmp_path), *options, "--teacher-weight", "0.9", "--monitor", "val_cmap"]
    )
    assert result.exit_code == 0, result.output
    assert seen["config"] == config


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"loss": "kl"}, "qat loss must be one of ['bce', 'tail_distill']; got 'kl'"),
        ({"loss": "tail_distill", "kl_weight": -1.0}, "qat kl_weight must be a number >= 0; got -1.0"),
        ({"loss": "tail_distill", "cosine_weight": float("nan")}, "qat cosine_weight must be a number >= 0; got nan"),
        ({"loss": "tail_distill", "tail_cosine_weight": "big"}, "qat tail_cosine_weight must be a number >= 0; got 'big'"),
        ({"loss": "tail_distill", "tail_fraction": 0.0}, "qat tail_fraction must be a number in (0, 1]; got 0.0"),
        ({"loss": "tail_distill", "tail_fraction": 1.5}, "qat tail_fraction must be a number in (0, 1]; got 1.5"),
        ({"loss": "tail_distill", "kl_weight": 0, "cosine_weight": 0, "tail_cosine_weight": 0}, "qat tail_distill weights must be not all 0"),
        ({"kl_weight": 0.5}, "qat kl_weight needs loss='tail_distill' (it is ignored otherwise); got loss='bce'"),
        ({"monitor": "roc_auc"}, "qat monitor must be one of ['val_roc_auc', 'val_cmap', 'val_loss']; got 'roc_auc'"),
    ],
)
def test_bad_qat_loss_settings_are_refused_by_name(settings, message):
    with pytest.raises(ConfigError) as error:
        QATConfig(**settings)
    assert message in str(error.value)


def test_qat_cli_refuses_an_unknown_loss(tiny_model, tiny_shards):
    result = CliRunner().invoke(cli, ["qat", str(tiny_model), "--shards", str(tiny_shards), "--loss", "mse"])
    assert result.exit_code == 2 and "qat loss must be one of ['bce', 'tail_distill']; got 'mse'" in result.output


# ----- the epoch kept ------------------------------------------------------------------------


class _LastEpochBlowsUp(keras.optimizers.schedules.LearningRateSchedule):
    """A gentle rate for the first ``steps`` steps, then a rate that wrecks the model."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, step):
        return keras.ops.where(step < self.steps, 1e-3, 50.0)


def test_qat_keeps_the_best_fake_quant_epoch_when_a_later_one_is_worse(tiny_model, tiny_shards, tmp_path, monkeypatch):
    import shardkit.export.qat as qat_module
    import shardkit.export.quantize as quantize_module

    steps, snapshots, real_calibrate = 3, [], quantize_module.calibrate

    def recording_calibrate(twin, features):  # QAT calibrates before training, after every epoch, and after restoring the best
        snapshots.append({v.path: v.numpy().copy() for v in twin.trainable_variables})
        return real_calibrate(twin, features)

    # the tiny model's val ROC-AUC is noise (a handful of samples; the model is retrained every session), so the
    # ROC-AUC the selection sees is planted: epoch 1 best, epoch 2 worse; the wrecked epoch-2 weights are real
    planted, real_val_row = iter([0.60, 0.80, 0.70]), qat_module._val_row
    monkeypatch.setattr(qat_module, "_val_row", lambda *args: {**real_val_row(*args), "val_roc_auc": next(planted)})
    monkeypatch.setattr(qat_module, "_optimizer", lambda config: keras.optimizers.Adam(_LastEpochBlowsUp(steps)))
    monkeypatch.setattr(quantize_module, "calibrate", recording_calibrate)
    config = QATConfig(epochs=2, batch_size=8, max_steps_per_epoch=steps, loss="tail_distill", calibration=CalibrationConfig(samples=40))
    result = qat(str(tiny_model), str(tiny_shards), str(tmp_path), config)
    assert [row["epoch"] for row in result.history] == [0, 1, 2] and [row["steps"] for row in result.history] == [0, steps, steps]
    epoch_1, epoch_2 = snapshots[1], snapshots[2]
    first, last = result.history[1:]
    assert [row["val_roc_auc"] for row in result.history] == [0.60, 0.80, 0.70]
    assert last["val_output_mae"] > 10 * first["val_output_mae"] and last["val_loss"] > 10 * first["val_loss"]  # the huge rate did wreck epoch 2
    assert result.best_epoch == 1
    kept = {v.path: v.numpy() for v in load_model(result.model_path).trainable_variables}
    assert set(kept) == set(epoch_1)
    for path, value in kept.items():
        np.testing.assert_allclose(value, epoch_1[path], rtol=0, atol=1e-7, err_msg=path)  # the weights of epoch 1 ...
    assert max(float(np.max(np.abs(kept[path] - epoch_2[path]))) for path in kept) > 0.1  # ... not those of the wrecked epoch 2
    report = json.loads((tmp_path / "tiny_qat_model_config.json").read_text())["qat"]
    assert report["monitor"] == "val_roc_auc" and report["best_epoch"] == 1 and report["best"] == pytest.approx(first["val_roc_auc"])
    assert [row["val_loss"] for row in report["history"]] == pytest.approx([row["val_loss"] for row in result.history])
