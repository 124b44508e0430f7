"""tools/bench_remote_input.py: its figure on a 2-minute FLAC in ``memory://``, and its check seen failing."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from helpers.tools import loaded_tool

from shardkit import storage


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    yield from loaded_tool("bench_remote_input")


@pytest.fixture(autouse=True)
def default_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "RANGE_MIN_FETCH_BYTES", storage.RANGE_MIN_FETCH_BYTES)  # the bench sets it: restored after


def test_the_default_reader_meets_the_bound(bench: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="bench_remote_input")
    assert bench.main(["--minutes", "2", "--store", "memory"]) == 0
    assert "target <= 1.2x): PASS; samples equal to the local build's: True" in caplog.text


def test_a_reader_that_fetches_megabytes_per_seek_misses_it(bench: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="bench_remote_input")
    assert bench.main(["--minutes", "2", "--store", "memory", "--min-fetch-kib", "2048"]) == 1
    assert "(target <= 1.2x): MISS" in caplog.text
