"""A real headless Chromium for tests of static HTML opened from disk (``file://``, no server).

Debian's ``chromium`` and ``chromium-driver`` packages (``/usr/bin/chromium``, ``/usr/bin/chromedriver``)
driven by selenium (the test extra). Selenium is given both paths, so Selenium Manager never runs (and
never reaches for the network). Where any of the three is missing the test is skipped; with
``SHARDKIT_REQUIRE_BROWSER=1`` (CI) it fails instead.

Use the module-scoped ``browser`` fixture (tests/audit/conftest.py registers it) or ``open_page``::

    def test_site(browser, tmp_path):
        load(browser, tmp_path / "index.html")
        assert console_errors(browser) == []
        assert all(url.startswith("file://") for url in requested_urls(browser))

    with open_page(path) as driver:  # a browser of its own, quit on exit
        ...

Every wait is bounded: page loads by ``PAGE_LOAD_TIMEOUT_S``, scripts by ``SCRIPT_TIMEOUT_S``, each
command to the driver by ``COMMAND_TIMEOUT_S``, and the image and audio waits by their ``timeout_s``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_ENV = "SHARDKIT_REQUIRE_BROWSER"
WINDOW = (1400, 1000)
PAGE_LOAD_TIMEOUT_S = 30.0
SCRIPT_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
)


def missing_browser() -> str | None:
    """What the browser tests lack (``None`` when chromium, chromedriver and selenium are all there)."""
    gaps = []
    if not os.access(CHROMIUM, os.X_OK):
        gaps.append(f"{CHROMIUM} (apt-get install chromium)")
    if not os.access(CHROMEDRIVER, os.X_OK):
        gaps.append(f"{CHROMEDRIVER} (apt-get install chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        gaps.append("selenium (pip install -c constraints.txt -e '.[test]')")
    return ", ".join(gaps) or None


def require_browser() -> None:
    """Skip the calling test without a browser; fail instead where ``SHARDKIT_REQUIRE_BROWSER=1``."""
    gaps = missing_browser()
    if gaps:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but the headless browser is missing: {gaps}")
        pytest.skip(f"needs a headless browser: {gaps}")


def start_browser(window: tuple[int, int] = WINDOW):
    """A new headless Chromium (a selenium ``WebDriver``) with console and network logging; the caller quits it."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*ARGUMENTS, f"--window-size={window[0]},{window[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.command_executor.client_config.timeout = COMMAND_TIMEOUT_S
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    driver.set_script_timeout(SCRIPT_TIMEOUT_S)
    driver.implicitly_wait(0)
    return driver


@contextmanager
def browser_session(window: tuple[int, int] = WINDOW) -> Iterator:
    """`start_browser` for a ``with`` block: quit on exit, whatever happened."""
    driver = start_browser(window)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (skipped or failed as `require_browser` says); `load` a page into it."""
    with browser_session() as driver:
        yield driver


# what each driver's logs held since its last `load`: get_log hands out each entry only once
_LOGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _log(driver, kind: str) -> list[dict]:
    entries = _LOGS.setdefault(driver, {}).setdefault(kind, [])
    entries.extend(driver.get_log(kind))
    return entries


def load(driver, path: str | os.PathLike) -> None:
    """Open the HTML file ``path`` in ``driver`` and wait until it is loaded (``document.readyState`` complete).

    ``path`` is a file (opened as its ``file://`` URL) or a ``file://`` URL itself (to open it at a ``#fragment``, say).

    The logs start afresh: `console_errors` and `requested_urls` then speak of this page only.
    """
    driver.get("about:blank")
    for kind in ("browser", "performance"):
        driver.get_log(kind)
    _LOGS[driver] = {}
    url = str(path)
    driver.get(url if url.startswith("file://") else Path(path).resolve().as_uri())
    _wait_for(driver, "return document.readyState === 'complete'", PAGE_LOAD_TIMEOUT_S, "the page to finish loading")


@contextmanager
def open_page(path: str | os.PathLike, window: tuple[int, int] = WINDOW) -> Iterator:
    """A browser of its own with ``path`` loaded in it (see `load`), quit on exit."""
    with browser_session(window) as driver:
        load(driver, path)
        yield driver


def _wait_for(driver, script: str, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.05)


def console_errors(driver) -> list[str]:
    """The page's SEVERE console messages since its `load`: ``console.error``, uncaught exceptions, resources
    that failed to load (a missing image: ``file:///...png - Failed to load resource: net::ERR_FILE_NOT_FOUND``).

    A file that loads but does not decode (a corrupt WAV) logs nothing here: `audio_report` sees it.
    """
    return [entry["message"] for entry in _log(driver, "browser") if entry["level"] == "SEVERE"]


def console_messages(driver) -> list[tuple[str, str]]:
    """Every console message since the page's `load`, as ``(level, message)``."""
    return [(entry["level"], entry["message"]) for entry in _log(driver, "browser")]


def image_widths(driver, timeout_s: float = 10.0) -> list[tuple[str, int]]:
    """``(src, naturalWidth)`` of every ``<img>`` once each is ``complete``, in document order.

    A missing or broken image reads 0. Lazy images are switched to eager first, so each one loads.
    """
    driver.execute_script("for (const img of document.images) if (img.loading === 'lazy') img.loading = 'eager';")
    _wait_for(driver, "return Array.from(document.images).every(img => img.complete)", timeout_s, "every <img> to load")
    pairs = driver.execute_script("return Array.from(document.images).map(img => [img.currentSrc || img.src, img.naturalWidth]);")
    return [(src, int(width)) for src, width in pairs]


@dataclass(frozen=True)
class AudioResult:
    """One ``<audio>``: its source (``currentSrc``, else ``src``, else its first ``<source>``), its id, and either
    its duration in seconds or why there is none (``error``: a media error, no playable source, or the wait ran out)."""

    src: str
    id: str
    duration_s: float | None
    error: str | None

    @property
    def label(self) -> str:
        return self.src or self.id


# resolves with one record per <audio> once each has its metadata, has failed, or the deadline passed
_AUDIO_SCRIPT = """
const timeoutMs = arguments[0], done = arguments[arguments.length - 1];
const audios = Array.from(document.querySelectorAll('audio'));
const names = ['', 'MEDIA_ERR_ABORTED', 'MEDIA_ERR_NETWORK', 'MEDIA_ERR_DECODE', 'MEDIA_ERR_SRC_NOT_SUPPORTED'];
const source = a => a.currentSrc || a.src || (a.querySelector('source[src]') ? a.querySelector('source[src]').src : '');
// NETWORK_NO_SOURCE is also where every (re)load starts: only an error at one of its <source>s makes it final
const sourceFailed = audios.map(() => false);
const verdict = (a, i) => {
  if (a.error) return {error: `${names[a.error.code] || a.error.code}${a.error.message ? ': ' + a.error.message : ''}`};
  if (a.readyState >= 1) return Number.isFinite(a.duration) ? {duration: a.duration} : {error: `duration is ${a.duration}`};
  if (!a.hasAttribute('src') && !a.querySelector('source')) return {error: 'no src and no <source>'};
  if (sourceFailed[i] && a.networkState === 3) return {error: 'no playable <source> (NETWORK_NO_SOURCE)'};
  return null;
};
const results = audios.map(() => null);
let finished = false, poll = null;
const finish = () => {
  if (finished) return;
  finished = true;
  clearInterval(poll);
  done(audios.map((a, i) => Object.assign({src: source(a), id: a.id}, results[i] || {error: `no metadata after ${timeoutMs} ms`})));
};
const check = i => {
  if (results[i] === null) results[i] = verdict(audios[i], i);
  if (results.every(r => r !== null)) finish();
};
audios.forEach((a, i) => {
  if (verdict(a, i) !== null) return;
  for (const name of ['loadedmetadata', 'durationchange', 'error']) a.addEventListener(name, () => check(i));
  for (const s of a.querySelectorAll('source')) s.addEventListener('error', () => { sourceFailed[i] = true; setTimeout(() => check(i), 0); });
  // (re)load each undecided player, so that its outcome comes as an event: preload="none" ones too
  if (a.preload === 'none') a.preload = 'metadata';
  a.load();
});
setTimeout(finish, timeoutMs);
poll = setInterval(() => audios.forEach((a, i) => check(i)), 50);
audios.forEach((a, i) => check(i));
if (audios.length === 0) finish();
"""


def audio_report(driver, timeout_s: float = 10.0) -> list[AudioResult]:
    """Every ``<audio>`` in document order, once each has loaded its metadata or failed (never longer than ``timeout_s``).

    ``preload="none"`` players are asked for their metadata. A missing file, a source the browser cannot play
    and a file that does not decode all come back with ``duration_s=None`` and the reason in ``error``.
    """
    driver.set_script_timeout(timeout_s + 5)
    try:
        records = driver.execute_async_script(_AUDIO_SCRIPT, int(timeout_s * 1000))
    finally:
        driver.set_script_timeout(SCRIPT_TIMEOUT_S)
    results = []
    for record in records:
        duration = record.get("duration")
        ok = duration is not None and math.isfinite(duration)
        results.append(AudioResult(record["src"], record["id"], float(duration) if ok else None, None if ok else record.get("error", "no duration")))
    return results


def audio_durations(driver, timeout_s: float = 10.0) -> list[tuple[str, float | None]]:
    """``(src, or id where it has none; duration in seconds, or None where it failed)`` of every ``<audio>`` (see `audio_report`)."""
    return [(result.label, result.duration_s) for result in audio_report(driver, timeout_s)]


def requested_urls(driver, include_inline: bool = False) -> list[str]:
    """Every URL the page requested since its `load` (``Network.requestWillBeSent``), in order, failed requests included.

    ``data:`` and ``blob:`` URLs never leave the browser (its own media controls draw with ``data:`` icons):
    they are left out unless ``include_inline``.
    """
    urls = []
    for entry in _log(driver, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if include_inline or not url.startswith(("data:", "blob:")):
                urls.append(url)
    return urls


def screenshot(driver, path: str | os.PathLike, max_height: int = 20000) -> Path:
    """The whole page (beyond the window, up to ``max_height`` CSS pixels tall) as a PNG at ``path``."""
    width, height = driver.execute_script(
        "const d = document.documentElement, b = document.body || d;"
        "return [Math.max(d.scrollWidth, b.scrollWidth, d.clientWidth), Math.max(d.scrollHeight, b.scrollHeight, d.clientHeight)];"
    )
    clip = {"x": 0, "y": 0, "width": int(width), "height": int(min(height, max_height)), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
