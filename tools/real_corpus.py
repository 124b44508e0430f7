"""Assemble a corpus of real animal recordings (and real non-animal noise) from audio shipped in Debian packages.

Nothing here is synthetic: every file is a recording copied byte for byte out of a Debian
package, into shardkit's input layout ``OUT_DIR/<class>/<file>`` (``noise`` is the negative
class), with ``OUT_DIR/SOURCES.json`` naming, for each file, the package, its version, the path
inside the package and the package's licence line.

Sources (their member lists were read; the rules below name what they hold):

- ``tuxpaint-stamps-default`` (about 160 MB): stamps/animals/<group>/<name>.ogg are real animal
  sounds (files with ``_desc`` in the name are spoken descriptions and are left out); the
  household, vehicle and weather stamps give real non-animal sounds.
- ``gcompris-qt-data`` (about 44 MB): each activity's files are packed in a Qt resource file
  (``.rcc``, entries optionally zlib-compressed); explore_farm_animals holds farm animal
  recordings, memory-sound, watercycle, canal_lock, traffic and railroad hold real sounds of
  engines, factories, rain, water and doors.

No PyPI package was found that ships real animal audio in its wheel or sdist (scikit-maad's
1.5.2 wheel and sdist hold none), so every source is a Debian package.

Packages are fetched with ``apt-get download`` (after one ``apt-get update`` if apt does not
know the package) and unpacked with ``dpkg-deb -x`` under the source directory
(default ``OUT_DIR/../real-corpus-packages``), where they are reused by later runs. The same
packages give the same corpus: members are listed sorted and classes come from a fixed rule
table (first matching rule wins).

``--small`` writes 2 classes x 3 farm-animal recordings (2-13 s each) from
``gcompris-qt-data``, the smallest package that has them, for tests on real chunks.

Usage::

    python tools/real_corpus.py OUT_DIR [--source-dir DIR] [--small]
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

AUDIO_SUFFIXES = (".ogg", ".wav", ".flac")
#: members whose path contains one of these are never taken (tuxpaint's spoken descriptions)
EXCLUDED = ("_desc",)
TUX = "tuxpaint-stamps-default"
GC = "gcompris-qt-data"
STAMPS = "usr/share/tuxpaint/stamps/"
RCC = "usr/share/gcompris-qt/rcc/"
FARM = RCC + "explore_farm_animals.rcc!*/animals/"
MEMORY = RCC + "memory-sound.rcc!*/resource/"


@dataclass(frozen=True)
class Rule:
    """Members of ``package`` whose path matches ``pattern`` (fnmatch; ``*`` crosses folders) go to ``label``."""

    label: str
    package: str
    pattern: str


#: the full corpus; first match wins, so the specific rules come before the catch-alls
RULES: tuple[Rule, ...] = (
    *(Rule("poultry", TUX, f"{STAMPS}animals/birds/{n}.ogg") for n in ("drake", "duck", "gander", "hen", "rooster", "turkey")),
    Rule("poultry", GC, FARM + "chickens.ogg"),
    Rule("poultry", GC, FARM + "duck.ogg"),
    Rule("wild_birds", TUX, STAMPS + "animals/birds/*.ogg"),
    Rule("wild_birds", GC, FARM + "owl.ogg"),
    Rule("bovids", TUX, STAMPS + "animals/mammals/bovines/*.ogg"),
    Rule("bovids", GC, FARM + "cow.ogg"),
    Rule("bovids", GC, FARM + "sheep.ogg"),
    *(Rule("domestic_mammals", TUX, f"{STAMPS}animals/mammals/{n}.ogg") for n in ("dogs/dog", "equines/donkey", "equines/horse", "pig*")),
    *(Rule("domestic_mammals", GC, f"{FARM}{n}.ogg") for n in ("pig", "horse", "dog", "cat")),
    Rule("domestic_mammals", GC, MEMORY + "LRBark_*.ogg"),
    Rule("wild_mammals", TUX, STAMPS + "animals/mammals/*.ogg"),
    Rule("wild_mammals", TUX, STAMPS + "animals/marsupials/*.ogg"),
    Rule("insects_frogs", TUX, STAMPS + "animals/insects/*.ogg"),
    Rule("insects_frogs", TUX, STAMPS + "animals/amphibians/*.ogg"),
    Rule("insects_frogs", GC, MEMORY + "LRFrogsInPond*.ogg"),
    Rule("noise", TUX, STAMPS + "household/*.ogg"),
    Rule("noise", TUX, STAMPS + "vehicles/emergency/*.ogg"),
    Rule("noise", TUX, STAMPS + "naturalforces/*.ogg"),
    *(
        Rule("noise", GC, f"{MEMORY}{n}")
        for n in ("LRStartAndStopCarEngine*", "LRFactory_noise_*", "LRDoor_Open*", "LRTrain_*", "LRRain_*", "LRObject_falling_*", "LRHits_*")
    ),
    Rule("noise", GC, RCC + "watercycle.rcc!*/harbor*.wav"),
    Rule("noise", GC, RCC + "canal_lock.rcc!*.wav"),
    Rule("noise", GC, RCC + "traffic.rcc!*/car.wav"),
    Rule("noise", GC, RCC + "railroad.rcc!*/train.wav"),
)

#: ``--small``: one package, 2 classes x 3 recordings of a few seconds
SMALL_RULES: tuple[Rule, ...] = (
    *(Rule("birds", GC, f"{FARM}{n}.ogg") for n in ("owl", "duck", "chickens")),
    *(Rule("mammals", GC, f"{FARM}{n}.ogg") for n in ("cow", "horse", "pig")),
)


class CorpusError(Exception):
    """A package that cannot be fetched or read; the CLI prints it as one line."""


@dataclass(frozen=True)
class Package:
    """One unpacked Debian package."""

    name: str
    version: str
    licence: str
    deb_bytes: int
    root: Path


# ---------------------------------------------------------------- fetching and unpacking


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip() and not line.startswith("W:")]
    return lines[-1].strip() if lines else f"exit status {proc.returncode}"


def download_deb(name: str, debs: Path) -> Path:
    """The ``.deb`` of ``name`` in ``debs``, fetched with ``apt-get download`` unless already there.

    Raises:
        CorpusError: apt-get is missing or cannot fetch the package (one line, with apt's reason).
    """
    cached = sorted(debs.glob(f"{name}_*.deb"))
    if cached:
        return cached[-1]
    if shutil.which("apt-get") is None:
        raise CorpusError(f"cannot fetch Debian package {name!r}: apt-get not found (a Debian-based system is needed)")
    debs.mkdir(parents=True, exist_ok=True)
    proc = _run(["apt-get", "download", name], cwd=debs)
    if proc.returncode != 0:
        _run(["apt-get", "update"])
        proc = _run(["apt-get", "download", name], cwd=debs)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if proc.returncode != 0 or not found:
        raise CorpusError(f"cannot fetch Debian package {name!r}: apt-get download failed: {_last_line(proc)}")
    return found[-1]


def _licence_line(root: Path, name: str) -> str:
    """The first ``License:`` line of the package's Debian copyright file (the ``Files: *`` stanza comes first)."""
    copyright_file = root / "usr" / "share" / "doc" / name / "copyright"
    if not copyright_file.is_file():
        raise CorpusError(f"Debian package {name!r} has no copyright file at {copyright_file.relative_to(root)}")
    for line in copyright_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("License:"):
            return line.removeprefix("License:").strip()
    raise CorpusError(f"Debian package {name!r}: no 'License:' line in {copyright_file.relative_to(root)}")


def fetch_package(name: str, source_dir: Path) -> Package:
    """Download (once) and unpack (once) the Debian package ``name`` under ``source_dir``."""
    deb = download_deb(name, source_dir / "debs")
    fields = _run(["dpkg-deb", "-f", str(deb), "Version"])
    if fields.returncode != 0:
        raise CorpusError(f"cannot read Debian package {deb.name}: {_last_line(fields)}")
    root = source_dir / "unpacked" / deb.stem
    if not (root / ".unpacked").is_file():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        proc = _run(["dpkg-deb", "-x", str(deb), str(root)])
        if proc.returncode != 0:
            raise CorpusError(f"cannot unpack Debian package {deb.name}: {_last_line(proc)}")
        (root / ".unpacked").write_text(deb.name)
    return Package(name, fields.stdout.strip(), _licence_line(root, name), deb.stat().st_size, root)


# ---------------------------------------------------------------- members: plain files and Qt resources


def rcc_entries(blob: bytes) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Every file of a Qt resource (``.rcc``) blob as (path, reader of its bytes), in the file's own tree order.

    Format: ``qres``, version, tree/data/names offsets (big-endian u32). A tree node is name
    offset u32, flags u16, then either child count u32 + first child u32 (flag 2, a folder) or
    country u16, language u16, data offset u32; version >= 2 adds an 8-byte modification time.
    A data entry is its size u32 then the bytes; flag 1 means a u32 length then a zlib stream.

    Raises:
        CorpusError: not an rcc blob, or an entry compressed with zstd (flag 4).
    """
    if blob[:4] != b"qres":
        raise CorpusError(f"not a Qt resource file: magic must be b'qres'; got {blob[:4]!r}")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_bytes = 22 if version >= 2 else 14

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        return blob[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> Iterator[tuple[str, Callable[[], bytes]]]:
        at = tree + index * node_bytes
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        path = prefix + name_at(name_offset) if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            for child in range(first, first + count):
                yield from walk(child, f"{path}/" if path else "")
            return
        (data_offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
        start = data + data_offset
        (size,) = struct.unpack(">I", blob[start : start + 4])
        payload = blob[start + 4 : start + 4 + size]
        if flags & 4:
            raise CorpusError(f"Qt resource entry {path} is zstd-compressed; only zlib entries are supported")
        yield path, (lambda: zlib.decompress(payload[4:])) if flags & 1 else (lambda: payload)

    yield from walk(0, "")


def iter_members(root: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Audio files in an unpacked package, sorted: plain files as their path, rcc entries as ``RCC_PATH!ENTRY``."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix.lower() in AUDIO_SUFFIXES:
            yield rel, path.read_bytes
        elif path.suffix == ".rcc":
            entries = dict(rcc_entries(path.read_bytes()))
            for entry in sorted(e for e in entries if e.lower().endswith(AUDIO_SUFFIXES)):
                yield f"{rel}!{entry}", entries[entry]


def classify(package: str, member: str, rules: tuple[Rule, ...]) -> str | None:
    """The label of the first rule matching ``member`` of ``package``; None when none does or it is excluded."""
    if any(word in member for word in EXCLUDED):
        return None
    return next((r.label for r in rules if r.package == package and fnmatch.fnmatchcase(member, r.pattern)), None)


def file_name(package: str, member: str) -> str:
    """A flat, stable file name for a member: package prefix, then the member's path without shared folders."""
    inner = member.split("!")[-1]
    for prefix in (STAMPS, "gcompris/src/activities/"):
        inner = inner.removeprefix(prefix)
    short = package.split("-")[0]
    return f"{short}__{inner.replace('/', '__')}"


# ---------------------------------------------------------------- the corpus


def assemble(out_dir: Path, source_dir: Path, rules: tuple[Rule, ...]) -> list[dict]:
    """Write ``out_dir/<class>/<file>`` and ``out_dir/SOURCES.json`` from the packages the rules name.

    Returns:
        One record per written file (the content of SOURCES.json's ``files``), sorted by path.
    """
    records = []
    for name in sorted({r.package for r in rules}):
        package = fetch_package(name, source_dir)
        for member, read in iter_members(package.root):
            label = classify(name, member, rules)
            if label is None:
                continue
            data = read()
            target = out_dir / label / file_name(name, member)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            info = sf.info(str(target))
            records.append(
                {
                    "file": target.relative_to(out_dir).as_posix(),
                    "class": label,
                    "package": name,
                    "package_version": package.version,
                    "package_deb_bytes": package.deb_bytes,
                    "path_in_package": member,
                    "licence": package.licence,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "duration_s": round(info.duration, 3),
                    "sample_rate_hz": info.samplerate,
                    "channels": info.channels,
                }
            )
    records.sort(key=lambda r: r["file"])
    if len({r["file"] for r in records}) != len(records):
        raise CorpusError("two package members map to the same corpus file name; make file_name() longer")
    (out_dir / "SOURCES.json").write_text(json.dumps({"files": records}, indent=1) + "\n")
    return records


def class_table(records: list[dict]) -> str:
    """Per-class counts: files, total seconds, files under 0.5 s (shorter than the build's default min_file_s)."""
    rows = ["class                files  seconds  <0.5s  packages"]
    for label in sorted({r["class"] for r in records}):
        mine = [r for r in records if r["class"] == label]
        packages = ", ".join(sorted({r["package"] for r in mine}))
        short = sum(r["duration_s"] < 0.5 for r in mine)
        rows.append(f"{label:20s} {len(mine):5d} {sum(r['duration_s'] for r in mine):8.1f} {short:6d}  {packages}")
    rows.append(f"{'total':20s} {len(records):5d} {sum(r['duration_s'] for r in records):8.1f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: assemble the corpus, print the class table; a fetch failure is one line and exit status 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="where to write <class>/<file> and SOURCES.json")
    parser.add_argument("--source-dir", type=Path, help="package cache (default: OUT_DIR/../real-corpus-packages)")
    parser.add_argument("--small", action="store_true", help="2 classes x 3 recordings from the smallest package")
    args = parser.parse_args(argv)
    out_dir = args.out_dir.resolve()
    source_dir = (args.source_dir or out_dir.parent / "real-corpus-packages").resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        print(f"real_corpus: OUT_DIR must be empty or absent; got {out_dir} with files in it", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        records = assemble(out_dir, source_dir, SMALL_RULES if args.small else RULES)
    except CorpusError as exc:
        print(f"real_corpus: {exc}", file=sys.stderr)
        return 2
    print(class_table(records))
    for name, size in sorted({(r["package"], r["package_deb_bytes"]) for r in records}):
        print(f"package {name}: {size / 1e6:.1f} MB .deb")
    print(f"{len(records)} files in {out_dir} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
