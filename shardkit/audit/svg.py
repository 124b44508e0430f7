"""Inline SVG charts (bars, histogram, curves, a recording's salience): strings in, no JavaScript, no fonts fetched."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

#: colours of a chart's series, in order
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, unit: str = "", width: int = 520) -> str:
    """Horizontal bars, one per label, each with its value written at its end."""
    row_h, left = 20, min(220, 12 + 7 * max((len(s) for s in labels), default=4))
    height = row_h * len(labels) + 10
    top = max(values, default=0.0) or 1.0
    span = width - left - 90
    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 5 + i * row_h
        bar = span * value / top
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{_fmt(bar)}" height="{row_h - 4}" fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{_fmt(left + bar + 4)}" y="{y + 14}">{escape(_number(value))}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def histogram(edges: Sequence[float], counts: Sequence[int], *, x_label: str, max_bars: int = 60, width: int = 520, height: int = 160) -> str:
    """Counts over bins (merged into at most ``max_bars`` bars; empty tails dropped)."""
    counts_a = np.asarray(counts, dtype=np.int64)
    edges_a = np.asarray(edges, dtype=np.float64)
    nonzero = np.flatnonzero(counts_a)
    if len(nonzero) == 0:
        return '<p class="empty">no samples</p>'
    lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
    counts_a, edges_a = counts_a[lo:hi], edges_a[lo : hi + 1]
    if len(counts_a) > max_bars:
        cut = np.linspace(0, len(counts_a), max_bars + 1).astype(int)
        counts_a, edges_a = np.add.reduceat(counts_a, cut[:-1]), edges_a[cut]
    pad_l, pad_b = 40, 30
    plot_w, plot_h = width - pad_l - 10, height - pad_b - 10
    top = int(counts_a.max())
    bar_w = plot_w / len(counts_a)
    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i, count in enumerate(counts_a):
        bar_h = plot_h * count / top
        parts.append(
            f'<rect x="{_fmt(pad_l + i * bar_w)}" y="{_fmt(10 + plot_h - bar_h)}" width="{_fmt(max(1.0, bar_w - 1))}" height="{_fmt(bar_h)}" fill="{PALETTE[0]}">'
            f"<title>{edges_a[i]:.2f}–{edges_a[i + 1]:.2f}: {int(count)}</title></rect>"
        )
    parts.append(f'<text x="{pad_l - 4}" y="16" text-anchor="end">{top}</text><text x="{pad_l - 4}" y="{10 + plot_h}" text-anchor="end">0</text>')
    parts.append(f'<text x="{pad_l}" y="{height - 8}">{edges_a[0]:.2f}</text>')
    parts.append(f'<text x="{width - 10}" y="{height - 8}" text-anchor="end">{edges_a[-1]:.2f} {escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def curves(series: Sequence[tuple[str, np.ndarray, np.ndarray]], *, x_label: str, y_label: str, diagonal: bool = False, size: int = 260) -> str:
    """Curves on the unit square (ROC, precision-recall), one colour per series, with a legend."""
    pad = 34
    plot = size - pad - 8
    height = size + 16 * len(series)

    def point(x: float, y: float) -> str:
        return f"{_fmt(pad + plot * x)},{_fmt(8 + plot * (1 - y))}"

    parts = [f'<svg class="chart" width="{size}" height="{height}" viewBox="0 0 {size} {height}" role="img">']
    parts.append(f'<rect x="{pad}" y="8" width="{plot}" height="{plot}" fill="none" stroke="#999"/>')
    if diagonal:
        parts.append(f'<polyline points="{point(0, 0)} {point(1, 1)}" fill="none" stroke="#bbb" stroke-dasharray="4 3"/>')
    for i, (name, xs, ys) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(point(float(x), float(y)) for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        parts.append(f'<text x="{pad}" y="{size + 12 + 16 * i}" fill="{colour}">{escape(name)}</text>')
    parts.append(f'<text x="{pad + plot / 2}" y="{size - 1}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="10" y="{8 + plot / 2}" transform="rotate(-90 10 {8 + plot / 2})" text-anchor="middle">{escape(y_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def peak_envelope(values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of at most ``max_points`` points keeping each block's maximum (peaks survive)."""
    n = len(values)
    if n <= max_points:
        return np.arange(n), values
    edges = np.linspace(0, n, max_points + 1).astype(int)
    peaks = np.maximum.reduceat(values, edges[:-1])
    return (edges[:-1] + edges[1:]) // 2, peaks


def salience_chart(
    frame_s: float,
    scores: np.ndarray,
    threshold_db: float,
    duration_s: float,
    picked: Sequence[dict],
    lost: Sequence[dict],
    *,
    width: int = 900,
    height: int = 180,
) -> str:
    """A recording's salience curve with its threshold, the picked windows and the candidates that lost.

    Every window is a ``<rect>`` carrying ``data-offset-s`` and ``data-duration-s`` (and
    ``data-key`` for a picked one), so the page states exactly which span it highlights.
    """
    pad_l, pad_b = 44, 24
    plot_w, plot_h = width - pad_l - 8, height - pad_b - 8
    index, values = peak_envelope(np.asarray(scores, dtype=np.float64), 1500)
    top = max(float(values.max()) if len(values) else 0.0, threshold_db * 1.5, 1.0)
    bottom = min(0.0, float(values.min()) if len(values) else 0.0)

    def x_of(t_s: float) -> float:
        return pad_l + plot_w * t_s / max(duration_s, 1e-9)

    def y_of(db: float) -> float:
        return 8 + plot_h * (1 - (db - bottom) / (top - bottom))

    parts = [f'<svg class="chart salience" data-duration-s="{duration_s}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for kind, windows, colour in (("lost", lost, "#bbbbbb"), ("picked", picked, "#2ca02c")):
        for w in windows:
            key = f' data-key="{escape(w["key"])}"' if w.get("key") else ""
            parts.append(
                f'<rect class="window {kind}" data-offset-s="{w["offset_s"]}" data-duration-s="{w["duration_s"]}"{key}'
                f' x="{_fmt(x_of(w["offset_s"]))}" y="8" width="{_fmt(max(1.0, x_of(w["offset_s"] + w["duration_s"]) - x_of(w["offset_s"])))}"'
                f' height="{plot_h}" fill="{colour}" fill-opacity="{0.35 if kind == "picked" else 0.3}">'
                f"<title>{kind} {w['offset_s']:.3f}–{w['offset_s'] + w['duration_s']:.3f} s, score {w.get('score', 0):.1f} dB</title></rect>"
            )
    points = " ".join(f"{_fmt(x_of((i + 0.5) * frame_s))},{_fmt(y_of(float(v)))}" for i, v in zip(index, values, strict=True))
    parts.append(f'<polyline class="curve" points="{points}" fill="none" stroke="#1f77b4" stroke-width="1"/>')
    parts.append(
        f'<line class="threshold" data-threshold-db="{threshold_db}" x1="{pad_l}" x2="{pad_l + plot_w}" y1="{_fmt(y_of(threshold_db))}" y2="{_fmt(y_of(threshold_db))}"'
        ' stroke="#d62728" stroke-dasharray="5 3"/>'
    )
    parts.append(f'<text x="{pad_l + plot_w}" y="{_fmt(y_of(threshold_db) - 3)}" text-anchor="end" fill="#d62728">threshold {threshold_db:g} dB</text>')
    parts.append(
        f'<text x="{pad_l - 4}" y="14" text-anchor="end">{top:.0f} dB</text><text x="{pad_l - 4}" y="{_fmt(y_of(bottom))}" text-anchor="end">{bottom:.0f}</text>'
    )
    parts.append(f'<text x="{pad_l}" y="{height - 6}">0 s</text><text x="{pad_l + plot_w}" y="{height - 6}" text-anchor="end">{duration_s:.1f} s</text>')
    parts.append(f'<rect x="{pad_l}" y="8" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/></svg>')
    return "".join(parts)
