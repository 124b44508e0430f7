"""The stand-in teacher (a real .tflite with BirdNET's interface), made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def standin_teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """(model, labels, embedding offset) of `helpers.teacher.make_standin_teacher`."""
    from helpers.teacher import make_standin_teacher

    return make_standin_teacher(tmp_path_factory.mktemp("standin_teacher"))
