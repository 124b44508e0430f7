"""`shardkit inspect --verify`: every shard read, checksums, undecodable members, counts; exit 1 on any problem."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from click.testing import CliRunner
from factories import tar_bytes

from shardkit.cli import cli


def inspect(*args: str):
    return CliRunner().invoke(cli, ["inspect", *args], catch_exceptions=False)


def shard_names(folder: Path, split: str = "train") -> list[str]:
    return [s["name"] for s in json.loads((folder / "manifest.json").read_text())["splits"][split]["shards"]]


def rewrite(shard: Path, edit) -> None:
    """Rewrite a shard's members through ``edit(list of (name, bytes))``, as plain ustar."""
    with tarfile.open(shard) as tar:
        members = edit([(m.name, tar.extractfile(m).read()) for m in tar])
    shard.write_bytes(tar_bytes(members))


def test_a_sound_shard_set_verifies(shard_sets):
    result = inspect(str(shard_sets["flac"]), "--verify")
    assert result.exit_code == 0, result.output
    n_shards = len(shard_names(shard_sets["flac"])) + len(shard_names(shard_sets["flac"], "val"))
    assert f"verified {n_shards} shards" in result.output and "no problems" in result.output
    report = json.loads(inspect(str(shard_sets["flac"]), "--verify", "--json").output)["verify"]
    assert report["problems"] == [] and report["shards_checked"] == n_shards


def test_every_kind_of_damage_is_reported_and_exits_1(shard_sets, tmp_path: Path):
    folder = tmp_path / "set"
    shutil.copytree(shard_sets["flac"], folder)
    names = shard_names(folder)
    undecodable, extra, truncated, missing = names[:4]

    def break_first_flac(members):
        name, data = next((n, d) for n, d in members if n.endswith(".flac"))
        return [(n, b"\x00" * 4 + d[4:] if n == name else d) for n, d in members]

    rewrite(folder / undecodable, break_first_flac)
    rewrite(folder / extra, lambda members: members + members[:2])  # a sample the manifest does not list
    data = (folder / truncated).read_bytes()
    (folder / truncated).write_bytes(data[: len(data) // 2])
    (folder / missing).unlink()

    result = inspect(str(folder), "--verify", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.output)["verify"]["problems"]
    kinds = {(p["shard"], p["kind"]) for p in problems if p["shard"]}
    assert any(p["shard"] is None and p["split"] == "train" and p["kind"] == "count" for p in problems), "per-class counts differ"
    assert {(undecodable, "checksum"), (undecodable, "undecodable"), (extra, "checksum"), (extra, "count")} <= kinds
    assert {(truncated, "damaged"), (missing, "missing")} <= kinds
    assert not any(shard not in (undecodable, extra, truncated, missing) for shard, _ in kinds), "sound shards are not reported"
    text = inspect(str(folder), "--verify")
    assert text.exit_code == 1
    assert f"{missing}: missing" in text.output and f"{undecodable}: undecodable" in text.output


def test_verify_does_not_import_tensorflow(shard_sets):
    code = (
        "import sys\nfrom shardkit.read.verify import verify_shards\n"
        f"assert verify_shards({str(shard_sets['pcm16'])!r})['problems'] == []\n"
        "assert 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_class_list_that_contradicts_the_shards_is_reported(shard_sets, tmp_path: Path):
    folder = tmp_path / "set"
    shutil.copytree(shard_sets["pcm16"], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["classes"] = ["alpha", "beta"]  # hand-edited: gamma dropped
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = inspect(str(folder), "--verify")
    assert result.exit_code == 1
    assert "manifest: classes - its splits hold samples of ['gamma']" in result.output
    assert "unknown_label - " in result.output and "'gamma'" in result.output
