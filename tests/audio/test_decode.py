"""Streaming decode: bounded memory on an hour-long file, integrity checks, exact segment reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from factories import tone_in_noise, write_audio

from shardkit.audio.decode import iter_mono_blocks, open_audio, read_resampled
from shardkit.errors import InputFileError


def test_blocks_downmix_and_cover_the_file(tmp_path: Path):
    left = tone_in_noise(3, 16000, seed=1)
    right = tone_in_noise(3, 16000, seed=2)
    path = write_audio(tmp_path / "s.flac", np.stack([left, right], axis=1), 16000)
    with open_audio(str(path)) as handle:
        mono = np.concatenate(list(iter_mono_blocks(handle, block_frames=1000)))
    expected = (np.round(left * 32768) + np.round(right * 32768)) / 2 / 32768
    np.testing.assert_allclose(mono, expected, atol=1e-4)


def test_resampled_segment_matches_whole_file_resampling(tmp_path: Path):
    import soxr

    signal = tone_in_noise(6, 44100, calls=((1, 4, 1000),), seed=3)
    path = write_audio(tmp_path / "a.wav", signal, 44100, subtype="FLOAT")
    whole = soxr.resample(signal, 44100, 24000, quality="HQ")
    with open_audio(str(path)) as handle:
        segment = read_resampled(handle, 2.0, 24000, 24000)
        tail = read_resampled(handle, 5.5, 24000, 24000)
    assert len(segment) == 24000
    np.testing.assert_allclose(segment, whole[48000:72000], atol=2e-3)
    assert np.all(tail[12100:] == 0), "zero-padded past the end of the file"


@pytest.mark.slow
def test_hour_long_file_decodes_in_bounded_memory(tmp_path: Path):
    """An hour at 48 kHz (691 MB as float32) is processed in far less memory, and to its end."""
    path = tmp_path / "hour.flac"
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=48000, channels=1, subtype="PCM_16") as handle:
        for minute in range(60):
            block = (rng.standard_normal(48000 * 60) * 0.003).astype(np.float32)
            if minute == 47:  # the only call, 47 minutes in: no 60 s cap hides it
                t = np.arange(48000) / 48000
                block[48000 * 20 : 48000 * 21] += (0.01 * np.sin(2 * np.pi * 3000 * t) * np.hanning(48000)).astype(np.float32)
            handle.write(block)
    script = f"""
import json
from shardkit.ingest.config import BuildConfig
from shardkit.ingest.extract import extract_file
from shardkit.ingest.inputs import SourceFile
def peak_mb():  # VmHWM belongs to this process image (ru_maxrss would inherit the forking parent's)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
before = peak_mb()
result = extract_file(SourceFile("c/hour.flac", {str(path)!r}, "c", False, 0, "train"), BuildConfig())
after = peak_mb()
print(json.dumps({{"peak_mb": after, "start_mb": before, "offsets": [s.meta["offset_s"] for s in result.samples],
                   "picked_by": [s.meta["picked_by"] for s in result.samples], "duration_s": result.duration_s}}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    assert out["duration_s"] == pytest.approx(3600.0)
    assert out["peak_mb"] < 300, f"peak RSS {out['peak_mb']:.0f} MB"
    print(f"hour-long 48 kHz file: peak RSS {out['peak_mb']:.0f} MB (start {out['start_mb']:.0f} MB)")
    assert out["picked_by"][0] == "salience" and 47 * 60 + 18.5 <= out["offsets"][0] <= 47 * 60 + 20.5


def _cut_wav(path: Path, keep_s: float, sample_rate_hz: int, bytes_per_frame: int) -> None:
    """Cut a WAV's data after ``keep_s`` seconds, leaving its header (which promises more) as it was."""
    data = path.read_bytes()
    start = data.index(b"data") + 8
    path.write_bytes(data[: start + int(keep_s * sample_rate_hz) * bytes_per_frame])


@pytest.mark.parametrize(("subtype", "channels", "bytes_per_sample"), [("PCM_16", 1, 2), ("PCM_24", 2, 3), ("FLOAT", 1, 4)])
def test_wav_holding_less_than_its_header_says_is_truncated(tmp_path: Path, subtype: str, channels: int, bytes_per_sample: int):
    signal = np.stack([tone_in_noise(10, 8000, seed=c) for c in range(channels)], axis=1)
    path = write_audio(tmp_path / "cut.wav", signal, 8000, subtype=subtype)
    _cut_wav(path, 5.0, 8000, channels * bytes_per_sample)
    with pytest.raises(InputFileError) as caught:
        open_audio(str(path))
    assert caught.value.reason == "truncated"
    assert caught.value.detail == "header says 10.00 s, data holds 5.00 s"


def test_whole_wav_with_chunks_after_its_data_is_not_truncated(tmp_path: Path):
    path = write_audio(tmp_path / "whole.wav", tone_in_noise(2, 8000), 8000)
    data = path.read_bytes()
    tail = b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    riff_size = int.from_bytes(data[4:8], "little") + len(tail)
    path.write_bytes(data[:4] + riff_size.to_bytes(4, "little") + data[8:] + tail)
    with open_audio(str(path)) as handle:
        assert handle.frames == 16000


def test_wav_from_a_streaming_writer_is_not_truncated(tmp_path: Path):
    """A data size of 0xFFFFFFFF means "until the end of the file", not a promise of 27 hours."""
    path = write_audio(tmp_path / "stream.wav", tone_in_noise(2, 8000), 8000)
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = (0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with open_audio(str(path)) as handle:
        assert handle.frames == 16000
