"""`shardkit qat --distill-weight`: the stored teacher's soft labels mixed into QAT's label target, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

keras = pytest.importorskip("keras")

from shardkit.cli import cli
from shardkit.errors import ConfigError
from shardkit.export.config import CalibrationConfig, QATConfig
from shardkit.export.qat import qat
from shardkit.pipeline.config import parse_pipeline
from shardkit.pipeline.runner import STAGE_CHECKS

#: labels only (no float-model term), a rate and step count that move the ranking in three short epochs
LABELS_ONLY = {"epochs": 3, "batch_size": 4, "teacher_weight": 0.0, "learning_rate": 3e-3, "calibration": CalibrationConfig(samples=40)}


def val_aucs(result) -> list[float]:
    return [row["val_roc_auc"] for row in result.history]


def test_qat_on_an_always_wrong_teachers_soft_labels_unlearns_the_ranking(inverted_teacher_shards: Path, learnable_run, tmp_path: Path) -> None:
    """The fake-quant twin, fine-tuned on p = 1 - hard at w = 1, ranks against the hard labels; on the hard labels it does not."""
    model = str(Path(learnable_run.out) / "tiny.keras")
    hard = qat(model, str(inverted_teacher_shards), str(tmp_path / "hard"), QATConfig(**LABELS_ONLY))
    wrong = qat(model, str(inverted_teacher_shards), str(tmp_path / "wrong"), QATConfig(distill_weight=1.0, **LABELS_ONLY))
    before = val_aucs(hard)[0]
    assert val_aucs(wrong)[0] == before > 0.7
    assert min(val_aucs(hard)[1:]) > 0.6, f"hard labels keep the ranking: {val_aucs(hard)}"
    assert val_aucs(wrong)[-1] < 0.3, f"the inverted soft labels reverse it: {val_aucs(wrong)}"
    assert wrong.best_epoch == 0, "the epoch kept is still chosen against the hard validation labels"
    saved = json.loads((tmp_path / "wrong" / "tiny_qat_model_config.json").read_text())
    assert saved["qat"]["config"]["distill_weight"] == 1.0 and saved["qat"]["config"]["distill_temperature"] == 1.0


def test_qat_distillation_needs_shards_with_a_teacher(tiny_model: Path, tiny_shards: Path, tmp_path: Path) -> None:
    config = QATConfig(distill_weight=0.5, teacher_weight=0.5, epochs=1, batch_size=8, calibration=CalibrationConfig(samples=40))
    with pytest.raises(ConfigError, match=r"qat distill_weight > 0 needs the teacher's soft labels, but the shards .* were built without a teacher"):
        qat(str(tiny_model), str(tiny_shards), str(tmp_path), config)
    assert not list(tmp_path.glob("*.keras"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"distill_weight": 0.5},
            "qat distill_weight needs teacher_weight < 1 (the labels' share of the loss) (it is ignored otherwise); got teacher_weight=1.0",
        ),
        (
            {"teacher_weight": 0.5, "distill_temperature": 2.0},
            "qat distill_temperature needs distill_weight > 0 (it is ignored otherwise); got distill_weight=0.0",
        ),
        ({"teacher_weight": 0.5, "distill_weight": 1.5}, "qat distill_weight must be a number in [0, 1]; got 1.5"),
        ({"teacher_weight": 0.5, "distill_weight": 0.5, "distill_temperature": -1.0}, "qat distill_temperature must be a positive number; got -1.0"),
    ],
)
def test_bad_qat_distill_settings_are_refused_by_name(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        QATConfig(**settings)
    assert message in str(caught.value)


def test_qat_distill_options_round_trip_through_json_toml_and_the_cli(monkeypatch, tmp_path: Path) -> None:
    config = QATConfig(teacher_weight=0.5, distill_weight=0.3, distill_temperature=2.0)
    assert QATConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    toml = '[pipeline]\nname = "x"\ninput = "in"\nwork = "w"\n[qat]\nteacher_weight = 0.5\ndistill_weight = 0.3\ndistill_temperature = 2.0\n'
    assert STAGE_CHECKS["qat"](parse_pipeline(toml)) == config
    assert QATConfig() == QATConfig(distill_weight=0.0, distill_temperature=1.0), "off by default"
    seen = {}
    monkeypatch.setattr("shardkit.export.qat.qat", lambda checkpoint, shards, out, config, storage_options: seen.setdefault("config", config))
    monkeypatch.setattr("shardkit.export.qat.format_qat_result", lambda result: "ok")
    (tmp_path / "m.keras").write_bytes(b"")
    options = ["--teacher-weight", "0.5", "--distill-weight", "0.3", "--distill-temperature", "2"]
    result = CliRunner().invoke(cli, ["qat", str(tmp_path / "m.keras"), "--shards", str(tmp_path), *options])
    assert result.exit_code == 0, result.output
    assert seen["config"] == config
    refused = CliRunner().invoke(cli, ["qat", str(tmp_path / "m.keras"), "--shards", str(tmp_path), "--distill-weight", "0.3"])
    assert refused.exit_code == 2 and "qat distill_weight needs teacher_weight < 1" in refused.output
