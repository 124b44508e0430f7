"""`run_pipeline`: build → train → QAT → convert → evaluate, each stage skipped when up to date.

Each stage writes into its own folder under the pipeline's ``work`` URL (local or ``s3://``):
``shards/``, ``model/``, ``qat/``, ``int8/``, ``eval/``. After a stage succeeds, a stamp
``_pipeline/<stage>.json`` records its fingerprint (a hash of its settings, of the stage
before it, and for the build of the INPUT tree's paths, sizes and modification times; where
the build runs — executor, scheduler, workers — is left out) and the checksums of its files.
Whether a stage runs is `shardkit.pipeline.state.decide`'s verdict, the same one that
``shardkit pipeline status`` and ``run --dry-run`` print. ``from_stage`` reruns that stage
and everything after it. A rerun stage starts from an empty folder, except the build, which is
resumable and only starts over when its settings changed or a file it made was edited.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shardkit.errors import ConfigError
from shardkit.pipeline.config import STAGES, PipelineConfig
from shardkit.pipeline.state import FOLDERS, Upstream, Verdict, advance, decide, is_url, record_outputs, stamp_name
from shardkit.storage import Store, filesystem

log = logging.getLogger(__name__)


@dataclass
class StageResult:
    """What happened to one stage: ``ran``, ``skipped`` (up to date) or ``disabled``."""

    stage: str
    status: str
    fingerprint: str = ""
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    reason: str = ""


# ----- the stages ---------------------------------------------------------------------------


def _calibration(settings: dict):
    from shardkit.export.config import CalibrationConfig

    keys = {"calibration_split": "split", "calibration_samples": "samples", "seed": "seed"}
    return CalibrationConfig(**{field_: settings.pop(key) for key, field_ in keys.items() if key in settings})


def _typed(stage: str, config: PipelineConfig, make: Callable[[], Any]) -> Any:
    """``make()``, with a wrong key reported as a ConfigError naming the stage's table."""
    try:
        return make()
    except TypeError as exc:
        raise ConfigError(f"[{stage}] of {config.source!r}: {exc}") from exc


def _build_config(config: PipelineConfig, settings: dict):
    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.salience import SalienceConfig
    from shardkit.teacher.registry import teacher_from_options

    executor, scheduler = settings.pop("executor", "local"), settings.pop("scheduler", None)
    salience = SalienceConfig(threshold_db=settings.pop("threshold_db")) if "threshold_db" in settings else SalienceConfig()
    teacher = teacher_from_options({key: settings.pop(key) for key in list(settings) if key.startswith("teacher")})
    return _typed("build", config, lambda: BuildConfig(**settings, salience=salience, teacher=teacher)), executor, scheduler


def _qat_config(config: PipelineConfig, settings: dict):
    from shardkit.export.config import QATConfig

    settings.pop("enabled", None)
    calibration = _calibration(settings)
    return _typed("qat", config, lambda: QATConfig(**settings, calibration=calibration))


def _convert_config(config: PipelineConfig, settings: dict):
    from shardkit.export.config import ConvertConfig

    compare_ptq = settings.pop("compare_ptq", False)
    if not isinstance(compare_ptq, bool):
        raise ConfigError(f"[convert] compare_ptq of {config.source!r} must be true or false; got {compare_ptq!r}")
    calibration = _calibration(settings)
    return _typed("convert", config, lambda: ConvertConfig(**settings, calibration=calibration))


def _check_build(config: PipelineConfig) -> None:
    from shardkit.ingest.executors import EXECUTORS

    _, executor, _ = _build_config(config, config.settings("build"))
    if executor not in EXECUTORS:
        raise ConfigError(f"[build] executor must be one of {sorted(EXECUTORS)}; got {executor!r}")


def _check_train(config: PipelineConfig) -> None:
    from shardkit.train.config import config_from_options

    if "name" in config.settings("train"):
        raise ConfigError(f"[train] of {config.source!r} takes no name: the model's name is [pipeline] name ({config.name!r})")
    config_from_options({**config.settings("train"), "name": config.name})


def _check_evaluate(config: PipelineConfig) -> None:
    extra = sorted(set(config.settings("evaluate")) - {"split"})
    if extra:
        raise ConfigError(f"[evaluate] of {config.source!r} has unknown keys {extra}; allowed: ['split']")


#: stage name → function(config) that builds the stage's config from its table (raising ConfigError)
STAGE_CHECKS: dict[str, Callable[[PipelineConfig], Any]] = {
    "build": _check_build,
    "train": _check_train,
    "qat": lambda config: _qat_config(config, config.settings("qat")),
    "convert": lambda config: _convert_config(config, config.settings("convert")),
    "evaluate": _check_evaluate,
}


def check_pipeline(config: PipelineConfig, stages: tuple[str, ...] = STAGES) -> None:
    """Build every stage's config from the file, so a bad key or value fails before any stage runs.

    Args:
        config: the parsed pipeline file.
        stages: the stages to check (those that will run).

    Raises:
        ConfigError: naming the table and the value.
    """
    for stage in stages:
        STAGE_CHECKS[stage](config)


def _run_build(config: PipelineConfig, settings: dict, storage: dict) -> dict[str, str]:
    from shardkit.ingest.runner import build

    build_config, executor, scheduler = _build_config(config, settings)
    from shardkit.ingest.summary import format_build_summary

    if build_config.teacher is not None:
        log.warning("%s", build_config.teacher.notice or f"teacher {build_config.teacher.name}: check the licence of its weights")

    summary = build(config.input, config.url("shards"), build_config, storage_options=storage, executor=executor, scheduler=scheduler, progress=False)
    log.info("%s", format_build_summary(summary))
    return {"shards": config.url("shards")}


def _run_train(config: PipelineConfig, settings: dict, storage: dict) -> dict[str, str]:
    from shardkit.train.runner import train

    # flat settings: train() takes the sample rate from the shards when the file gives none
    train(config.url("shards"), config.url("model"), {**settings, "name": config.name}, storage_options=storage, verbose=0)
    return {"model": f"{config.url('model')}/{config.name}.keras"}


def _source_model(config: PipelineConfig) -> str:
    if config.enabled("qat"):
        return f"{config.url('qat')}/{config.name}_qat.keras"
    return f"{config.url('model')}/{config.name}.keras"


def _run_qat(config: PipelineConfig, settings: dict, storage: dict) -> dict[str, str]:
    from shardkit.export.qat import qat

    for key in ("calibration_split", "calibration_samples", "seed"):  # calibrate on the converter's draw
        if key in config.settings("convert"):
            settings.setdefault(key, config.settings("convert")[key])
    result = qat(f"{config.url('model')}/{config.name}.keras", config.url("shards"), config.url("qat"), _qat_config(config, settings), storage_options=storage)
    return {"model": result.model_path}


def _gates(report: dict) -> str:
    def outcome(gate: dict) -> str:
        return "undecided" if gate.get("outcome") == "undecided" else "passed" if gate["passed"] else "FAILED"

    return ", ".join(f"{name} {outcome(gate)}" for name, gate in report["gates"].items())


def _run_convert(config: PipelineConfig, settings: dict, storage: dict) -> dict[str, str]:
    """Convert the source model; with ``compare_ptq`` (and QAT on) first the trained model too, for comparison."""
    from shardkit.export.convert import GateFailed, convert

    compare_ptq = settings.get("compare_ptq", False) and config.enabled("qat")
    convert_config = _convert_config(config, settings)
    outputs = {}
    if compare_ptq:  # its gates are reported, never fatal: it is a comparison, not the pipeline's model
        try:
            ptq = convert(f"{config.url('model')}/{config.name}.keras", config.url("shards"), config.url("int8"), convert_config, storage_options=storage)
        except GateFailed as exc:
            ptq = exc.result
        log.info("INT8 model without QAT (post-training quantization): %s (gates: %s)", ptq.tflite_path or "not promoted", _gates(ptq.report))
        outputs = {"ptq_tflite": ptq.tflite_path or "", "ptq_report": ptq.report_path}
    result = convert(_source_model(config), config.url("shards"), config.url("int8"), convert_config, storage_options=storage)
    log.info("INT8 model %s (gates: %s)", result.tflite_path, _gates(result.report))
    return {"tflite": result.tflite_path or "", "report": result.report_path, **outputs}


def _run_evaluate(config: PipelineConfig, settings: dict, storage: dict) -> dict[str, str]:
    from shardkit.export.evaluate import evaluate

    source = _source_model(config)
    stem = source.rpartition("/")[2][: -len(".keras")]
    split = settings.pop("split", "val")
    report = evaluate(f"{config.url('int8')}/{stem}_int8.tflite", config.url("shards"), split, compare=source, out=config.url("eval"), storage_options=storage)
    log.info("%s", " / ".join(f"{m['kind']}: ROC-AUC {m['roc_auc']:.4f} cmAP {m['cmap']:.4f}" for m in report["models"]))
    return {"report": f"{config.url('eval')}/{report['files']['json']}"}


#: stage name → function(config, its settings (a copy), storage options) → outputs
STAGE_RUNNERS: dict[str, Callable[[PipelineConfig, dict, dict], dict[str, str]]] = {
    "build": _run_build,
    "train": _run_train,
    "qat": _run_qat,
    "convert": _run_convert,
    "evaluate": _run_evaluate,
}


# ----- the runner ---------------------------------------------------------------------------


def _clear(config: PipelineConfig, folder: str, storage: dict) -> None:
    fs, path = filesystem(config.url(folder), storage)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _prepare(config: PipelineConfig, echo: Callable[[str], None]) -> None:
    """The demo corpus when asked for and missing; then INPUT must be a folder."""
    if config.demo_corpus and not is_url(config.input) and not os.path.isdir(config.input):
        from shardkit.audio.synthetic import DEMO_CORPUS, make_demo_corpus

        echo(f"generating the demo corpus in {config.input}")
        make_demo_corpus(config.input, DEMO_CORPUS)
    if is_url(config.input):
        return  # the build checks a URL INPUT (and says so in a sentence) with its own storage options
    if not os.path.isdir(config.input):
        raise ConfigError(f"[pipeline] input {config.input!r} is not a folder")


def _run_stage(config: PipelineConfig, verdict: Verdict, store: Store, upstream: Upstream, echo: Callable[[str], None]) -> tuple[StageResult, str]:
    """Run the stage ``verdict`` says to rerun, then stamp it: ``(result, its new run id)``."""
    stage, storage = verdict.stage, store.storage_options
    if stage != "build" or verdict.reason in ("settings changed", "output changed"):
        _clear(config, FOLDERS[stage], storage)  # the build resumes, unless what it made no longer holds
    echo(f"{stage}: running ({verdict.reason}{': ' + verdict.detail if verdict.detail else ''})")
    started = time.monotonic()
    outputs = STAGE_RUNNERS[stage](config, config.settings(stage), storage)
    seconds = round(time.monotonic() - started, 2)
    run = uuid.uuid4().hex
    stamp = {
        "stage": stage,
        "fingerprint": verdict.fingerprint,
        "settings": verdict.settings,
        "inputs": verdict.inputs,
        "outputs": outputs,
        "seconds": seconds,
        "run": run,
        "upstream_run": upstream.run,
        "files": record_outputs(config, stage, storage),
    }
    store.write_json(stamp_name(stage), stamp)
    echo(f"{stage}: done in {seconds:.1f} s")
    return StageResult(stage, "ran", verdict.fingerprint, seconds, outputs, verdict.reason), run


def run_pipeline(
    config: PipelineConfig,
    from_stage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    echo: Callable[[str], None] = log.info,
    until: str | None = None,
) -> list[StageResult]:
    """Run every stage that `decide` says is not up to date (and every stage from ``from_stage`` on).

    Args:
        config: the parsed pipeline file.
        from_stage: rerun this stage and every stage after it.
        storage_options: fsspec options for the work URL.
        echo: where the one-line stage statuses go.
        until: stop after this stage (later stages neither run nor appear in the results).

    Raises:
        ConfigError: a bad stage name or setting, before that stage runs.
        GateFailed: the conversion gates failed (nothing after it runs, no stamp written).
    """
    stages = check_run(config, from_stage, until)
    storage = dict(storage_options or {})
    _prepare(config, echo)
    store = Store(config.work, storage)
    store.check_writable()
    forced = STAGES[STAGES.index(from_stage) :] if from_stage else ()
    upstream, results = Upstream(), []
    for stage in stages:
        verdict = decide(config, stage, store, upstream, stage in forced)
        if verdict.rerun:
            result, run = _run_stage(config, verdict, store, upstream, echo)
        else:
            stamp = verdict.stamp or {}
            status = "disabled" if verdict.reason == "disabled" else "skipped"
            result, run = StageResult(stage, status, verdict.fingerprint, outputs=stamp.get("outputs", {})), stamp.get("run", "")
            echo(f"{stage}: {verdict.label}" + (f" ({verdict.note})" if verdict.note else ""))
        results.append(result)
        upstream = advance(upstream, verdict, run)  # a stage that ran makes every later one run: their inputs are new
    return results


def check_run(config: PipelineConfig, from_stage: str | None = None, until: str | None = None) -> tuple[str, ...]:
    """Check ``--from``, ``until`` and every stage's settings; the stages to judge.

    Raises:
        ConfigError: a bad stage name or setting.
    """
    for name, value in (("--from", from_stage), ("until", until)):
        if value is not None and value not in STAGES:
            raise ConfigError(f"{name} must be one of {list(STAGES)}; got {value!r}")
    stages = STAGES[: STAGES.index(until) + 1] if until else STAGES
    check_pipeline(config, stages)
    return stages
