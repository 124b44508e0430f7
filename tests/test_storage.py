"""Storage: atomic writes, and reads that retry transient errors but not missing objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardkit import storage
from shardkit.errors import ConfigError
from shardkit.storage import Store, read_url_bytes


class Flaky:
    """A filesystem whose reads fail with a transient error the first ``failures`` times."""

    def __init__(self, failures: int, error: type[BaseException] = ConnectionError) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def cat_file(self, path: str) -> bytes:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"transient failure {self.calls}")
        return b"shard bytes"


def test_transient_errors_are_retried(monkeypatch: pytest.MonkeyPatch):
    flaky = Flaky(2)
    monkeypatch.setattr(storage, "filesystem", lambda url, options=None: (flaky, url))
    assert read_url_bytes("s3://b/k.tar", retries=3, backoff_s=0.0) == b"shard bytes" and flaky.calls == 3
    hopeless = Flaky(10, TimeoutError)
    monkeypatch.setattr(storage, "filesystem", lambda url, options=None: (hopeless, url))
    with pytest.raises(OSError, match=r"reading 's3://b/k.tar' failed after 3 attempts"):
        read_url_bytes("s3://b/k.tar", retries=2, backoff_s=0.0)
    missing = Flaky(10, FileNotFoundError)
    monkeypatch.setattr(storage, "filesystem", lambda url, options=None: (missing, url))
    with pytest.raises(FileNotFoundError):
        read_url_bytes("s3://b/k.tar", retries=5, backoff_s=0.0)
    assert missing.calls == 1, "a missing object is not retried"


def test_atomic_write_leaves_no_partial_files(tmp_path: Path):
    store = Store(str(tmp_path / "out"))
    store.write_json("a/b.json", {"x": 1})
    assert store.read_json("a/b.json") == {"x": 1}
    assert sorted(p.name for p in (tmp_path / "out" / "a").iterdir()) == ["b.json"]


def test_unknown_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="URL 'nosuchscheme://x'"):
        Store("nosuchscheme://x")
