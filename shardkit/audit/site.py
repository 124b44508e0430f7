"""The audit's HTML: plain pages over one stylesheet, every asset a relative path (opens from disk, fetches nothing).

Each function renders one page (or one part) from data already computed; no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from shardkit.jsonio import dumps

#: the only stylesheet (written to assets/style.css); system fonts only
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; }
header { background: #243447; color: #fff; padding: 10px 20px; }
header a { color: #cfe3ff; margin-right: 14px; text-decoration: none; }
header a.here { color: #fff; font-weight: 600; }
main { padding: 10px 20px 40px; max-width: 1400px; }
h1 { font-size: 20px; margin: 6px 0; } h2 { font-size: 17px; margin-top: 26px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ccd; border-radius: 6px; padding: 8px; width: 330px; background: #fafbfd; }
.card img { display: block; image-rendering: pixelated; width: 320px; height: 128px; }
.card audio { width: 100%; height: 32px; } td audio { width: 240px; height: 32px; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 8px; margin: 6px 0 0; font-size: 12px; }
.card dt { color: #666; } .card dd { margin: 0; overflow-wrap: anywhere; }
.notice { background: #fff4d6; border: 1px solid #e5c46b; padding: 8px 12px; border-radius: 4px; }
.flag { color: #b00; font-weight: 600; } .empty, .muted { color: #777; }
.chart text { font-size: 11px; fill: #333; } pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
"""


def page(title: str, nav: Sequence[tuple[str, str]], here: str, body: str) -> str:
    """A whole HTML document: the navigation bar, then ``body``."""
    links = "".join(f'<a href="{escape(href)}"{" class=here" if href == here else ""}>{escape(text)}</a>' for text, href in nav)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><link rel=stylesheet href=assets/style.css>"
        '<link rel=icon href="data:,">'
        f"</head><body><header>{links}</header><main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )


def table(header: Sequence[str] | None, rows: Iterable[Sequence[Any]], *, numeric: Sequence[int] = (), attrs: str = "") -> str:
    """A table (no header row when ``header`` is None); cells are escaped unless given as `Raw`."""
    head = "" if header is None else "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>"
    body = []
    for row in rows:
        cells = "".join(f"<td{' class=num' if i in numeric else ''}>{cell(v)}</td>" for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table{attrs}>{head}<tbody>{''.join(body)}</tbody></table>"


class Raw(str):
    """HTML that is already safe (a rendered element)."""


def cell(value: Any) -> str:
    """A value as table text: numbers rounded for reading, None as a dash."""
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "–"
    if isinstance(value, float):
        return escape(f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}")
    if isinstance(value, int) and not isinstance(value, bool):
        return escape(f"{value:,}")
    return escape(str(value))


def section(title: str, body: str, anchor: str = "") -> str:
    """A titled section."""
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{escape(title)}</h2>{body}</section>"


def json_block(value: Any) -> str:
    """A value as indented JSON in a ``<pre>``."""
    return f"<pre>{escape(dumps(value, indent=2, sort_keys=True, ensure_ascii=False))}</pre>"


def audio_tag(src: str, duration_s: float, key: str) -> str:
    """An ``<audio>`` player; ``data-duration-s`` states the chunk's stored duration."""
    return f'<audio controls preload=metadata data-key="{escape(key)}" data-duration-s="{duration_s}" src="{escape(src)}"></audio>'


def chunk_card(chunk_meta: dict, key: str, shard: str, image_src: str, audio_src: str, classes: Sequence[str]) -> str:
    """One drawn chunk: thumbnail, player, provenance and the teacher's opinion when stored."""
    m = chunk_meta
    facts = [
        ("source", m.get("source")),
        ("offset", _seconds(m.get("offset_s"))),
        ("duration", _seconds(m.get("duration_s"))),
        ("split", m.get("split")),
        ("labels", ", ".join(m.get("labels", [])) or "none (negative)"),
        ("picked by", m.get("picked_by")),
        ("rank", m.get("rank")),
        ("score", _db(m.get("score"))),
        ("SNR", _db(m.get("snr_db"))),
        ("peak", None if m.get("peak_dbfs") is None else f"{m['peak_dbfs']:.1f} dBFS"),
        ("clipping", None if m.get("clipping_ratio") is None else f"{100 * m['clipping_ratio']:.2f} %"),
        ("shard", shard.rpartition("/")[2]),
        ("key", key),
    ]
    teacher = m.get("teacher")
    if teacher:
        top = ", ".join(f"{label} {p:.2f}" for label, p in teacher.get("top", [])[:3])
        soft = ", ".join(f"{name} {p:.2f}" for name, p in sorted(teacher.get("probs", {}).items()) if p is not None and (name in classes or p >= 0.05))
        facts += [("teacher", f"{teacher.get('name')}: {top}"), ("teacher max p", teacher.get("max_p")), ("soft labels", soft or None)]
        if teacher.get("flag"):
            facts.append(("teacher flag", Raw(f"<span class=flag>{escape(teacher['flag'])}</span>")))
    rows = "".join(f"<dt>{escape(name)}</dt><dd>{cell(value)}</dd>" for name, value in facts)
    return (
        f'<div class=card data-key="{escape(key)}">'
        f'<img src="{escape(image_src)}" alt="spectrogram of {escape(key)}" width=320 height=128>'
        f"{audio_tag(audio_src, float(m.get('duration_s') or 0.0), key)}<dl>{rows}</dl></div>"
    )


def _seconds(value: Any) -> str | None:
    return None if value is None else f"{float(value):.3f} s"


def _db(value: Any) -> str | None:
    return None if value is None else f"{float(value):.1f} dB"
