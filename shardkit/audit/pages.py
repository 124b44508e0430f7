"""The audit's pages, composed from the site's parts: overview, one page per class, recordings, model."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

from shardkit.audit import svg
from shardkit.audit.models import confusion, counts_at, pr_curve, roc_curve
from shardkit.audit.recordings import RecordingView
from shardkit.audit.site import Raw, json_block, section, table

#: most rows a table of failed files or shards shows (the rest are counted)
MAX_ROWS = 500


def _capped(rows: list, note: str) -> tuple[list, str]:
    if len(rows) <= MAX_ROWS:
        return rows, ""
    return rows[:MAX_ROWS], f"<p class=muted>… and {len(rows) - MAX_ROWS:,} more {note} (all in the shard folder's files)</p>"


def overview_body(url: str, manifest: dict, skipped: list[dict], class_pages: dict[str, str]) -> str:
    """Splits, classes, hours, durations, skipped inputs, shards, settings and the teacher's notice."""
    parts = []
    teacher = manifest.get("teacher")
    if teacher:
        parts.append(
            f"<p class=notice id=teacher-notice><b>Teacher {escape(str(teacher['name']))}</b> ({escape(str(teacher.get('licence', '')))}): {escape(str(teacher.get('notice', '')))}</p>"
        )
    inputs = manifest.get("inputs", {})
    facts = [
        ("shards", url),
        ("format", manifest.get("format")),
        ("tool version", manifest.get("tool_version")),
        ("classes", ", ".join(manifest.get("classes", []))),
        ("negative classes", ", ".join(manifest.get("negative_classes", [])) or None),
        ("sample rate", f"{manifest.get('sample_rate')} Hz"),
        ("codec", manifest.get("codec")),
        ("recordings processed", inputs.get("recordings_processed")),
        ("decoded", f"{(inputs.get('decoded_s') or 0) / 3600:.3f} h"),
        ("skipped inputs", inputs.get("skipped")),
    ]
    parts.append(table(None, facts, attrs=" id=facts"))
    splits = manifest["splits"]
    parts.append(
        section(
            "Splits",
            table(
                ["split", "samples", "hours", "shards", "bytes"],
                [(name, s["samples"], s["seconds"] / 3600, len(s["shards"]), sum(x["bytes"] for x in s["shards"])) for name, s in splits.items()],
                numeric=(1, 2, 3, 4),
                attrs=" id=splits",
            ),
        )
    )
    names = sorted({c for s in splits.values() for c in s["classes"]})
    per_class_rows = []
    for name in names:
        link = Raw(f'<a href="{escape(class_pages[name])}">{escape(name)}</a>') if name in class_pages else name
        per_class_rows.append([link, *(splits[s]["classes"].get(name, 0) for s in splits), *(splits[s]["class_seconds"].get(name, 0.0) / 3600 for s in splits)])
    plots = "".join(
        f"<div><h3>{escape(split)}: samples per class</h3>{svg.bar_chart(names, [s['classes'].get(n, 0) for n in names])}"
        f"<h3>{escape(split)}: hours per class</h3>{svg.bar_chart(names, [s['class_seconds'].get(n, 0.0) / 3600 for n in names], unit=' h')}</div>"
        for split, s in splits.items()
    )
    parts.append(
        section(
            "Classes",
            table(
                ["class", *(f"{s} samples" for s in splits), *(f"{s} hours" for s in splits)],
                per_class_rows,
                numeric=tuple(range(1, 1 + 2 * len(splits))),
                attrs=" id=classes",
            )
            + f"<div class=row>{plots}</div>",
        )
    )
    hists = "".join(
        f"<div><h3>{escape(split)}</h3>{svg.histogram(s['duration_histogram']['edges_s'], s['duration_histogram']['counts'], x_label='s')}</div>"
        for split, s in splits.items()
        if "duration_histogram" in s
    )
    parts.append(section("Chunk durations", f"<div class=row>{hists}</div>"))
    by_reason = inputs.get("skipped_by_reason", {})
    failed_rows, more = _capped([(s.get("source"), s.get("reason"), s.get("detail")) for s in skipped], "skipped inputs")
    skipped_html = (
        table(["reason", "inputs"], sorted(by_reason.items()), numeric=(1,), attrs=" id=skipped-by-reason")
        + table(["file", "reason", "detail"], failed_rows, attrs=" id=failed-files")
        + more
        if skipped or by_reason
        else "<p class=empty>no input was skipped</p>"
    )
    ignored = inputs.get("ignored_by_reason", {})
    if ignored:
        skipped_html += "<p>Ignored (not audio): " + ", ".join(f"{k} {v}" for k, v in sorted(ignored.items())) + "</p>"
    parts.append(section("Skipped inputs", skipped_html))
    shard_rows, more = _capped(
        [(split, x["name"], x["samples"], x["seconds"], x["bytes"], x["sha256"]) for split, s in splits.items() for x in s["shards"]], "shards"
    )
    parts.append(
        section("Shards", table(["split", "shard", "samples", "seconds", "bytes", "sha256"], shard_rows, numeric=(2, 3, 4), attrs=" id=shards") + more)
    )
    if teacher:
        audit = teacher.get("audit", [])
        audit_rows, more = _capped(
            [(e.get("source"), e.get("class"), e.get("teacher_top1"), e.get("confidence"), e.get("class_p")) for e in audit], "audit entries"
        )
        teacher_html = (
            table(["class", "teacher label"], [(k, v or "unmapped") for k, v in teacher.get("mapping", {}).items()], attrs=" id=teacher-mapping")
            + table(
                ["candidates", "windows", "ranked recordings", "teacher seconds", "x real time"],
                [(teacher.get("candidates"), teacher.get("windows"), teacher.get("ranked_recordings"), teacher.get("seconds"), teacher.get("x_realtime"))],
                numeric=(0, 1, 2, 3, 4),
            )
            + "<h3>Label audit: recordings whose teacher top-1 contradicts their folder</h3>"
            + (
                table(["recording", "folder", "teacher hears", "confidence", "folder's class p"], audit_rows, numeric=(3, 4), attrs=" id=teacher-audit") + more
                if audit
                else "<p class=empty>none</p>"
            )
        )
        parts.append(section("Teacher", teacher_html))
    parts.append(section("Build settings", json_block(manifest.get("settings", {}))))
    return "".join(parts)


def recording_section(view: RecordingView, anchor: str) -> str:
    """One recording: its salience curve with the picked and losing windows, and their tables."""
    chart = svg.salience_chart(view.frame_s, view.scores, view.threshold_db, view.duration_s, view.picked, view.lost)
    picked = table(
        ["key", "offset s", "duration s", "rank", "score dB"],
        [(p["key"], p["offset_s"], p["duration_s"], p["rank"], p["score"]) for p in view.picked],
        numeric=(1, 2, 3, 4),
        attrs=" class=picked",
    )
    lost = (
        table(
            ["offset s", "duration s", "detector rank", "score dB"],
            [(c["offset_s"], c["duration_s"], c["rank"], c["score"]) for c in view.lost],
            numeric=(0, 1, 2, 3),
            attrs=" class=lost",
        )
        if view.lost
        else "<p class=empty>no other candidate reached the threshold</p>"
    )
    body = (
        f"<p>{view.duration_s:.1f} s; threshold {view.threshold_db:g} dB over each band's noise floor. "
        "Green: the windows stored in the shards; grey: candidates that lost (below the chunk limit, or re-ranked by the teacher).</p>"
        f"{chart}<h3>Picked</h3>{picked}<h3>Candidates that lost</h3>{lost}"
    )
    return f'<section class=recording id="{escape(anchor)}" data-source="{escape(view.source)}"><h2>{escape(view.source)}</h2>{body}</section>'


def model_body(scored, config, names: Sequence[str], clip_rows: dict[str, str]) -> str:
    """Headline metrics (the evaluation report's own), curves, counts at the threshold, and the clips to hear first."""
    report = scored.report
    classes = report["classes"]
    kinds = [m["kind"] for m in report["models"]]
    head = table(
        ["model", "kind", "samples", "ROC-AUC", "cmAP"],
        [
            (
                m["path"],
                m["kind"],
                report["samples"],
                Raw(f"<span class=metric data-metric=roc_auc data-model={i}>{m['roc_auc']:.4f}</span>"),
                Raw(f"<span class=metric data-metric=cmap data-model={i}>{m['cmap']:.4f}</span>"),
            )
            for i, m in enumerate(report["models"])
        ],
        numeric=(2, 3, 4),
        attrs=" id=headline",
    )
    per_class = table(
        ["class", "positives", *(f"{k} AP" for k in kinds), *(f"{k} ROC-AUC" for k in kinds)],
        [
            (
                name,
                report["models"][0]["per_class"][name]["positives"],
                *(_metric(m["per_class"][name]["ap"], "ap", i, name) for i, m in enumerate(report["models"])),
                *(_metric(m["per_class"][name]["roc_auc"], "class_roc_auc", i, name) for i, m in enumerate(report["models"])),
            )
            for name in classes
        ],
        numeric=tuple(range(1, 2 + 2 * len(kinds))),
        attrs=" id=per-class",
    )
    parts = [f"<p>The {report['split']!r} split, scored as <code>shardkit evaluate</code> scores it.</p>", head, per_class]
    if "agreement" in report:
        a = report["agreement"]
        parts.append(
            table(
                ["cosine mean", "cosine p5", "cosine min", "max |diff|", "top-1 agreement"],
                [(a["cosine_mean"], a["cosine_p5"], a["cosine_min"], a["max_abs_diff"], a["top1_agreement"])],
                numeric=(0, 1, 2, 3, 4),
                attrs=" id=agreement",
            )
        )
    truth = scored.labels >= 0.5
    curves = []
    for c, name in enumerate(classes):
        roc = [(kind, *roc_curve(truth[:, c], s[:, c])) for kind, s in zip(kinds, scored.scores, strict=True)]
        pr = [(kind, *pr_curve(truth[:, c], s[:, c])) for kind, s in zip(kinds, scored.scores, strict=True)]
        if len(roc[0][1]):
            curves.append(
                f"<div><h3>{escape(name)}</h3>{svg.curves(roc, x_label='false positive rate', y_label='true positive rate', diagonal=True)}{svg.curves(pr, x_label='recall', y_label='precision')}</div>"
            )
    parts.append(
        section(
            "ROC and precision-recall per class",
            f"<div class=row>{''.join(curves)}</div>" if curves else "<p class=empty>no class has both positives and negatives</p>",
        )
    )
    counts = []
    for kind, s in zip(kinds, scored.scores, strict=True):
        rows = counts_at(scored.labels, s, config.threshold)
        counts.append(
            f"<h3>{escape(kind)}</h3>"
            + table(
                ["class", "TP", "FP", "FN", "TN", "precision", "recall"],
                [(n, r["tp"], r["fp"], r["fn"], r["tn"], r["precision"], r["recall"]) for n, r in zip(classes, rows, strict=True)],
                numeric=(1, 2, 3, 4, 5, 6),
            )
        )
        matrix = confusion(scored.labels, s, config.threshold)
        axis = [*classes, "none"]
        counts.append(
            table(
                ["true \\ predicted", *axis],
                [(axis[i], *(int(v) for v in row)) for i, row in enumerate(matrix)],
                numeric=tuple(range(1, len(axis) + 1)),
                attrs=" class=confusion",
            )
        )
    parts.append(section(f"Counts at threshold {config.threshold:g}", "".join(counts)))
    for title, anchor in (("Largest float-vs-INT8 divergence", "divergence"), ("Worst errors", "worst")):
        if anchor in clip_rows:
            parts.append(section(title, clip_rows[anchor], anchor))
    return "".join(parts)


def _metric(value: float | None, metric: str, model: int, name: str) -> Raw | None:
    if value is None:
        return None
    return Raw(f'<span class=metric data-metric={metric} data-model={model} data-class="{escape(name)}">{value:.4f}</span>')


def clip_table(rows: list[dict], kinds: Sequence[str], classes: Sequence[str], anchor: str) -> str:
    """Clips with their audio, labels and every model's scores."""
    body = []
    for row in rows:
        scores = [", ".join(f"{c} {v:.3f}" for c, v in zip(classes, np.asarray(s), strict=True)) for s in row["scores"]]
        body.append((Raw(row["audio"]), row["key"], row["labels"] or "none", row["value"], *scores))
    return table(
        ["listen", "key", "labels", "gap" if anchor == "divergence" else "error", *(f"{k} scores" for k in kinds)],
        body,
        numeric=(3,),
        attrs=f' class=clips id="{anchor}-clips"',
    )
