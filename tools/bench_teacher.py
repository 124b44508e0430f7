"""What a teacher buys on real bird recordings with known truth: chunk precision/recall, and the student with and without distillation.

    python tools/bench_teacher.py WORK [--source-dir DIR] [--seed S] [--files-per-class N]
                                  [--epochs E] [--distill-weight W] [--train KEY=VALUE ...]
                                  [--no-train] [--json OUT]

1. The bird corpus (``tools/bird_corpus.py``: real calls from Debian packages planted at known
   offsets among real backgrounds and non-bird distractors) is written once to WORK/corpus.
2. It is built twice with the same settings: ``shardkit build corpus shards-no_teacher`` and
   ``shardkit build corpus shards-teacher --teacher birdnet``. Splits go by a hash of each
   recording's path, so both builds (and every student below) share the train/val/test split;
   the bench checks that they do.
3. Each build's chunks are scored against the truth (``tools/chunk_truth.py``): precision,
   recall (of the calls ``max_chunks_per_file`` chunks could hold) and the share of all calls,
   per class and overall, and split by recordings with and without distractors.
4. Students (the demo's training settings, ``--epochs`` epochs) are trained on the no-teacher
   shards, and on the teacher shards without (``--distill-weight 0``) and with distillation
   (``--distill-weight W``); each is evaluated on val and test (ROC-AUC, cmAP).

A step this shardkit cannot run yet (no ``--teacher`` on ``shardkit build``, no
``--distill-weight`` on ``shardkit train``) is reported as unavailable, and the rest still
runs. Every step is cached in WORK: a finished build (its manifest) or trained student (its
model) is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bird_corpus
import chunk_truth

from shardkit.jsonio import dumps

#: the build settings of both builds (a test split for the students' held-out figure)
BUILD_ARGS = ("--val-fraction", "0.2", "--test-fraction", "0.2")
#: the demo's training settings (shardkit/demo/demo.toml), which learn small corpora
DEMO_TRAIN_ARGS = (
    "--architecture",
    "dscnn_lite",
    "--alpha",
    "1.0",
    "--embeddings-size",
    "64",
    "--pooling",
    "max",
    "--batch-size",
    "16",
    "--learning-rate",
    "0.003",
)
TEACHER = "birdnet"


def shardkit_cli(*args: str) -> list[str]:
    """The command line of ``shardkit ARGS`` run with this interpreter."""
    return [sys.executable, "-m", "shardkit", *args]


def supports(command: str, option: str) -> bool:
    """Does ``shardkit COMMAND --help`` list ``option``?"""
    proc = subprocess.run(shardkit_cli(command, "--help"), capture_output=True, text=True, check=False)
    return option in proc.stdout


def run_logged(cmd: list[str], log: Path) -> None:
    """Run ``cmd``, its output to ``log``; raise with the log's tail when it fails."""
    with log.open("w") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"{' '.join(cmd[2:])} failed (exit {proc.returncode}); the end of {log}:\n{tail}")


# ---------------------------------------------------------------- steps


def corpus(work: Path, source_dir: Path, seed: int, files_per_class: int) -> Path:
    """WORK/corpus, written once."""
    root = work / "corpus"
    if not (root / "TRUTH.json").is_file():
        bird_corpus.assemble(root, source_dir, bird_corpus.full_layout(files_per_class), seed)
    return root


def build(corpus_dir: Path, work: Path, teacher: bool) -> dict:
    """One build of the corpus (cached); ``{"shards", "seconds"}`` or ``{"unavailable": why}``."""
    name = "teacher" if teacher else "no_teacher"
    out = work / f"shards-{name}"
    if teacher and not supports("build", "--teacher"):
        return {"unavailable": "shardkit build has no --teacher option"}
    if not (out / "manifest.json").is_file():
        started = time.perf_counter()
        run_logged(shardkit_cli("build", str(corpus_dir), str(out), *BUILD_ARGS, *(("--teacher", TEACHER) if teacher else ())), work / f"build-{name}.log")
        (work / f"build-{name}.seconds").write_text(f"{time.perf_counter() - started:.1f}\n")
    seconds = work / f"build-{name}.seconds"
    return {"shards": str(out), "seconds": float(seconds.read_text()) if seconds.is_file() else None}


def chunk_quality(shards: str, truth_path: Path) -> dict:
    """chunk_truth's report, plus the overall figures on recordings without and with distractors."""
    manifest, chunks = chunk_truth.read_chunks(shards)
    settings = manifest["settings"]
    kwargs = {
        "chunk_s": settings["max_segment_s"] if settings.get("variable_length") else settings["chunk_s"],
        "max_chunks": settings["max_chunks_per_file"],
        "negative_classes": set(manifest.get("negative_classes", [])),
    }
    truth = chunk_truth.read_truth(truth_path)
    report = chunk_truth.score(chunks, truth, **kwargs)
    for name, keep in (("without_distractors", lambda e: not e["distractors"]), ("with_distractors", lambda e: bool(e["distractors"]))):
        subset = {f: e for f, e in truth.items() if keep(e)}
        report[name] = chunk_truth.score([c for c in chunks if c["source"] in subset], subset, **kwargs)["overall"]
    return report


def splits_of(shards: str) -> dict[str, str]:
    """Each source's split in a build."""
    _, chunks = chunk_truth.read_chunks(shards)
    return {c["source"]: c["split"] for c in chunks}


def student(shards: str, work: Path, name: str, epochs: int, distill_weight: float | None, extra: list[str]) -> dict:
    """Train one student (cached) and evaluate it on val and test."""
    from shardkit.export.evaluate import evaluate

    out = work / f"train-{name}"
    model = out / "model.keras"
    if not model.is_file():
        args = ["train", shards, "--out", str(out), "--epochs", str(epochs), *DEMO_TRAIN_ARGS, *extra]
        if distill_weight is not None:
            args += ["--distill-weight", str(distill_weight)]
        started = time.perf_counter()
        run_logged(shardkit_cli(*args), work / f"train-{name}.log")
        (work / f"train-{name}.seconds").write_text(f"{time.perf_counter() - started:.1f}\n")
    row = {"shards": shards, "distill_weight": distill_weight}
    for split in ("val", "test"):
        report = evaluate(str(model), shards, split, out=str(out / f"eval-{split}"))
        row[split] = {"roc_auc": report["models"][0]["roc_auc"], "cmap": report["models"][0]["cmap"]}
    return row


def train_args(pairs: list[str]) -> list[str]:
    """``KEY=VALUE`` → ``--key value`` (underscores become dashes)."""
    args = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"bench_teacher: --train must be KEY=VALUE; got {pair!r}")
        args += [f"--{key.replace('_', '-')}", value]
    return args


# ---------------------------------------------------------------- tables


def quality_table(builds: dict) -> str:
    """Overall precision / recall per build, and on recordings without / with distractors."""
    rows = ["build        chunks  precision  recall  recall_all | no distractors: P / R | with distractors: P / R"]
    for name, result in builds.items():
        if "unavailable" in result:
            rows.append(f"{name:12s} unavailable: {result['unavailable']}")
            continue
        q, a, b = result["quality"]["overall"], result["quality"]["without_distractors"], result["quality"]["with_distractors"]
        rows.append(
            f"{name:12s} {q['chunks']:6d} {q['precision']:10.3f} {q['recall']:7.3f} {q['recall_all']:11.3f} |"
            f"        {a['precision']:.3f} / {a['recall']:.3f} |          {b['precision']:.3f} / {b['recall']:.3f}"
        )
    return "\n".join(rows)


def student_table(students: dict) -> str:
    """val / test ROC-AUC and cmAP per student."""
    rows = ["student                 val ROC-AUC  val cmAP  test ROC-AUC  test cmAP"]
    for name, row in students.items():
        if "unavailable" in row:
            rows.append(f"{name:22s}  unavailable: {row['unavailable']}")
        else:
            rows.append(f"{name:22s} {row['val']['roc_auc']:12.4f} {row['val']['cmap']:9.4f} {row['test']['roc_auc']:13.4f} {row['test']['cmap']:10.4f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: corpus, builds, chunk quality, students; tables printed, everything in --json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="folder for the corpus, the builds, the students and their logs (reused)")
    parser.add_argument("--source-dir", type=Path, help="Debian package cache (default: WORK/real-corpus-packages)")
    parser.add_argument("--seed", type=int, default=0, help="the corpus seed")
    parser.add_argument("--files-per-class", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=60, help="student epochs (the demo's 60)")
    parser.add_argument("--distill-weight", type=float, default=0.5, help="the distilled student's --distill-weight")
    parser.add_argument("--train", action="append", default=[], metavar="KEY=VALUE", help="extra shardkit train option for every student")
    parser.add_argument("--no-train", action="store_true", help="chunk quality only")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    extra = train_args(args.train)
    corpus_dir = corpus(work, (args.source_dir or work / "real-corpus-packages").resolve(), args.seed, args.files_per_class)
    truth = json.loads((corpus_dir / "TRUTH.json").read_text())
    result = {"corpus": {"files": len(truth["files"]), "seconds": round(sum(f["duration_s"] for f in truth["files"]), 1), "seed": truth["seed"]}}
    print(bird_corpus.class_table(truth))
    builds = {name: build(corpus_dir, work, teacher) for name, teacher in (("no_teacher", False), ("teacher", True))}
    for result_of in builds.values():
        if "shards" in result_of:
            result_of["quality"] = chunk_quality(result_of["shards"], corpus_dir / "TRUTH.json")
    available = [b["shards"] for b in builds.values() if "shards" in b]
    result["same_split"] = len({json.dumps(splits_of(s), sort_keys=True) for s in available}) == 1
    result["builds"] = builds
    for name, result_of in builds.items():
        if "quality" in result_of:
            print(f"\n{name}:\n{chunk_truth.format_table(result_of['quality'])}")
    print("\n" + quality_table(builds))
    if not args.no_train:
        students = {"no_teacher": student(builds["no_teacher"]["shards"], work, "no_teacher", args.epochs, None, extra)}
        if "shards" not in builds["teacher"]:
            students["teacher"] = students["teacher+distill"] = {"unavailable": builds["teacher"]["unavailable"]}
        else:
            distill = supports("train", "--distill-weight")
            students["teacher"] = student(builds["teacher"]["shards"], work, "teacher", args.epochs, 0.0 if distill else None, extra)
            students["teacher+distill"] = (
                student(builds["teacher"]["shards"], work, "teacher_distill", args.epochs, args.distill_weight, extra)
                if distill
                else {"unavailable": "shardkit train has no --distill-weight option"}
            )
        result["students"] = students
        print("\n" + student_table(students))
    print(f"\nsame split in every build: {result['same_split']}")
    if args.json:
        args.json.write_text(dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
