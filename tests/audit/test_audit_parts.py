"""The audit's parts without a browser: PNG bytes, curves and counts against brute force, the seeded draw, the salience view."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from factories import make_class_corpus
from helpers.shards import read_samples
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shardkit.audio.frontends import FrontendConfig
from shardkit.audit.collect import collect
from shardkit.audit.config import AuditConfig
from shardkit.audit.media import colour_map, png_bytes, spectrogram_png
from shardkit.audit.models import confusion, counts_at, largest_divergence, pr_curve, roc_curve, worst_errors
from shardkit.audit.recordings import build_config_of, recording_view
from shardkit.errors import ConfigError
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.runner import build
from shardkit.manifest import read_manifest
from shardkit.scoring import average_precision_per_class, roc_auc_per_class


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("audit_parts")
    corpus = make_class_corpus(root / "corpus", n_per_class=5)
    build(
        str(corpus),
        str(root / "shards"),
        BuildConfig(workers=1, codec="flac", chunk_s=1.0, max_chunks_per_file=2, shard_max_samples=6, val_fraction=0.3),
        progress=False,
    )
    return corpus, root / "shards"


def test_png_bytes_decode_to_the_same_pixels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(7, 13, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(image))).convert("RGB"))
    np.testing.assert_array_equal(decoded, image)


def test_png_bytes_refuses_a_grey_image():
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        png_bytes(np.zeros((4, 4), dtype=np.uint8))


def test_colour_map_runs_dark_to_bright():
    rgb = colour_map(np.array([0.0, 0.5, 1.0, np.nan, 7.0])).astype(int)
    brightness = rgb.sum(axis=1)
    assert brightness[0] < brightness[1] < brightness[2]
    assert list(rgb[3]) == list(rgb[0]) and list(rgb[4]) == list(rgb[2])


def test_spectrogram_thumbnail_shows_a_tone_at_its_height():
    rate = 16000
    t = np.arange(rate) / rate
    frontend = FrontendConfig(name="hybrid", sample_rate_hz=rate, chunk_s=1.0, n_fft=256, n_frames=64, compression="log")
    rows = []
    for hz in (1000, 6000):
        tone = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
        image = np.asarray(Image.open(io.BytesIO(spectrogram_png(tone, frontend, 64, 64))).convert("L")).astype(float)
        assert image.shape == (64, 64)
        rows.append(int(np.argmax(image.mean(axis=1))))
    # row 0 is the top: the higher tone is drawn higher up
    assert rows[1] < rows[0]
    assert abs(rows[0] - (64 - 1000 / 8000 * 64)) <= 3 and abs(rows[1] - (64 - 6000 / 8000 * 64)) <= 3


def _brute_roc_auc(positive, score):
    pos, neg = score[positive], score[~positive]
    return np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=2, max_size=40))
def test_roc_curve_area_is_the_roc_auc(pairs):
    positive = np.array([p for p, _ in pairs])
    score = np.array([s / 6 for _, s in pairs])
    fpr, tpr = roc_curve(positive, score)
    if positive.all() or not positive.any():
        assert len(fpr) == 0
        return
    if len(fpr) < 200:  # unthinned: the trapezoid area is exactly the rank statistic
        assert np.trapezoid(tpr, fpr) == pytest.approx(_brute_roc_auc(positive, score))
        assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_per_class(positive[:, None].astype(float), score[:, None])[0])
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_pr_curve_steps_give_the_average_precision():
    rng = np.random.default_rng(3)
    positive = rng.random(80) < 0.3
    score = np.round(rng.random(80), 2)
    recall, precision = pr_curve(positive, score)
    ap = np.sum(np.diff(np.r_[0.0, recall]) * precision)
    assert ap == pytest.approx(average_precision_per_class(positive[:, None].astype(float), score[:, None])[0])
    assert recall[-1] == 1.0


def test_counts_and_confusion_match_a_loop():
    rng = np.random.default_rng(1)
    labels = (rng.random((50, 3)) < 0.3).astype(np.float32)
    scores = rng.random((50, 3)).astype(np.float32)
    rows = counts_at(labels, scores, 0.6)
    for c, row in enumerate(rows):
        tp = sum(1 for i in range(50) if labels[i, c] == 1 and scores[i, c] >= 0.6)
        fp = sum(1 for i in range(50) if labels[i, c] == 0 and scores[i, c] >= 0.6)
        assert (row["tp"], row["fp"], row["tp"] + row["fn"] + row["fp"] + row["tn"]) == (tp, fp, 50)
    matrix = confusion(labels, scores, 0.6)
    expected = np.zeros((4, 4), dtype=int)
    for i in range(50):
        truth = next((c for c in range(3) if labels[i, c] == 1), 3)
        top = int(np.argmax(scores[i]))
        expected[truth, top if scores[i, top] >= 0.6 else 3] += 1
    np.testing.assert_array_equal(matrix, expected)


def test_worst_and_divergent_clips_come_first():
    labels = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    scores = np.array([[0.9, 0.1], [0.8, 0.3], [0.6, 0.0]], dtype=np.float32)
    assert [i for i, _ in worst_errors(labels, scores, 2)] == [1, 2]
    other = scores + np.array([[0, 0], [0, 0.05], [0.3, 0]], dtype=np.float32)
    assert largest_divergence(scores, other, 1)[0][0] == 2


def test_the_draw_is_seeded_and_bounded(built):
    _, shards = built
    manifest = read_manifest(str(shards))
    first = collect(str(shards), manifest, per_class=2, seed=0)
    again = collect(str(shards), manifest, per_class=2, seed=0)
    other = collect(str(shards), manifest, per_class=2, seed=1)
    keys = {name: [c.key for c in chunks] for name, chunks in first.drawn.items()}
    assert keys == {name: [c.key for c in chunks] for name, chunks in again.drawn.items()}
    assert keys != {name: [c.key for c in chunks] for name, chunks in other.drawn.items()}
    truth = read_samples(shards, manifest)
    assert first.samples == len(truth)
    by_key = {s["key"]: s for s in truth}
    for name, chunks in first.drawn.items():
        assert len(chunks) == 2
        for chunk in chunks:
            assert by_key[chunk.key]["meta"]["class"] == name
            assert len(chunk.audio) == round(by_key[chunk.key]["meta"]["duration_s"] * manifest["sample_rate"])
    assert sum(len(v) for v in first.by_source.values()) == len(truth)


def test_the_salience_view_marks_exactly_the_stored_windows(built):
    corpus, shards = built
    manifest = read_manifest(str(shards))
    collected = collect(str(shards), manifest, per_class=1, seed=0)
    config = build_config_of(manifest["settings"])
    source = next(s for s in collected.by_source if s.startswith("alpha/"))
    stored = collected.by_source[source]
    view = recording_view(str(corpus), source, stored, config)
    assert sorted(p["offset_s"] for p in view.picked) == sorted(s["offset_s"] for s in stored)
    assert view.threshold_db == config.salience.threshold_db and len(view.scores) > 0
    for lost in view.lost:  # a losing candidate never is a stored window
        assert all(abs(lost["offset_s"] - p["offset_s"]) > 0.001 for p in view.picked)
    with pytest.raises(FileNotFoundError, match="not under --input"):
        recording_view(str(corpus / "beta"), source, stored, config)


def test_build_config_of_a_teacher_build_uses_its_candidate_count(built):
    _, shards = built
    settings = json.loads((shards / "manifest.json").read_text())["settings"]
    assert build_config_of(settings) == BuildConfig.from_dict(settings)
    with_teacher = {**settings, "teacher": {"name": "x", "candidates": 16}}
    assert build_config_of(with_teacher).max_chunks_per_file == 16


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("per_class", 0, "audit per_class must be an integer in [1, 1000]; got 0"),
        ("threshold", 1.5, "audit threshold must be a number in [0, 1]; got 1.5"),
        ("split", "", "audit split must be a split name such as 'val'; got ''"),
        ("thumb_width", 4, "audit thumb_width must be an integer in [16, 1024]; got 4"),
    ],
)
def test_config_messages(field, value, message):
    with pytest.raises(ConfigError) as info:
        AuditConfig(**{field: value})
    assert str(info.value) == message


def test_a_call_beyond_the_chunk_limit_is_shown_as_a_lost_candidate(tmp_path):
    from factories import tone_in_noise, write_audio

    corpus = tmp_path / "corpus"
    write_audio(corpus / "alpha" / "two_calls.flac", tone_in_noise(12, 24000, calls=((2, 0.6, 3000), (8, 0.6, 3000)), seed=4), 24000)
    build(str(corpus), str(tmp_path / "shards"), BuildConfig(workers=0, chunk_s=1.0, max_chunks_per_file=1, val_fraction=0.0), progress=False)
    manifest = read_manifest(str(tmp_path / "shards"))
    collected = collect(str(tmp_path / "shards"), manifest, per_class=1, seed=0)
    view = recording_view(str(corpus), "alpha/two_calls.flac", collected.by_source["alpha/two_calls.flac"], build_config_of(manifest["settings"]))
    assert len(view.picked) == 1
    stored_peak = view.picked[0]["offset_s"] + 0.5
    other_call = 8.3 if abs(stored_peak - 2.3) < 1 else 2.3
    salient_losers = [c for c in view.lost if c["score"] >= view.threshold_db]
    assert any(c["offset_s"] <= other_call <= c["offset_s"] + c["duration_s"] for c in salient_losers), view.lost
