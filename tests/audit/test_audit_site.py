"""The audit site in a real headless Chromium: it loads clean, every picture draws, every player plays the
chunk it names, the recording view highlights the shards' own offsets, and the model view prints evaluate's numbers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.browser import audio_report, console_errors, image_widths, load, requested_urls, screenshot
from helpers.shards import read_samples
from selenium.webdriver.common.by import By

from shardkit.audit.config import AuditConfig
from shardkit.audit.run import audit

#: where a run keeps its screenshots for a person to look at (CI artifacts), besides tmp_path
SCREENSHOTS_ENV = "SHARDKIT_SCREENSHOTS"


def _pages(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


def _keep_screenshot(driver, site: Path, page: Path, tmp_path: Path) -> None:
    shot = screenshot(driver, tmp_path / "shots" / f"{site.name}-{page.stem}.png")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    if os.environ.get(SCREENSHOTS_ENV):
        target = Path(os.environ[SCREENSHOTS_ENV])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / shot.name)


@pytest.fixture(scope="module")
def plain_site(tiny_shards: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit of the session's tiny build, with its INPUT for the recording view (no model)."""
    out = tmp_path_factory.mktemp("audit_site") / "site"
    audit(str(tiny_shards), str(out), AuditConfig(per_class=3, recordings=6), input_root=str(tiny_shards.parent / "corpus"))
    return out


def test_every_page_loads_clean_and_fetches_nothing_from_the_network(browser, plain_site, tmp_path):
    pages = _pages(plain_site)
    assert [p.name for p in pages if not p.name.startswith("class-")] == ["index.html", "recordings.html"]
    assert len(pages) == 2 + 4  # alpha, beta, gamma and noise
    for page in pages:
        load(browser, page)
        assert console_errors(browser) == [], page.name
        urls = requested_urls(browser)
        assert urls and all(url.startswith("file://") for url in urls), (page.name, [u for u in urls if not u.startswith("file://")])
        links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[href]")]
        assert all(link.startswith("file://") and Path(link.removeprefix("file://")).exists() for link in links), page.name
        _keep_screenshot(browser, plain_site, page, tmp_path)


def test_every_thumbnail_draws_and_every_player_plays_its_chunk(browser, plain_site, tiny_shards):
    manifest = json.loads((tiny_shards / "manifest.json").read_text())
    stored = {s["key"]: s["meta"] for s in read_samples(tiny_shards, manifest)}
    seen = 0
    for page in _pages(plain_site):
        if not page.name.startswith("class-"):
            continue
        load(browser, page)
        widths = image_widths(browser)
        assert len(widths) == 3 and all(width > 0 for _, width in widths), widths
        players = audio_report(browser)
        assert len(players) == 3
        for player in players:
            element = browser.find_element(By.CSS_SELECTOR, f'audio[src="{Path(player.src.removeprefix("file://")).relative_to(plain_site).as_posix()}"]')
            key = element.get_attribute("data-key")
            assert player.error is None, player
            # the duration the browser reads from the file is the chunk's stored duration
            assert player.duration_s == pytest.approx(stored[key]["duration_s"], abs=1e-3)
            seen += 1
    assert seen == 12


def test_the_recording_view_highlights_the_shards_offsets(browser, plain_site, tiny_shards):
    manifest = json.loads((tiny_shards / "manifest.json").read_text())
    offsets: dict[str, list[float]] = {}
    for sample in read_samples(tiny_shards, manifest):
        offsets.setdefault(sample["meta"]["source"], []).append(sample["meta"]["offset_s"])
    load(browser, plain_site / "recordings.html")
    sections = browser.find_elements(By.CSS_SELECTOR, "section.recording")
    assert len(sections) == 6  # recordings=6, taken from the drawn chunks of each class in turn
    for section in sections:
        source = section.get_attribute("data-source")
        picked = section.find_elements(By.CSS_SELECTOR, "rect.window.picked")
        shown = sorted(float(r.get_attribute("data-offset-s")) for r in picked)
        assert shown == sorted(offsets[source]), source
        # and the rectangles sit where those offsets are on the drawn time axis
        frame = section.find_element(By.CSS_SELECTOR, "svg.salience > rect:not(.window)").rect
        duration_s = float(section.find_element(By.CSS_SELECTOR, "svg.salience").get_attribute("data-duration-s"))
        for rect in picked:
            offset_s = float(rect.get_attribute("data-offset-s"))
            assert rect.rect["x"] - frame["x"] == pytest.approx(frame["width"] * offset_s / duration_s, abs=1.5)
        threshold = section.find_element(By.CSS_SELECTOR, "line.threshold").get_attribute("data-threshold-db")
        assert float(threshold) == manifest["settings"]["salience"]["threshold_db"]


def test_a_missing_asset_is_caught(browser, plain_site, tmp_path):
    """The checks above can fail: the same site with one thumbnail and one sound deleted."""
    broken = tmp_path / "broken"
    shutil.copytree(plain_site, broken)
    page = next(p for p in _pages(broken) if p.name.startswith("class-"))
    load(browser, page)
    first_image = browser.find_element(By.CSS_SELECTOR, "img").get_attribute("src")
    first_audio = browser.find_element(By.CSS_SELECTOR, "audio").get_attribute("src")
    Path(first_image.removeprefix("file://")).unlink()
    Path(first_audio.removeprefix("file://")).unlink()
    load(browser, page)
    assert any("ERR_FILE_NOT_FOUND" in message for message in console_errors(browser))
    assert sorted(width for _, width in image_widths(browser))[0] == 0
    assert any(player.duration_s is None for player in audio_report(browser))


@pytest.mark.slow
def test_the_model_view_prints_evaluates_numbers(browser, tiny_model, tiny_shards, tmp_path):
    from shardkit.export.config import CalibrationConfig, ConvertConfig
    from shardkit.export.convert import convert
    from shardkit.export.evaluate import evaluate

    models = tmp_path / "models"
    convert(str(tiny_model), str(tiny_shards), str(models), ConvertConfig(gate_samples=20, calibration=CalibrationConfig(samples=40)))
    int8 = models / "tiny_int8.tflite"
    site = tmp_path / "site"
    audit(str(tiny_shards), str(site), AuditConfig(per_class=2, worst=4), model=str(tiny_model), compare=str(int8))
    report = evaluate(str(tiny_model), str(tiny_shards), "val", compare=str(int8), out=str(tmp_path / "eval"))
    load(browser, site / "model.html")
    assert console_errors(browser) == []
    assert all(url.startswith("file://") for url in requested_urls(browser))

    def shown(metric: str, model: int, name: str | None = None) -> str:
        selector = f'.metric[data-metric="{metric}"][data-model="{model}"]' + (f'[data-class="{name}"]' if name else "")
        return browser.find_element(By.CSS_SELECTOR, selector).text

    for i, row in enumerate(report["models"]):
        assert shown("roc_auc", i) == f"{row['roc_auc']:.4f}"
        assert shown("cmap", i) == f"{row['cmap']:.4f}"
        for name, per_class in row["per_class"].items():
            if per_class["ap"] is not None:
                assert shown("ap", i, name) == f"{per_class['ap']:.4f}"
                assert shown("class_roc_auc", i, name) == f"{per_class['roc_auc']:.4f}"
    agreement = browser.find_element(By.ID, "agreement").find_elements(By.CSS_SELECTOR, "td")
    assert agreement[0].text == f"{report['agreement']['cosine_mean']:.4f}"
    for anchor in ("divergence-clips", "worst-clips"):
        players = browser.find_element(By.ID, anchor).find_elements(By.CSS_SELECTOR, "audio")
        assert len(players) == 4
    manifest = json.loads((tiny_shards / "manifest.json").read_text())
    stored = {s["key"]: s["meta"]["duration_s"] for s in read_samples(tiny_shards, manifest)}
    for element in browser.find_elements(By.CSS_SELECTOR, "table.clips audio"):
        assert float(element.get_attribute("data-duration-s")) == stored[element.get_attribute("data-key")]
    report_players = audio_report(browser)
    assert report_players and all(p.error is None and p.duration_s == pytest.approx(3.0, abs=1e-3) for p in report_players)
    _keep_screenshot(browser, site, site / "model.html", tmp_path)


def test_a_teacher_builds_notice_and_each_chunks_opinion_are_shown(browser, tiny_shards, tmp_path):
    from helpers.teacher import add_teacher, agreeing

    shards = add_teacher(tiny_shards, tmp_path / "teacher_shards", agreeing(p_present=0.9, p_absent=0.05))
    site = tmp_path / "site"
    audit(str(shards), str(site), AuditConfig(per_class=2))
    load(browser, site / "index.html")
    assert console_errors(browser) == []
    notice = browser.find_element(By.ID, "teacher-notice").text
    assert "stand-in-teacher: a stand-in teacher made by the tests" in notice and "test data" in notice
    mapping = browser.find_element(By.ID, "teacher-mapping").text
    assert "Teacher label alpha" in mapping
    page = next(p for p in _pages(site) if p.name.startswith("class-alpha"))
    load(browser, page)
    for card in browser.find_elements(By.CSS_SELECTOR, ".card"):
        text = card.text
        assert "stand-in-teacher: alpha 0.90" in text
        assert "alpha 0.90, beta 0.05, gamma 0.05" in text  # the soft labels, one per project class
    _keep_screenshot(browser, site, page, tmp_path)


def test_odd_class_and_file_names_render_as_text(browser, tmp_path):
    """A class folder named like markup (``Rock & "Roll" <b>``) is text on every page, not markup."""
    from factories import tone_in_noise, write_audio

    from shardkit.ingest.config import BuildConfig
    from shardkit.ingest.runner import build

    odd = 'Rock & "Roll" <b>'
    corpus = tmp_path / "corpus"
    for i in range(2):
        write_audio(corpus / odd / f"<i>{i}.flac", tone_in_noise(5, 16000, calls=((2, 0.5, 3000),), seed=i), 16000)
        write_audio(corpus / "plain" / f"p{i}.flac", tone_in_noise(5, 16000, calls=((1, 0.5, 5000),), seed=5 + i), 16000)
    build(str(corpus), str(tmp_path / "shards"), BuildConfig(workers=0, sample_rate_hz=16000, chunk_s=1.0, val_fraction=0.0), progress=False)
    site = tmp_path / "site"
    audit(str(tmp_path / "shards"), str(site), AuditConfig(per_class=2), input_root=str(corpus))
    for page in _pages(site):
        load(browser, page)
        assert console_errors(browser) == [], page.name
        assert not browser.find_elements(By.CSS_SELECTOR, "main b, main i"), page.name  # no markup came from a name
    load(browser, site / "index.html")
    assert odd in browser.find_element(By.ID, "classes").text
    load(browser, site / "recordings.html")
    sources = [s.get_attribute("data-source") for s in browser.find_elements(By.CSS_SELECTOR, "section.recording")]
    assert f"{odd}/<i>0.flac" in sources or f"{odd}/<i>1.flac" in sources
