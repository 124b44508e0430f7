"""Field-style bird recordings with known truth: real calls from Debian packages planted in real background.

Every sound in the corpus is a real recording shipped in a Debian package (the fetching and
Qt-resource reading of ``tools/real_corpus.py`` is imported, not copied):

- calls of 9 bird species: Tux Paint's stamp sounds (``tuxpaint-stamps-default``), GCompris'
  farm owl (``gcompris-qt-data``) and Sonic Pi's crow sample (``sonic-pi-samples``). Each class
  folder is the species' BirdNET v2.4 common name with underscores (``Common_Cuckoo``), so a
  teacher maps it by name. The species were chosen by running BirdNET v2.4 on every bird sound
  of the packages (``--birdnet-check`` repeats the check on the cut calls): kept where its
  top-1 label is a species that agrees with the package's own name. Where the package's name
  is generic (``blackbird``, ``lark``, ``crow``, ``owl``) the class is the species BirdNET
  names; the quetzal (BirdNET: Blue Crane, 0.90), Tux Paint's owl, duck, hen, rooster, goose,
  drake, rhea, penguin, gull and vulture and GCompris' chickens and duck were left out (top-1
  another species or a non-bird, or below 0.2).
- backgrounds: rain, running water, a canal lock filling, a harbour, a train, a washing
  machine (GCompris, Tux Paint), looped with random offsets and cross-fades, mixed with
  coloured noise; a third of the files have coloured noise only.
- distractors: loud non-bird events (doors, engines, dogs, farm mammals, falls, hits, a
  kettle, a vacuum cleaner, thunder, a siren), planted like the calls so that an energy-based
  crop can pick them instead of a call.

Calls are cut from each species' recording where its frame energy stands out (gaps under
0.3 s closed), and planted whole at seeded offsets, at an in-band SNR (the call's central
95 %-energy band vs the background's power in that band over the same samples, the demo
corpus' definition, ``shardkit.audio.synthetic``). Calls and distractors never overlap.
A file of class ``noise`` holds background and distractors only.

Written: ``OUT_DIR/<class>/<class>_<index>.flac`` (16-bit FLAC, 44.1 kHz, 20-90 s),
``OUT_DIR/TRUTH.json`` (per file: class, duration, the planted calls and distractors with
``start_s``, ``end_s``, source and SNR) and ``OUT_DIR/SOURCES.json`` (every package member
used: package, version, licence line, path, sha256, role). The same packages and seed give the
same corpus, byte for byte.

``--small``: 2 species (American_Crow, Great_Horned_Owl: the two smallest packages) x 2 files
and 1 noise file of 20-30 s, for tests.

Usage::

    python tools/bird_corpus.py OUT_DIR [--source-dir DIR] [--seed S] [--files-per-class N] [--small]
    python tools/bird_corpus.py OUT_DIR --birdnet-check    # BirdNET v2.4 on the cut calls, per species
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_corpus import FARM, GC, MEMORY, RCC, STAMPS, TUX, CorpusError, fetch_package, file_name, iter_members

from shardkit.audio.synthetic import background_noise, plant_calls
from shardkit.audio.synthetic import draw_offsets as synthetic_offsets
from shardkit.jsonio import dumps

SONIC = "sonic-pi-samples"
SAMPLE_RATE_HZ = 44100
NOISE_CLASS = "noise"
DURATION_S = (20.0, 90.0)
SMALL_DURATION_S = (20.0, 30.0)
#: a focal field recording: the recordist follows one calling bird (several calls); other
#: sounds are occasional and as loud as the calls (drawn in the same SNR range)
CALLS_PER_FILE = (2, 8)  # inclusive
DISTRACTORS_PER_FILE = (0, 2)  # inclusive; noise files get one more
CALL_SNR_DB = (0.0, 20.0)
DISTRACTOR_SNR_DB = (0.0, 20.0)
BACKGROUND_DBFS = (-42.0, -30.0)
COLOURED_ONLY_FRACTION = 1 / 3
COLOURED_UNDER_REAL_DB = (8.0, 20.0)  # coloured noise this far below the real background
MIN_GAP_S = 0.75  # between two planted events
EDGE_MARGIN_S = 0.5
MAX_EVENT_SHARE = 0.5  # events may fill at most half a file; the last drawn are dropped to fit
FADE_S = 0.01
MAX_PEAK = 0.9
#: cutting calls out of a species' recording
CUT_FRAME_S = 0.01
SILENT_RMS = 1e-6  # a recording never louder than this (-120 dBFS) holds nothing to cut
CUT_BELOW_PEAK_DB = 30.0
CUT_ABOVE_FLOOR_DB = 12.0
CUT_DENSE_DB = 3.0  # a dense recording (no quiet floor) keeps frames down to this below its median
CUT_CLOSE_GAP_S = 0.3
CUT_MIN_S = 0.1
CUT_PAD_S = 0.05


@dataclass(frozen=True)
class Species:
    """One bird class: its folder, its BirdNET label and the package member its calls come from."""

    folder: str
    birdnet_label: str
    package: str
    member: str


SPECIES: tuple[Species, ...] = (
    Species("American_Crow", "Corvus brachyrhynchos_American Crow", SONIC, "usr/share/sonic-pi/samples/misc_crow.flac"),
    Species("Carrion_Crow", "Corvus corone_Carrion Crow", TUX, STAMPS + "animals/birds/crow.ogg"),
    Species("Common_Cuckoo", "Cuculus canorus_Common Cuckoo", TUX, STAMPS + "animals/birds/cuckoo.ogg"),
    Species("Great_Blue_Heron", "Ardea herodias_Great Blue Heron", TUX, STAMPS + "animals/birds/heron_greatblue_flying.ogg"),
    Species("Great_Horned_Owl", "Bubo virginianus_Great Horned Owl", GC, FARM + "owl.ogg"),
    Species("Keel-billed_Toucan", "Ramphastos sulfuratus_Keel-billed Toucan", TUX, STAMPS + "animals/birds/tucan.ogg"),
    Species("Red-winged_Blackbird", "Agelaius phoeniceus_Red-winged Blackbird", TUX, STAMPS + "animals/birds/blackbird.ogg"),
    Species("Western_Meadowlark", "Sturnella neglecta_Western Meadowlark", TUX, STAMPS + "animals/birds/lark.ogg"),
    Species("Wild_Turkey", "Meleagris gallopavo_Wild Turkey", TUX, STAMPS + "animals/birds/turkey.ogg"),
)
SMALL_SPECIES = ("American_Crow", "Great_Horned_Owl")

#: (package, member pattern: fnmatch, ``*`` crosses folders, one member each) of every background;
#: harbor2 is left out (BirdNET hears gulls in it)
BACKGROUNDS: tuple[tuple[str, str], ...] = (
    (GC, MEMORY + "LRRain_in_garden_01_LA_cut.ogg"),
    (GC, MEMORY + "LRTrain_slowing_down_01_LA_cut.ogg"),
    (GC, RCC + "canal_lock.rcc!*/water_fill.wav"),
    (GC, RCC + "watercycle.rcc!*/harbor1.wav"),
    (GC, RCC + "*!*/core/resource/sounds/water.wav"),
    (TUX, STAMPS + "household/Washing-machine.ogg"),
)
#: loud non-bird events
DISTRACTORS: tuple[tuple[str, str], ...] = (
    *((GC, MEMORY + name) for name in ("LRBark_1_LA_cut.ogg", "LRBark_3_LA_cut.ogg", "LRDoor_Open_2_LA.ogg", "LRStartAndStopCarEngine1LACut.ogg")),
    *((GC, MEMORY + name) for name in ("LRHits_01_LA.ogg", "LRObject_falling_01_LA.ogg", "LRObject_falling_02_LA.ogg", "LRFactory_noise_01_LA.ogg")),
    *((GC, RCC + f"canal_lock.rcc!*/{name}") for name in ("door_close.wav", "door_open.wav", "lock.wav")),
    *((GC, FARM + f"{name}.ogg") for name in ("dog", "cow", "horse", "pig", "sheep", "cat")),
    *((TUX, STAMPS + name) for name in ("household/kettle.ogg", "household/vacuum_cleaner.ogg", "naturalforces/lightningbolt.ogg")),
    *((TUX, STAMPS + name) for name in ("vehicles/emergency/firetruck.ogg", "animals/mammals/dogs/dog.ogg", "animals/mammals/equines/donkey.ogg")),
)
#: ``--small``: only the two smallest packages
SMALL_BACKGROUNDS = tuple(b for b in BACKGROUNDS if b[0] == GC)
SMALL_DISTRACTORS = tuple(d for d in DISTRACTORS if d[0] == GC)


@dataclass(frozen=True)
class Clip:
    """A package member decoded to mono float64 at ``SAMPLE_RATE_HZ``, with the events cut from it."""

    name: str
    audio: np.ndarray
    spans: tuple[tuple[int, int], ...]  # active regions (sample indices) found by cut_spans


@dataclass(frozen=True)
class Layout:
    """What one corpus is made of."""

    species: tuple[Species, ...]
    backgrounds: tuple[tuple[str, str], ...]
    distractors: tuple[tuple[str, str], ...]
    files_per_class: int
    noise_files: int
    duration_s: tuple[float, float]


def full_layout(files_per_class: int) -> Layout:
    """Every species, background and distractor; ``files_per_class`` files per class and as many noise files."""
    return Layout(SPECIES, BACKGROUNDS, DISTRACTORS, files_per_class, files_per_class, DURATION_S)


SMALL_LAYOUT = Layout(tuple(s for s in SPECIES if s.folder in SMALL_SPECIES), SMALL_BACKGROUNDS, SMALL_DISTRACTORS, 2, 1, SMALL_DURATION_S)


# ---------------------------------------------------------------- pure signal helpers


def cut_spans(audio: np.ndarray, sample_rate_hz: int) -> list[tuple[int, int]]:
    """Active regions of a clean recording: frames whose level stands out, short gaps closed.

    A 10 ms frame is active when its RMS level is within ``CUT_BELOW_PEAK_DB`` of the loudest
    frame and at least ``CUT_ABOVE_FLOOR_DB`` above the 10th-percentile frame (or, in a dense
    recording without such a floor, down to ``CUT_DENSE_DB`` below the median frame); active runs closer
    than ``CUT_CLOSE_GAP_S`` are joined and runs shorter than ``CUT_MIN_S`` dropped.

    Returns:
        ``(start, end)`` sample indices, in order (empty for silence).
    """
    frame = max(1, int(round(CUT_FRAME_S * sample_rate_hz)))
    n_frames = len(audio) // frame
    if n_frames == 0:
        return []
    rms = np.sqrt(np.mean(audio[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)) + 1e-12
    if rms.max() < SILENT_RMS:
        return []
    level_db = 20.0 * np.log10(rms)
    peak_db = level_db.max()
    threshold = max(peak_db - CUT_BELOW_PEAK_DB, min(np.percentile(level_db, 10) + CUT_ABOVE_FLOOR_DB, np.median(level_db) - CUT_DENSE_DB))
    active = np.flatnonzero(level_db >= threshold)
    if len(active) == 0:
        return []
    runs, start, last = [], active[0], active[0]
    close = int(round(CUT_CLOSE_GAP_S / CUT_FRAME_S))
    for index in active[1:]:
        if index - last > close:
            runs.append((start, last + 1))
            start = index
        last = index
    runs.append((start, last + 1))
    min_frames = int(round(CUT_MIN_S / CUT_FRAME_S))
    return [(int(a * frame), int(b * frame)) for a, b in runs if b - a >= min_frames]


def faded(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """``audio`` with ``FADE_S`` raised-cosine fades at both ends (no click where it is planted)."""
    n = min(len(audio) // 2, int(round(FADE_S * sample_rate_hz)))
    out = np.array(audio, dtype=np.float64)
    if n:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def excerpt(clip: Clip, span: tuple[int, int], sample_rate_hz: int) -> tuple[np.ndarray, int]:
    """A span of a clip with ``CUT_PAD_S`` of context each side, faded; and where the span starts in it."""
    pad = int(round(CUT_PAD_S * sample_rate_hz))
    lo, hi = max(0, span[0] - pad), min(len(clip.audio), span[1] + pad)
    return faded(clip.audio[lo:hi], sample_rate_hz), span[0] - lo


def looped(rng: np.random.Generator, audio: np.ndarray, n_samples: int, sample_rate_hz: int) -> np.ndarray:
    """``n_samples`` of ``audio`` repeated from random offsets, joined by 50 ms equal-power cross-fades."""
    fade = min(len(audio) // 4, int(0.05 * sample_rate_hz))
    out = np.zeros(n_samples + fade)
    at = 0
    ramp = np.sqrt((np.arange(fade) + 0.5) / fade) if fade else np.zeros(0)
    while at < n_samples:
        start = int(rng.integers(0, max(1, len(audio) // 2)))
        piece = np.array(audio[start:], dtype=np.float64)
        if fade:
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
        piece = piece[: len(out) - at]
        out[at : at + len(piece)] += piece
        at += max(1, len(piece) - fade)
    return out[:n_samples]


def unit_rms(audio: np.ndarray) -> np.ndarray:
    """``audio`` scaled to RMS 1 (zeros stay zeros)."""
    rms = float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0
    return audio / rms if rms > 0 else audio


def draw_offsets(rng: np.random.Generator, n_total: int, lengths: list[int], sample_rate_hz: int) -> list[int]:
    """Random non-overlapping offsets for events of ``lengths`` (in the given order): the demo corpus's draw with this corpus's margins.

    Raises:
        ValueError: the events do not fit.
    """
    return synthetic_offsets(rng, n_total, lengths, sample_rate_hz, edge_s=EDGE_MARGIN_S, gap_s=MIN_GAP_S, what="events")


# ---------------------------------------------------------------- one recording (pure)


def file_rng(seed: int, class_index: int, file_index: int) -> np.random.Generator:
    """The generator of one file: independent of every other file's draws."""
    return np.random.default_rng([seed, class_index, file_index])


def make_background(rng: np.random.Generator, n_samples: int, backgrounds: list[Clip], sample_rate_hz: int) -> tuple[np.ndarray, list[str]]:
    """Real backgrounds (one or two, looped) under coloured noise, or coloured noise only; RMS set in ``BACKGROUND_DBFS``."""
    coloured = background_noise(rng, n_samples, sample_rate_hz)
    names: list[str] = ["coloured_noise"]
    if rng.random() >= COLOURED_ONLY_FRACTION:
        picks = rng.choice(len(backgrounds), size=min(int(rng.integers(1, 3)), len(backgrounds)), replace=False)
        real = sum(unit_rms(looped(rng, backgrounds[i].audio, n_samples, sample_rate_hz)) * rng.uniform(0.5, 1.0) for i in picks)
        under_db = rng.uniform(*COLOURED_UNDER_REAL_DB)
        mix = unit_rms(real) + coloured * 10.0 ** (-under_db / 20.0)
        names = [backgrounds[i].name for i in picks] + names
    else:
        mix = coloured
    level = 10.0 ** (rng.uniform(*BACKGROUND_DBFS) / 20.0)
    return unit_rms(mix) * level, names


def make_recording(
    rng: np.random.Generator, label: str, calls: list[Clip], backgrounds: list[Clip], distractors: list[Clip], layout: Layout
) -> tuple[np.ndarray, dict]:
    """One field-style recording of ``label`` and its truth (times in seconds, as written).

    ``calls`` is empty for the noise class. Events (calls and distractors) are shuffled, placed
    without overlap and planted at their in-band SNR; the mix is scaled down if its peak would
    exceed ``MAX_PEAK`` (SNRs are ratios, so they stay as drawn).
    """
    sr = SAMPLE_RATE_HZ
    n_total = int(round(rng.uniform(*layout.duration_s) * sr))
    events = []  # (kind, clip, span)
    if calls:
        units = [(clip, span) for clip in calls for span in clip.spans]
        for k in rng.choice(len(units), size=int(rng.integers(CALLS_PER_FILE[0], CALLS_PER_FILE[1] + 1)), replace=True):
            events.append(("call", *units[k]))
    n_distractors = int(rng.integers(DISTRACTORS_PER_FILE[0], DISTRACTORS_PER_FILE[1] + 1)) + (0 if calls else 1)
    for k in rng.choice(len(distractors), size=min(n_distractors, len(distractors)), replace=False):
        clip = distractors[k]
        events.append(("distractor", clip, (clip.spans[0][0], clip.spans[-1][1])))
    pieces = [excerpt(clip, span, sr) for _, clip, span in events]
    while len(events) > 1 and sum(len(p) for p, _ in pieces) > MAX_EVENT_SHARE * n_total:
        del events[-1], pieces[-1]  # distractors go first, then calls; the first call stays
    order = rng.permutation(len(events))
    events, pieces = [events[i] for i in order], [pieces[i] for i in order]
    offsets = draw_offsets(rng, n_total, [len(p) for p, _ in pieces], sr)
    snrs = [rng.uniform(*(CALL_SNR_DB if kind == "call" else DISTRACTOR_SNR_DB)) for kind, _, _ in events]
    background, background_names = make_background(rng, n_total, backgrounds, sr)
    mix = plant_calls(background, [p for p, _ in pieces], offsets, snrs)
    peak = float(np.max(np.abs(mix)))
    if peak > MAX_PEAK:
        mix *= MAX_PEAK / peak
    truth = {"class": label, "duration_s": round(n_total / sr, 6), "background": background_names, "calls": [], "distractors": []}
    for (kind, clip, span), (_, lead), offset, snr in zip(events, pieces, offsets, snrs, strict=True):
        start = offset + lead
        truth["calls" if kind == "call" else "distractors"].append(
            {
                "start_s": round(start / sr, 6),
                "end_s": round((start + span[1] - span[0]) / sr, 6),
                "source": clip.name,
                "source_span_s": [round(span[0] / sr, 6), round(span[1] / sr, 6)],
                "snr_db": round(float(snr), 2),
            }
        )
    for key in ("calls", "distractors"):
        truth[key].sort(key=lambda e: e["start_s"])
    return mix.astype(np.float32), truth


# ---------------------------------------------------------------- packages → clips


def decode_mono(data: bytes, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Encoded audio bytes → mono float64 at ``sample_rate_hz`` (soxr, high quality)."""
    audio, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    mono = audio.mean(axis=1)
    return mono if rate == sample_rate_hz else soxr.resample(mono, rate, sample_rate_hz)


def load_clips(layout: Layout, source_dir: Path) -> tuple[dict[tuple[str, str], Clip], list[dict]]:
    """Fetch the packages the layout names and decode the member each of its patterns names.

    Returns:
        The clips by (package, pattern) and the SOURCES.json records (one per member, sorted).

    Raises:
        CorpusError: a package cannot be fetched, a pattern matches no member or several, or
            a member holds no sound to cut.
    """
    roles: dict[tuple[str, str], str] = {(s.package, s.member): f"call:{s.folder}" for s in layout.species}
    roles.update({key: "background" for key in layout.backgrounds})
    roles.update({key: "distractor" for key in layout.distractors})
    clips: dict[tuple[str, str], Clip] = {}
    records = []
    for package_name in sorted({package for package, _ in roles}):
        package = fetch_package(package_name, source_dir)
        patterns = [pattern for package, pattern in roles if package == package_name]
        for member, read in iter_members(package.root):
            for pattern in (p for p in patterns if fnmatch.fnmatchcase(member, p)):
                if (package_name, pattern) in clips:
                    raise CorpusError(f"{package_name}: pattern {pattern!r} matches several members")
                data = read()
                audio = decode_mono(data)
                name = file_name(package_name, member)
                spans = cut_spans(audio, SAMPLE_RATE_HZ)
                if not spans and roles[(package_name, pattern)] != "background":
                    raise CorpusError(f"{package_name}: no sound found to cut in {member}")
                clips[(package_name, pattern)] = Clip(name, audio, tuple(spans))
                records.append(
                    {
                        "name": name,
                        "role": roles[(package_name, pattern)],
                        "package": package_name,
                        "package_version": package.version,
                        "package_deb_bytes": package.deb_bytes,
                        "path_in_package": member,
                        "licence": package.licence,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "duration_s": round(len(audio) / SAMPLE_RATE_HZ, 3),
                        "cut_spans_s": [[round(a / SAMPLE_RATE_HZ, 6), round(b / SAMPLE_RATE_HZ, 6)] for a, b in spans],
                    }
                )
    missing = sorted(f"{package}:{pattern}" for package, pattern in roles if (package, pattern) not in clips)
    if missing:
        raise CorpusError(f"no package member matches {missing}")
    records.sort(key=lambda r: r["name"])
    return clips, records


def assemble(out_dir: Path, source_dir: Path, layout: Layout, seed: int) -> dict:
    """Write the corpus, TRUTH.json and SOURCES.json; return the truth."""
    clips, records = load_clips(layout, source_dir)
    backgrounds = [clips[m] for m in layout.backgrounds]
    distractors = [clips[m] for m in layout.distractors]
    labels = [s.folder for s in layout.species] + [NOISE_CLASS]
    files = []
    for class_index, label in enumerate(labels):
        species = layout.species[class_index] if class_index < len(layout.species) else None
        calls = [clips[(species.package, species.member)]] if species else []
        count = layout.files_per_class if species else layout.noise_files
        for file_index in range(count):
            rng = file_rng(seed, class_index, file_index)
            audio, truth = make_recording(rng, label, calls, backgrounds, distractors, layout)
            relative = f"{label}/{label}_{file_index:03d}.flac"
            target = out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(target), audio, SAMPLE_RATE_HZ, subtype="PCM_16", format="FLAC")
            files.append({"file": relative, **truth})
    truth = {
        "seed": seed,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "classes": labels,
        "birdnet_labels": {s.folder: s.birdnet_label for s in layout.species},
        "snr": "in-band: the event's central 95 %-energy band vs the background's power there (shardkit.audio.synthetic.plant_calls)",
        "files": files,
    }
    (out_dir / "TRUTH.json").write_text(dumps(truth, indent=1) + "\n")
    (out_dir / "SOURCES.json").write_text(dumps({"sources": records}, indent=1) + "\n")
    return truth


def class_table(truth: dict) -> str:
    """Per class: files, seconds, planted calls, distractors."""
    rows = ["class                  files  seconds  calls  distractors"]
    for label in truth["classes"]:
        mine = [f for f in truth["files"] if f["class"] == label]
        calls, distractors = sum(len(f["calls"]) for f in mine), sum(len(f["distractors"]) for f in mine)
        rows.append(f"{label:22s} {len(mine):5d} {sum(f['duration_s'] for f in mine):8.1f} {calls:6d} {distractors:12d}")
    files = truth["files"]
    rows.append(f"{'total':22s} {len(files):5d} {sum(f['duration_s'] for f in files):8.1f} {sum(len(f['calls']) for f in files):6d}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: write the corpus (or run the BirdNET check); a package failure is one line and exit status 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="where to write <class>/<file>.flac, TRUTH.json and SOURCES.json")
    parser.add_argument("--source-dir", type=Path, help="package cache (default: OUT_DIR/../real-corpus-packages)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files-per-class", type=int, default=12, help="files per species and noise files (full corpus)")
    parser.add_argument("--small", action="store_true", help="2 species x 2 files + 1 noise file, from the two smallest packages")
    parser.add_argument("--birdnet-check", action="store_true", help="run BirdNET v2.4 on every cut call and write OUT_DIR/BIRDNET_CHECK.json")
    args = parser.parse_args(argv)
    out_dir = args.out_dir.resolve()
    source_dir = (args.source_dir or out_dir.parent / "real-corpus-packages").resolve()
    layout = SMALL_LAYOUT if args.small else full_layout(args.files_per_class)
    started = time.perf_counter()
    try:
        if args.birdnet_check:
            import birdnet_check

            clips, _ = load_clips(layout, source_dir)
            report = birdnet_check.check_species(layout.species, clips)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "BIRDNET_CHECK.json").write_text(dumps(report, indent=1) + "\n")
            print(birdnet_check.format_report(report))
            return 0
        if out_dir.exists() and any(out_dir.iterdir()):
            print(f"bird_corpus: OUT_DIR must be empty or absent; got {out_dir} with files in it", file=sys.stderr)
            return 2
        truth = assemble(out_dir, source_dir, layout, args.seed)
    except CorpusError as exc:
        print(f"bird_corpus: {exc}", file=sys.stderr)
        return 2
    print(class_table(truth))
    print(f"{len(truth['files'])} files in {out_dir} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
