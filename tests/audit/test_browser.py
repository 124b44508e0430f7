"""The headless-browser harness (tests/helpers/browser.py) on hand-written pages: it sees what a good page does
and each way a bad one goes wrong (a missing image, a broken player, a request off the machine, a console error)."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import browser as harness
from helpers.browser import audio_durations, audio_report, console_errors, image_widths, load, requested_urls, screenshot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_png(path: Path, width: int, height: int) -> Path:
    """An RGB gradient PNG, written with zlib and struct alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(round(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="PCM_16")
    return path


def page(directory: Path, body: str, name: str = "index.html") -> Path:
    path = directory / name
    path.write_text(f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>\n<body>\n{body}\n</body></html>\n')
    return path


def test_a_good_page_loads_its_image_and_audio_from_disk_alone(browser, tmp_path: Path):
    write_png(tmp_path / "spectrogram.png", 37, 21)
    write_wav(tmp_path / "chunk.wav", 1.25)
    index = page(tmp_path, '<h1>chunks</h1>\n<img src="spectrogram.png" alt="spectrogram">\n<audio id="chunk" controls preload="none" src="chunk.wav"></audio>')
    load(browser, index)
    assert image_widths(browser) == [((tmp_path / "spectrogram.png").as_uri(), 37)]
    [(src, duration)] = audio_durations(browser)
    assert src == (tmp_path / "chunk.wav").as_uri()
    assert duration == pytest.approx(1.25, abs=0.01)
    assert console_errors(browser) == []
    urls = requested_urls(browser)
    assert set(urls) >= {index.as_uri(), (tmp_path / "spectrogram.png").as_uri(), (tmp_path / "chunk.wav").as_uri()}
    assert [url for url in urls if not url.startswith("file://")] == []
    shot = screenshot(browser, tmp_path / "shots" / "index.png")
    assert shot.stat().st_size > 0 and shot.read_bytes().startswith(PNG_SIGNATURE)


def test_a_missing_image_is_a_console_error_and_zero_wide(browser, tmp_path: Path):
    write_png(tmp_path / "here.png", 5, 5)
    load(browser, page(tmp_path, '<img src="here.png" alt="here">\n<img src="gone.png" alt="gone">'))
    assert image_widths(browser) == [((tmp_path / "here.png").as_uri(), 5), ((tmp_path / "gone.png").as_uri(), 0)]
    [error] = console_errors(browser)
    assert (tmp_path / "gone.png").as_uri() in error and "ERR_FILE_NOT_FOUND" in error


def test_broken_players_come_back_as_errors_not_hangs(browser, tmp_path: Path):
    write_wav(tmp_path / "good.wav", 0.5, rate=8000)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF but not really a wave file" * 8)
    body = (
        '<audio id="good" controls src="good.wav"></audio>\n'
        '<audio id="missing" controls src="missing.wav"></audio>\n'
        '<audio id="no-source" controls><source src="missing-too.wav" type="audio/wav"></audio>\n'
        '<audio id="corrupt" controls preload="none" src="corrupt.wav"></audio>\n'
        '<audio id="silent" controls></audio>'
    )
    load(browser, page(tmp_path, body))
    started = time.monotonic()
    report = audio_report(browser, timeout_s=2)
    assert time.monotonic() - started < 10
    assert [(r.id, r.src) for r in report] == [
        ("good", (tmp_path / "good.wav").as_uri()),
        ("missing", (tmp_path / "missing.wav").as_uri()),
        ("no-source", (tmp_path / "missing-too.wav").as_uri()),
        ("corrupt", (tmp_path / "corrupt.wav").as_uri()),
        ("silent", ""),
    ]
    assert report[0].duration_s == pytest.approx(0.5, abs=0.01) and report[0].error is None
    assert [r.duration_s for r in report[1:]] == [None] * 4
    assert all(r.error for r in report[1:]), report
    assert "no src and no <source>" in report[4].error
    assert [label for label, duration in audio_durations(browser, timeout_s=2) if duration is None] == [
        (tmp_path / "missing.wav").as_uri(),
        (tmp_path / "missing-too.wav").as_uri(),
        (tmp_path / "corrupt.wav").as_uri(),
        "silent",
    ]
    assert any("missing.wav" in error for error in console_errors(browser))


def test_a_player_that_never_loads_is_reported_after_the_timeout(browser, tmp_path: Path):
    fifo = tmp_path / "never.wav"
    os.mkfifo(fifo)  # reading it blocks until a writer comes: a file that never arrives
    load(browser, page(tmp_path, '<audio id="never" controls preload="none" src="never.wav"></audio>'))
    try:
        started = time.monotonic()
        assert audio_durations(browser, timeout_s=1) == [(fifo.as_uri(), None)]
        assert time.monotonic() - started < 5
    finally:
        browser.get("about:blank")
        try:  # a writer that closes at once: the browser's blocked read ends
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_a_request_off_the_machine_is_listed_even_when_it_fails(browser, tmp_path: Path):
    index = page(tmp_path, '<p>remote script</p>\n<script src="https://example.invalid/x.js"></script>')
    load(browser, index)
    urls = requested_urls(browser)
    assert index.as_uri() in urls
    assert [url for url in urls if not url.startswith("file://")] == ["https://example.invalid/x.js"]


def test_console_error_from_an_inline_script_is_seen(browser, tmp_path: Path):
    load(browser, page(tmp_path, "<script>console.log('fine'); console.error('x');</script>"))
    [error] = console_errors(browser)
    assert error.endswith('"x"')
    assert console_errors(browser) == [error], "a second look sees the same page's errors"
    load(browser, page(tmp_path, "<p>quiet</p>", name="quiet.html"))
    assert console_errors(browser) == [], "loading another page starts the log afresh"


def test_an_uncaught_exception_is_a_console_error(browser, tmp_path: Path):
    load(browser, page(tmp_path, "<script>null.oops;</script>"))
    [error] = console_errors(browser)
    assert "TypeError" in error


def test_a_page_without_images_or_players_reports_none(browser, tmp_path: Path):
    index = page(tmp_path, '<p id="top">nothing</p>')
    load(browser, index.as_uri() + "#top")
    assert browser.current_url == index.as_uri() + "#top"
    assert image_widths(browser) == [] and audio_durations(browser) == []


def test_without_a_browser_the_tests_skip_or_fail_as_ci_asks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(harness, "CHROMEDRIVER", tmp_path / "no-chromedriver")
    assert "no-chromedriver" in harness.missing_browser()
    monkeypatch.delenv(harness.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs a headless browser"):
        harness.require_browser()
    monkeypatch.setenv(harness.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="SHARDKIT_REQUIRE_BROWSER=1"):
        harness.require_browser()
