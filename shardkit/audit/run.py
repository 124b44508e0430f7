"""`shardkit audit` as a library call: read the shard set, draw chunks, render the site, return a summary."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from html import escape
from typing import Any

import numpy as np

from shardkit.audio.frontends import FrontendConfig
from shardkit.audit import pages
from shardkit.audit.collect import Chunk, collect, fetch_chunks
from shardkit.audit.config import AuditConfig
from shardkit.audit.media import spectrogram_png, wav_bytes
from shardkit.audit.models import largest_divergence, worst_errors
from shardkit.audit.recordings import build_config_of, chosen_sources, recording_view
from shardkit.audit.site import STYLE, audio_tag, chunk_card, page
from shardkit.errors import ConfigError
from shardkit.manifest import read_failed_report, read_manifest
from shardkit.storage import Store

log = logging.getLogger(__name__)

INDEX = "index.html"
RECORDINGS = "recordings.html"
MODEL = "model.html"


def class_page_name(name: str) -> str:
    """A file name for a class's page: readable, and distinct for names that differ only in odd characters."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "class"
    return f"class-{slug}-{hashlib.sha1(name.encode()).hexdigest()[:6]}.html"


def thumbnail_frontend(manifest: dict, model_frontend: dict | None) -> FrontendConfig:
    """The model's frontend when there is one, else the training default at the shards' rate and chunk length."""
    if model_frontend is not None:
        return FrontendConfig.from_dict(model_frontend)
    settings = manifest.get("settings", {})
    chunk_s = settings.get("max_segment_s") if settings.get("variable_length") else settings.get("chunk_s", 3.0)
    return FrontendConfig(sample_rate_hz=int(manifest["sample_rate"]), chunk_s=float(chunk_s), compression="log")


class _Assets:
    """Writes a chunk's thumbnail and WAV once, and remembers their relative paths."""

    def __init__(self, store: Store, frontend: FrontendConfig, config: AuditConfig, sample_rate_hz: int) -> None:
        self.store, self.frontend, self.config, self.rate = store, frontend, config, sample_rate_hz
        self.written: dict[str, tuple[str, str]] = {}
        self.bytes = 0

    def of(self, chunk: Chunk) -> tuple[str, str]:
        if chunk.key not in self.written:
            image, sound = f"assets/spec/{chunk.key}.png", f"assets/audio/{chunk.key}.wav"
            png = spectrogram_png(chunk.audio, self.frontend, self.config.thumb_height, self.config.thumb_width)
            wav = wav_bytes(chunk.audio, self.rate)
            self.store.write_bytes(image, png)
            self.store.write_bytes(sound, wav)
            self.bytes += len(png) + len(wav)
            self.written[chunk.key] = (image, sound)
        return self.written[chunk.key]


def audit(
    shards: str,
    out: str,
    config: AuditConfig = AuditConfig(),
    *,
    input_root: str | None = None,
    model: str | None = None,
    compare: str | None = None,
    storage_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict:
    """Write the audit site for ``shards`` into ``out``; ``index.html`` is written last.

    Args:
        shards: the shard folder (local or remote).
        out: the site's folder (local; opened from disk).
        config: what to draw and how much.
        input_root: the build's INPUT folder, for the per-recording salience view.
        model: a ``.keras`` or ``.tflite`` for the model view.
        compare: a second model (the INT8 ``.tflite`` of ``model``) scored on the same samples.
        storage_options: fsspec options for the shards and models.
        progress: progress bars on a terminal.

    Returns:
        A summary: pages, chunks drawn, recordings, bytes written, seconds, and the path to open.

    Raises:
        ConfigError: no shard set at ``shards``, ``compare`` without ``model``, or models that do not fit the shards.
    """
    from tqdm import tqdm

    started = time.monotonic()
    if compare and not model:
        raise ConfigError("audit --compare needs --model (the float model the INT8 one is compared with)")
    if "://" in out and not out.startswith("file://"):
        raise ConfigError(f"audit --out must be a local folder (the site opens from disk); got {out!r}")
    manifest = read_manifest(shards, storage_options)
    store = Store(out, {})
    store.check_writable()
    total = sum(s["samples"] for s in manifest["splits"].values())
    with tqdm(total=total, desc="audit: read", unit="sample", disable=not progress, dynamic_ncols=True) as bar:
        collected = collect(shards, manifest, config.per_class, config.seed, storage_options, bar.update)
    scored = None
    if model:
        from shardkit.export.evaluate import score_split

        split_total = manifest["splits"].get(config.split, {}).get("samples", 0)
        with tqdm(total=split_total, desc="audit: score", unit="sample", disable=not progress, dynamic_ncols=True) as bar:
            scored = score_split(model, shards, config.split, compare, storage_options, bar.update)
    model_frontend = scored.model_config["frontend"] if scored is not None else None
    assets = _Assets(store, thumbnail_frontend(manifest, model_frontend), config, int(manifest["sample_rate"]))
    names = sorted(collected.drawn)
    class_pages = {name: class_page_name(name) for name in names}
    nav = [("Overview", INDEX), *((name, class_pages[name]) for name in names)]
    if input_root:
        nav.append(("Recordings", RECORDINGS))
    if scored is not None:
        nav.append(("Model", MODEL))
    classes = manifest.get("classes", [])
    store.write_bytes("assets/style.css", STYLE.encode())
    chunks_total = sum(len(c) for c in collected.drawn.values())
    with tqdm(total=chunks_total, desc="audit: draw", unit="chunk", disable=not progress, dynamic_ncols=True) as bar:
        for name in names:
            cards = []
            for chunk in collected.drawn[name]:
                image, sound = assets.of(chunk)
                cards.append(chunk_card(chunk.meta, chunk.key, chunk.shard, image, sound, classes))
                bar.update(1)
            count = sum(s["classes"].get(name, 0) for s in manifest["splits"].values())
            intro = f"<p>{len(cards)} of {count:,} chunks, drawn with seed {config.seed}; spectrograms through the {assets.frontend.name} frontend.</p>"
            store.write_bytes(class_pages[name], page(f"Class {name}", nav, class_pages[name], intro + f"<div class=grid>{''.join(cards)}</div>").encode())
    recordings = []
    if input_root:
        recordings = _write_recordings(store, nav, input_root, manifest, collected, config, progress)
    if scored is not None:
        _write_model(store, nav, shards, manifest, scored, config, assets, storage_options)
    skipped = read_failed_report(shards.removesuffix("manifest.json").rstrip("/") or shards, storage_options)
    store.write_bytes(INDEX, page("Overview", nav, INDEX, pages.overview_body(shards, manifest, skipped, class_pages)).encode())
    for leftover in ("_shardkit/staging", "_shardkit"):  # the writability probe's folders, when empty
        try:
            os.rmdir(store.path(leftover))
        except OSError:
            pass
    written = sum(os.path.getsize(os.path.join(folder, f)) for folder, _, files in os.walk(store.path("")) for f in files)
    return {
        "out": out,
        "index": store.path(INDEX),
        "pages": 1 + len(names) + bool(input_root) + (scored is not None),
        "samples_read": collected.samples,
        "chunks_drawn": chunks_total,
        "recordings": len(recordings),
        "recordings_missing": [r for r in recordings if r.startswith("missing:")],
        "asset_bytes": assets.bytes,
        "bytes": written,
        "seconds": round(time.monotonic() - started, 2),
    }


def _write_recordings(store: Store, nav, input_root: str, manifest: dict, collected, config: AuditConfig, progress: bool) -> list[str]:
    from tqdm import tqdm

    build = build_config_of(manifest["settings"])
    sources = chosen_sources(collected.drawn, config.recordings)
    sections, done = [], []
    for i, source in enumerate(tqdm(sources, desc="audit: recordings", unit="file", disable=not progress, dynamic_ncols=True)):
        try:
            view = recording_view(input_root, source, collected.by_source.get(source, []), build)
        except (FileNotFoundError, OSError, ValueError) as exc:
            log.warning("audit: no salience view of %s: %s", source, exc)
            sections.append(f"<section class=recording-missing><h2>{escape(source)}</h2><p class=flag>not drawn: {escape(str(exc))}</p></section>")
            done.append(f"missing:{source}")
            continue
        sections.append(pages.recording_section(view, f"rec-{i}"))
        done.append(source)
    intro = f"<p>{len(sources)} recordings of the drawn chunks, read again from {escape(input_root)}; the curve is the build's detector with the build's settings.</p>"
    store.write_bytes(RECORDINGS, page("Recordings", nav, RECORDINGS, intro + "".join(sections)).encode())
    return done


def _write_model(store: Store, nav, shards: str, manifest: dict, scored, config: AuditConfig, assets: _Assets, storage_options) -> None:
    report = scored.report
    kinds = [m["kind"] for m in report["models"]]
    lists = {}
    if len(scored.scores) > 1:
        lists["divergence"] = largest_divergence(scored.scores[0], scored.scores[1], config.worst)
    lists["worst"] = worst_errors(scored.labels, scored.scores[-1], config.worst)
    wanted = {scored.keys[i] for rows in lists.values() for i, _ in rows}
    chunks = fetch_chunks(shards, manifest, config.split, wanted, storage_options)
    clip_rows = {}
    for anchor, rows in lists.items():
        table_rows = []
        for i, value in rows:
            key = scored.keys[i]
            chunk = chunks.get(key)
            audio = audio_tag(assets.of(chunk)[1], float(chunk.meta.get("duration_s") or 0.0), key) if chunk else "(not found)"
            labels = ", ".join(c for c, v in zip(report["classes"], scored.labels[i], strict=True) if v >= 0.5)
            table_rows.append({"audio": audio, "key": key, "labels": labels, "value": value, "scores": [np.asarray(s[i]) for s in scored.scores]})
        clip_rows[anchor] = pages.clip_table(table_rows, kinds, report["classes"], anchor)
    store.write_bytes(MODEL, page("Model", nav, MODEL, pages.model_body(scored, config, report["classes"], clip_rows)).encode())
