"""tools/real_corpus.py: the --small corpus fetched from its Debian package decodes to real audio, every file named in SOURCES.json."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf
from helpers.tools import loaded_tool

needs_apt = pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None, reason="needs apt-get and dpkg-deb (Debian)")


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    """The script, imported by path."""
    yield from loaded_tool("real_corpus")


def _rcc(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version-2 Qt resource blob with one folder ``d`` holding ``files`` (name -> (bytes, zlib-compressed))."""
    names, name_offsets = b"", {}
    for name in ["d", *files]:
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    data, data_offsets = b"", {}
    for name, (raw, compressed) in files.items():
        payload = struct.pack(">I", len(raw)) + zlib.compress(raw) if compressed else raw
        data_offsets[name] = len(data)
        data += struct.pack(">I", len(payload)) + payload
    tree = struct.pack(">IHII", 0, 2, 1, 1) + bytes(8)  # root: one child at index 1
    tree += struct.pack(">IHII", name_offsets["d"], 2, len(files), 2) + bytes(8)
    for name, (_, compressed) in files.items():
        tree += struct.pack(">IHHHI", name_offsets[name], int(compressed), 0, 0, data_offsets[name]) + bytes(8)
    header = 20
    return b"qres" + struct.pack(">IIII", 2, header, header + len(tree), header + len(tree) + len(data)) + tree + data + names


def test_rcc_entries_reads_stored_and_zlib_members(tool: ModuleType) -> None:
    blob = _rcc({"a.ogg": (b"stored bytes", False), "b.wav": (b"packed " * 50, True)})
    entries = {path: read() for path, read in tool.rcc_entries(blob)}
    assert entries == {"d/a.ogg": b"stored bytes", "d/b.wav": b"packed " * 50}


def test_rcc_entries_refuses_a_non_rcc_blob(tool: ModuleType) -> None:
    with pytest.raises(tool.CorpusError, match="magic must be b'qres'; got b'OggS'"):
        list(tool.rcc_entries(b"OggS" + bytes(40)))


def test_rules_skip_spoken_descriptions_and_put_poultry_before_wild_birds(tool: ModuleType) -> None:
    birds = "usr/share/tuxpaint/stamps/animals/birds/"
    assert tool.classify(tool.TUX, birds + "hen.ogg", tool.RULES) == "poultry"
    assert tool.classify(tool.TUX, birds + "crow.ogg", tool.RULES) == "wild_birds"
    assert tool.classify(tool.TUX, birds + "crow_desc.ogg", tool.RULES) is None
    assert tool.classify(tool.TUX, "usr/share/tuxpaint/stamps/hobbies/music/string/violin.ogg", tool.RULES) is None


@pytest.mark.slow
@needs_apt
def test_small_corpus_is_real_decodable_audio_named_in_sources(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "corpus"
    assert tool.main([str(out), "--small"]) == 0
    assert "gcompris-qt-data" in capsys.readouterr().out
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "SOURCES.json")
    assert sorted({f.split("/")[0] for f in files}) == ["birds", "mammals"]
    assert all(len(f.split("/")) == 2 for f in files)
    assert sum(f.startswith("birds/") for f in files) == 3 and len(files) == 6
    records = json.loads((out / "SOURCES.json").read_text())["files"]
    assert sorted(r["file"] for r in records) == files
    for record in records:
        assert record["package"] == "gcompris-qt-data" and record["package_version"] and record["licence"]
        assert record["path_in_package"].startswith("usr/share/gcompris-qt/rcc/explore_farm_animals.rcc!")
        audio, rate = sf.read(str(out / record["file"]), dtype="float32")
        assert rate == record["sample_rate_hz"] == 44100
        assert np.isfinite(audio).all()
        assert 1.0 < len(audio) / rate < 15.0, record["file"]
        assert np.sqrt(np.mean(audio**2)) > 1e-3, f"{record['file']} is silent"
    assert (tmp_path / "real-corpus-packages" / "debs").is_dir(), "the package cache defaults to OUT_DIR/../real-corpus-packages"


@pytest.mark.slow
@needs_apt
def test_a_package_that_cannot_be_fetched_is_one_line(tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(tool, "SMALL_RULES", (tool.Rule("birds", "shardkit-no-such-package", "*.ogg"),))
    assert tool.main([str(tmp_path / "out"), "--small"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("real_corpus: cannot fetch Debian package 'shardkit-no-such-package': apt-get download failed: E: ")


def test_out_dir_with_files_is_refused(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    assert tool.main([str(tmp_path / "out"), "--small"]) == 2
    assert "OUT_DIR must be empty or absent" in capsys.readouterr().err
