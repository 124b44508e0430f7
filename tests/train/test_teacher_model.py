"""Self-distillation from a trained shardkit model (--teacher-model): real runs with a good teacher and an inverted one,
the teacher fed exactly the student's augmented batch, the record, and the refusals."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers.training import LEARNS, TINY_FRONTEND, tiny_config

tf = pytest.importorskip("tensorflow")

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.model.dscnn import HEAD_LAYER
from shardkit.pipeline.config import parse_pipeline
from shardkit.pipeline.runner import STAGE_CHECKS
from shardkit.read.config import ReaderConfig
from shardkit.read.dataset import ShardReader
from shardkit.train.artifacts import load_model
from shardkit.train.config import TrainConfig, config_from_options
from shardkit.train.runner import train
from shardkit.train.teacher_model import load_teacher, with_teacher_soft_labels


def teacher_copy(source: Path, folder: Path, stem: str, edit_model=None, edit_config=None) -> Path:
    """``folder/<stem>.keras`` and its model config: ``source``'s, optionally changed by ``edit_model`` / ``edit_config``."""
    folder.mkdir(parents=True, exist_ok=True)
    model = load_model(str(source))
    if edit_model:
        edit_model(model)
    model.save(folder / f"{stem}.keras")
    config = json.loads(source.with_name(source.stem + "_model_config.json").read_text())
    (folder / f"{stem}_model_config.json").write_text(json.dumps(edit_config(config) if edit_config else config))
    return folder / f"{stem}.keras"


def negate_head(model) -> None:
    """sigmoid(-z) = 1 - sigmoid(z): the teacher's every score inverted."""
    head = model.get_layer(HEAD_LAYER)
    head.kernel.assign(-head.kernel)
    head.bias.assign(-head.bias)


@pytest.fixture(scope="module")
def good_teacher(learnable_run) -> Path:
    """The tiny model `learnable_run` trained on the hard labels of the same shards."""
    return Path(learnable_run.out) / "tiny.keras"


@pytest.fixture(scope="module")
def inverted_teacher(good_teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return teacher_copy(good_teacher, tmp_path_factory.mktemp("inverted_teacher"), "inverted", edit_model=negate_head)


# --- real runs ------------------------------------------------------------------------------------


def test_a_good_teacher_at_full_weight_teaches_and_wins_over_the_stored_soft_labels(
    inverted_teacher_shards: Path, good_teacher: Path, learnable_run, tmp_path: Path
) -> None:
    """The shards also store an always-wrong teacher: had its soft labels been used, w = 1 would rank below chance."""
    teacher_auc = learnable_run.history[-1]["val_roc_auc"]
    result = train(str(inverted_teacher_shards), str(tmp_path), tiny_config(distill_weight=1.0, teacher_model=str(good_teacher), **LEARNS))
    auc = result.history[-1]["val_roc_auc"]
    assert teacher_auc > 0.7, f"the teacher learned the shards (val ROC-AUC {teacher_auc:.3f})"
    assert auc > 0.7, f"w=1 from a good teacher model learns (val ROC-AUC {auc:.3f}; the stored always-wrong soft labels give < 0.3)"
    config = json.loads((tmp_path / "tiny_model_config.json").read_text())
    assert config["distill"] == {"teacher": str(good_teacher), "source": "teacher_model", "mapped_classes": ["high", "low"], "weight": 1.0, "temperature": 1.0}
    assert config["train"]["teacher_model"] == str(good_teacher)


def test_an_inverted_teacher_model_at_full_weight_teaches_the_inverse(inverted_teacher_shards: Path, inverted_teacher: Path, tmp_path: Path) -> None:
    """The same teacher with its head negated (scores 1 - p): the student ranks against the hard validation labels.

    On the shards as built, without a teacher block: the soft labels can only come from the teacher model.
    """
    plain = inverted_teacher_shards.parent / "shards"
    assert "teacher" not in json.loads((plain / "manifest.json").read_text())
    result = train(str(plain), str(tmp_path), tiny_config(distill_weight=1.0, teacher_model=str(inverted_teacher), **LEARNS))
    auc = result.history[-1]["val_roc_auc"]
    assert auc < 0.3, f"w=1 learns the inverted teacher's scores (val ROC-AUC {auc:.3f} against the hard labels)"


def test_the_teacher_scores_exactly_the_augmented_batch_the_student_gets(inverted_teacher_shards: Path, good_teacher: Path) -> None:
    """Mixup and SpecAugment run in the reader; the teacher maps over its output, so soft = teacher(x) of the very x trained on."""
    teacher = load_teacher(str(good_teacher), TINY_FRONTEND, ["high", "low"])
    options = {"batch_size": 4, "frontend": TINY_FRONTEND, "seed": 3, "epochs": 1}
    config = tiny_config(spec_augment=config_from_options({"spec_augment": True}).spec_augment, mixup=config_from_options({"mixup_prob": 1.0}).mixup)
    reader = ShardReader(
        str(inverted_teacher_shards), ReaderConfig(split="train", training=True, mixup=config.mixup, spec_augment=config.spec_augment, **options)
    )
    plain = ShardReader(str(inverted_teacher_shards), ReaderConfig(split="train", training=True, **options))
    x, y = next(iter(with_teacher_soft_labels(reader.dataset(), teacher.model, teacher.index, teacher.mask)))
    x_plain = next(iter(plain.dataset()))[0]
    assert not np.allclose(x.numpy(), x_plain.numpy()), "the batch is augmented"
    np.testing.assert_allclose(y["soft"].numpy(), teacher.model(x, training=False).numpy()[:, teacher.index], rtol=1e-5, atol=1e-6)
    assert np.array_equal(y["mask"].numpy(), np.ones((4, 2), np.float32))


def test_a_class_the_teacher_lacks_gets_mask_zero(good_teacher: Path, tmp_path: Path) -> None:
    renamed = teacher_copy(good_teacher, tmp_path, "half", edit_config=lambda c: {**c, "classes": ["high", "toad"]})
    teacher = load_teacher(str(renamed), TINY_FRONTEND, ["high", "low"])
    assert teacher.mapping == {"high": "high", "low": None} and teacher.mask == [1.0, 0.0]
    x = tf.random.stateless_uniform((3, *teacher.model.input_shape[1:]), (1, 2))
    dataset = tf.data.Dataset.from_tensors((x, tf.ones((3, 2))))
    _, y = next(iter(with_teacher_soft_labels(dataset, teacher.model, teacher.index, teacher.mask)))
    assert np.all(y["soft"].numpy()[:, 1] == 0) and np.all(y["mask"].numpy() == [[1.0, 0.0]] * 3)


def test_the_deferred_placement_feeds_the_teacher_waveforms_through_the_frontend(inverted_teacher_shards: Path, good_teacher: Path, tmp_path: Path) -> None:
    config = tiny_config(distill_weight=0.5, teacher_model=str(good_teacher), placement="deferred", epochs=1, max_steps_per_epoch=2, **{"batch_size": 4})
    assert train(str(inverted_teacher_shards), str(tmp_path), config).epochs_done == 1


def test_the_cli_takes_teacher_model(inverted_teacher_shards: Path, good_teacher: Path, tmp_path: Path) -> None:
    tiny = ["--chunk-s", "1.0", "--n-fft", "128", "--n-frames", "32", "--n-mels", "16", "--n-mfcc", "8", "--architecture", "dscnn_lite", "--alpha", "0.25"]
    run = [*tiny, "--embeddings-size", "32", "--batch-size", "4", "--epochs", "1", "--max-steps-per-epoch", "2", "--quiet"]
    result = CliRunner().invoke(
        cli, ["train", str(inverted_teacher_shards), "--out", str(tmp_path / "kd"), "--teacher-model", str(good_teacher), "--distill-weight", "0.5", *run]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "kd" / "model_model_config.json").read_text())["distill"]["source"] == "teacher_model"
    missing = CliRunner().invoke(
        cli, ["train", str(inverted_teacher_shards), "--out", str(tmp_path / "m"), "--teacher-model", str(tmp_path / "no.keras"), "--distill-weight", "1", *run]
    )
    assert missing.exit_code == 2 and "--teacher-model" in missing.output and "no.keras" in missing.output


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "differ"),
    [
        ({"n_mels": 8}, "'n_mels': (16, 8)"),
        ({"compression": "log"}, "'compression': ('none', 'log')"),
    ],
)
def test_a_teacher_on_another_frontend_is_refused_before_any_work(inverted_teacher_shards: Path, good_teacher: Path, tmp_path: Path, change, differ) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as caught:
        train(
            str(inverted_teacher_shards), str(out), tiny_config(frontend=replace(TINY_FRONTEND, **change), distill_weight=1.0, teacher_model=str(good_teacher))
        )
    message = str(caught.value)
    assert f"the teacher model {str(good_teacher)!r} was trained on frontend" in message and "but this run's frontend is" in message
    assert differ in message and "a teacher must see the student's features" in message
    assert not [p for p in out.rglob("*") if p.is_file()], "nothing written"


def test_a_teacher_at_another_sample_rate_is_refused(inverted_teacher_shards: Path, good_teacher: Path, tmp_path: Path) -> None:
    """The run's rate is the shards' (24 kHz); a teacher whose config says 16 kHz hears other features."""
    rate = teacher_copy(good_teacher, tmp_path / "t", "rate", edit_config=lambda c: {**c, "frontend": {**c["frontend"], "sample_rate_hz": 16000}})
    with pytest.raises(ConfigError, match=r"differ in \{'sample_rate_hz': \(16000, 24000\)\}, as \(teacher, run\)"):
        train(str(inverted_teacher_shards), str(tmp_path / "out"), tiny_config(distill_weight=1.0, teacher_model=str(rate)))


def test_a_teacher_sharing_no_class_is_refused(inverted_teacher_shards: Path, good_teacher: Path, tmp_path: Path) -> None:
    other = teacher_copy(good_teacher, tmp_path / "other", "other", edit_config=lambda c: {**c, "classes": ["owl", "toad"]})
    with pytest.raises(ConfigError) as caught:
        train(str(inverted_teacher_shards), str(tmp_path / "out"), tiny_config(distill_weight=1.0, teacher_model=str(other)))
    assert str(caught.value) == (
        f"the teacher model {str(other)!r} has classes ['owl', 'toad'] and the shards have ['high', 'low']: they share none, so it has nothing to teach"
    )


def test_an_untrained_teacher_is_refused(good_teacher: Path, tmp_path: Path) -> None:
    fresh = teacher_copy(good_teacher, tmp_path, "fresh", edit_config=lambda c: {**c, "best": {}})
    with pytest.raises(ConfigError, match="records no trained epoch: a teacher must be a trained model"):
        load_teacher(str(fresh), TINY_FRONTEND, ["high", "low"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"teacher_model": "big.keras"}, "train teacher_model needs distill_weight > 0 (it is ignored otherwise); got distill_weight=0.0"),
        ({"teacher_model": "big.keras", "distill_weight": 0}, "teacher_model needs distill_weight > 0"),
        (
            {"teacher_model": "big.tflite", "distill_weight": 1},
            "train teacher_model must be None or the path of a .keras written by shardkit train; got 'big.tflite'",
        ),
    ],
)
def test_bad_teacher_model_options_are_refused_by_name(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_options(options)
    assert message in str(caught.value)
    with pytest.raises(ConfigError, match="teacher_model"):
        TrainConfig(**options)


def test_the_pipeline_train_table_takes_teacher_model() -> None:
    head = '[pipeline]\nname = "m"\ninput = "in"\nwork = "w"\n'
    STAGE_CHECKS["train"](parse_pipeline(head + '[train]\ndistill_weight = 1.0\nteacher_model = "big.keras"\n'))
    with pytest.raises(ConfigError, match="teacher_model needs distill_weight > 0"):
        STAGE_CHECKS["train"](parse_pipeline(head + '[train]\nteacher_model = "big.keras"\n'))


def test_a_saved_config_round_trips_with_its_teacher_model() -> None:
    config = TrainConfig(distill_weight=0.7, teacher_model="runs/big.keras")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    old = {k: v for k, v in TrainConfig().to_dict().items() if k != "teacher_model"}
    assert TrainConfig.from_dict(old).teacher_model is None
