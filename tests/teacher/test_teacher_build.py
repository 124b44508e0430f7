"""`shardkit build --teacher` with the stand-in teacher: real audio, a real .tflite in LiteRT, real shards.

Every recording of a mapped class holds a loud broadband burst (which the salience detector
prefers) and, elsewhere, the class's tone (which the teacher hears): with the teacher the
chunk holds the tone, without it the burst.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from factories import tone_in_noise, write_audio
from helpers.shards import samples_with_members
from helpers.standin_teacher import TONES

from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.ingest.summary import format_build_summary
from shardkit.teacher.registry import resolve_teacher

RATE = 24000
BURST_S, CALL_S = 2.0, 8.0
FREQ = dict(zip(["Alpha Tone", "Beta tonus", "Gamma Tone"], TONES.values(), strict=False))


def recording(freq: float | None, seed: int) -> np.ndarray:
    """12 s of noise, a broadband burst at 2 s and (with ``freq``) a tone at 8 s."""
    signal = tone_in_noise(12, RATE, calls=() if freq is None else ((CALL_S, 0.8, freq),), noise_rms=0.01, call_amplitude=0.05, seed=seed)
    burst = np.random.default_rng(seed + 1).standard_normal(int(0.3 * RATE)) * 0.25
    signal[int(BURST_S * RATE) : int(BURST_S * RATE) + len(burst)] += burst.astype(np.float32)
    return signal


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "input"
    for c, (name, freq) in enumerate(FREQ.items()):
        for i in range(3):
            write_audio(root / name / f"{i}.flac", recording(freq, 10 * c + i), RATE)
    write_audio(root / "Gamma Tone" / "mislabelled.flac", recording(FREQ["Beta tonus"], 77), RATE)
    write_audio(root / "Kiwi sound" / "k.flac", recording(TONES["Delta tonus_Delta Tone"], 88), RATE)
    write_audio(root / "noise" / "delta.flac", recording(TONES["Delta tonus_Delta Tone"], 90), RATE)
    write_audio(root / "noise" / "plain.flac", recording(None, 91), RATE)
    return root


def teacher_config(standin, **settings):
    model, labels, offset = standin
    return resolve_teacher(str(model), str(labels), 16000, outputs="logits", **({"embedding_offset": offset} if settings.get("embeddings") else {}), **settings)


def samples(out: Path) -> dict[str, list[tuple[dict, dict[str, bytes]]]]:
    """source → [(meta, other members)] from every shard."""
    found: dict[str, list] = {}
    for meta, members in samples_with_members(out):
        found.setdefault(meta["source"], []).append((meta, members))
    return found


def holds(meta: dict, t_s: float) -> bool:
    return meta["offset_s"] <= t_s and t_s + 0.8 <= meta["offset_s"] + meta["duration_s"]


def test_the_teacher_moves_the_chunk_from_the_burst_to_the_call(corpus, tmp_path, standin_teacher):
    base = BuildConfig(workers=0, max_chunks_per_file=1, val_fraction=0.0)
    build(str(corpus), str(tmp_path / "plain"), base, progress=False)
    build(str(corpus), str(tmp_path / "taught"), replace(base, teacher=teacher_config(standin_teacher)), progress=False)
    plain, taught = samples(tmp_path / "plain"), samples(tmp_path / "taught")
    mapped = [s for s in plain if s.split("/")[0] in FREQ and "mislabelled" not in s]
    assert len(mapped) == 9
    # the bad case: salience alone picks the burst in every one of them
    assert all(holds(plain[s][0][0], BURST_S) and not holds(plain[s][0][0], CALL_S) for s in mapped)
    for source in mapped:
        meta = taught[source][0][0]
        name = source.split("/")[0]
        assert holds(meta, CALL_S), (source, meta["offset_s"])
        assert meta["picked_by"] == "teacher" and meta["rank"] == 0
        assert meta["teacher"]["probs"][name] > 0.5 > max(p for c, p in meta["teacher"]["probs"].items() if c != name and p is not None)
        assert meta["teacher"]["probs"]["Kiwi sound"] is None  # unmapped
        assert meta["teacher"]["top"][0][0] == next(label for label in TONES if label.startswith(name.split()[0]))
        assert len(meta["teacher"]["top"]) == 5 and meta["teacher"]["flag"] is None
    # an unmapped class and the negatives keep the salience ranking
    assert taught["Kiwi sound/k.flac"][0][0]["picked_by"] == "salience"
    assert taught["noise/plain.flac"][0][0]["offset_s"] == plain["noise/plain.flac"][0][0]["offset_s"]


def test_manifest_and_summary_report_mapping_flags_audit_and_cost(corpus, tmp_path, standin_teacher):
    config = BuildConfig(workers=0, max_chunks_per_file=2, val_fraction=0.0, teacher=teacher_config(standin_teacher))
    summary = build(str(corpus), str(tmp_path / "out"), config, progress=False)
    teacher = json.loads((tmp_path / "out" / "manifest.json").read_text())["teacher"]
    assert teacher["mapping"] == {
        "Alpha Tone": "Alpha tonus_Alpha Tone",
        "Beta tonus": "Beta tonus_Beta Tone",
        "Gamma Tone": "Gamma tonus_Gamma Tone",
        "Kiwi sound": None,
    }
    assert teacher["unmapped"] == ["Kiwi sound"]
    assert [(a["source"], a["teacher_top1"]) for a in teacher["audit"]] == [("Gamma Tone/mislabelled.flac", "Beta tonus_Beta Tone")]
    assert teacher["audit"][0]["confidence"] > 0.5 > teacher["audit"][0]["class_p"]
    assert teacher["flags"]["teacher_hears_bird"] >= 1 and teacher["flags"]["label_conflict"] >= 1
    flagged = {m["source"]: m["teacher"]["flag"] for entries in samples(tmp_path / "out").values() for m, _ in entries if m["teacher"]["flag"]}
    assert flagged.get("noise/delta.flac") == "teacher_hears_bird" and "noise/plain.flac" not in flagged
    assert flagged.get("Gamma Tone/mislabelled.flac") == "label_conflict"
    assert teacher["candidates"] >= 13 and teacher["windows"] >= teacher["candidates"] and teacher["seconds"] > 0
    assert teacher["x_realtime"] == pytest.approx(summary.decoded_s / teacher["seconds"], rel=0.01)
    text = format_build_summary(summary)
    assert "classes without a teacher label (salience ranking only): Kiwi sound" in text
    assert "the teacher contradicts the folder of 1 recordings" in text and "Gamma Tone/mislabelled.flac (Gamma Tone): Beta tonus_Beta Tone" in text


def test_embeddings_are_npy_members_that_stock_webdataset_reads(corpus, tmp_path, standin_teacher):
    import webdataset as wds

    config = BuildConfig(workers=0, max_chunks_per_file=1, val_fraction=0.0, teacher=teacher_config(standin_teacher, embeddings=True))
    build(str(corpus), str(tmp_path / "out"), config, progress=False)
    found = samples(tmp_path / "out")
    meta, extra = found["Alpha Tone/0.flac"][0]
    embedding = np.load(io.BytesIO(extra["emb.npy"]), allow_pickle=False)
    assert embedding.dtype == np.float32 and embedding.shape == (len(TONES),)
    assert int(np.argmax(embedding)) == 0  # the alpha filter's power dominates an alpha chunk
    shards = [str(p) for p in sorted((tmp_path / "out").glob("*.tar"))]
    read = list(wds.WebDataset(shards, shardshuffle=False).decode())
    assert len(read) == sum(len(v) for v in found.values())
    assert all(isinstance(s["emb.npy"], np.ndarray) and s["emb.npy"].shape == (len(TONES),) and "teacher" in s["json"] for s in read)


def test_a_rerun_is_up_to_date_and_other_teacher_settings_are_refused(corpus, tmp_path, standin_teacher):
    config = BuildConfig(workers=0, val_fraction=0.0, teacher=teacher_config(standin_teacher))
    build(str(corpus), str(tmp_path / "out"), config, progress=False)
    assert build(str(corpus), str(tmp_path / "out"), config, progress=False).up_to_date
    with pytest.raises(ConfigError, match="was built with other settings.*teacher"):
        build(str(corpus), str(tmp_path / "out"), replace(config, teacher=replace(config.teacher, weight=0.5)), progress=False)


def test_a_teacher_whose_labels_do_not_fit_is_refused_naming_both_counts(tmp_path, standin_teacher):
    model, labels, _ = standin_teacher
    short = tmp_path / "labels.txt"
    short.write_text("\n".join(labels.read_text().split()[:3]))
    corpus = tmp_path / "in"
    write_audio(corpus / "Alpha Tone" / "a.flac", recording(2000.0, 1), RATE)
    config = BuildConfig(workers=0, teacher=resolve_teacher(str(model), str(short), 16000))
    with pytest.raises(ConfigError, match="teacher 'standin' has 5 outputs but its labels file has 3 labels"):
        build(str(corpus), str(tmp_path / "out"), config, progress=False)
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.slow
def test_dask_workers_run_the_teacher_and_write_the_inline_builds_shards(corpus, tmp_path, standin_teacher):
    pytest.importorskip("distributed")
    teacher = teacher_config(standin_teacher)
    inline = build(
        str(corpus), str(tmp_path / "inline"), BuildConfig(workers=0, val_fraction=0.3, shard_max_samples=4, teacher=teacher), executor="inline", progress=False
    )
    dask = build(
        str(corpus), str(tmp_path / "dask"), BuildConfig(workers=2, val_fraction=0.3, shard_max_samples=4, teacher=teacher), executor="dask", progress=False
    )
    shards = {
        name: {s["name"]: s["sha256"] for split in run.manifest["splits"].values() for s in split["shards"]}
        for name, run in (("inline", inline), ("dask", dask))
    }
    assert shards["dask"] == shards["inline"] and shards["dask"]  # byte for byte: the teacher's blocks included
    assert dask.manifest["teacher"]["audit"] == inline.manifest["teacher"]["audit"] != []
    assert dask.manifest["teacher"]["candidates"] == inline.manifest["teacher"]["candidates"]


def test_teacher_shards_verify_clean_and_read_with_the_embedding_left_alone(corpus, tmp_path, standin_teacher):
    from shardkit.read.verify import verify_shards

    config = BuildConfig(workers=0, val_fraction=0.0, teacher=teacher_config(standin_teacher, embeddings=True))
    build(str(corpus), str(tmp_path / "out"), config, progress=False)
    report = verify_shards(str(tmp_path / "out"))
    assert report["problems"] == [] and report["samples_checked"] > 0, report
