"""Storage faults: which errors are transient, S3 network defaults, and a silent or dead endpoint failing fast by name."""

from __future__ import annotations

import http.client
import pickle
import time

import pytest
from faults import FAST_FAIL, free_port, silent_endpoint

from shardkit.errors import StorageUnavailableError
from shardkit.storage import S3_NETWORK_DEFAULTS, Store, filesystem, is_transient, read_url_bytes

pytest.importorskip("s3fs")


def test_transient_errors_are_classified_in_one_place():
    from aiohttp import ClientConnectionError, ClientPayloadError, ServerDisconnectedError
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    transient = [
        OSError("io"),
        TimeoutError(),
        ConnectionResetError(),
        EndpointConnectionError(endpoint_url="http://x"),
        ConnectTimeoutError(endpoint_url="http://x"),
        ReadTimeoutError(endpoint_url="http://x"),
        ConnectionClosedError(endpoint_url="http://x"),
        ServerDisconnectedError(),
        ClientConnectionError(),
        ClientPayloadError("cut"),
        http.client.IncompleteRead(b"", 10),
        StorageUnavailableError("http://x", "reading y", "gone"),
    ]
    lasting = [FileNotFoundError(), PermissionError(), IsADirectoryError(), ValueError(), KeyError(), NoCredentialsError()]
    assert [type(e).__name__ for e in transient if not is_transient(e)] == []
    assert [type(e).__name__ for e in lasting if is_transient(e)] == []


def test_storage_unavailable_error_is_one_line_names_the_endpoint_and_survives_pickling():
    error = StorageUnavailableError("http://127.0.0.1:9", "writing s3://b/x", ConnectionRefusedError("refused\nsecond line"))
    assert str(error) == "writing s3://b/x: storage endpoint http://127.0.0.1:9 is unavailable (ConnectionRefusedError: refused second line)"
    assert isinstance(error, OSError), "callers that handle OSError keep handling it"
    copy = pickle.loads(pickle.dumps(error))  # raised in build worker processes, re-raised in the parent
    assert (str(copy), copy.endpoint, copy.action) == (str(error), error.endpoint, error.action)


def test_s3_network_defaults_sit_under_user_options():
    network = lambda fs: {k: v for k, v in fs.config_kwargs.items() if k != "http_session_cls"}  # noqa: E731
    fs, _ = filesystem("s3://b/x", {"endpoint_url": "http://127.0.0.1:9"})
    assert network(fs) == S3_NETWORK_DEFAULTS["config_kwargs"]
    assert fs.config_kwargs["connect_timeout"] > 0 and fs.config_kwargs["read_timeout"] > 0
    assert fs.retries == S3_NETWORK_DEFAULTS["retries"]
    user = {"endpoint_url": "http://127.0.0.1:9", "retries": 4, "config_kwargs": {"read_timeout": 2.5, "retries": {"max_attempts": 7}}}
    fs, _ = filesystem("s3://b/x", user)
    assert network(fs) == {**S3_NETWORK_DEFAULTS["config_kwargs"], "read_timeout": 2.5, "retries": {"max_attempts": 7}}
    assert fs.retries == 4
    assert user["config_kwargs"] == {"read_timeout": 2.5, "retries": {"max_attempts": 7}}, "the caller's dict is not changed"


def test_silent_endpoint_read_fails_fast_naming_it():
    with silent_endpoint() as endpoint:
        started = time.monotonic()
        with pytest.raises(
            StorageUnavailableError, match=f"reading 's3://b/k.tar' failed after 2 attempts: storage endpoint {endpoint} is unavailable"
        ) as info:
            read_url_bytes("s3://b/k.tar", {"endpoint_url": endpoint, "key": "k", "secret": "s", **FAST_FAIL}, retries=1, backoff_s=0.0)
        assert time.monotonic() - started < 10
    assert "Timeout" in str(info.value)


def test_an_upload_to_an_endpoint_that_stops_reading_times_out(monkeypatch: pytest.MonkeyPatch):
    from shardkit import _s3_session

    monkeypatch.setattr(_s3_session, "MIN_UPLOAD_BYTES_PER_S", 16 << 20)  # a 40 MiB body: a 2.5 s allowance
    with silent_endpoint() as endpoint:  # accepts, never reads: the body stalls once the socket buffers fill
        store = Store("s3://bucket/prefix", {"endpoint_url": endpoint, "key": "k", "secret": "s", **FAST_FAIL})
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=f"writing s3://bucket/prefix/big.bin: storage endpoint {endpoint} is unavailable .*Timeout"):
            store.write_bytes("big.bin", bytes(40 << 20))
        # one attempt takes about 3.5 s here; one CI run took 25 s (cause not found). Without the
        # deadline the upload never ends, so this bound still tells the two apart.
        assert time.monotonic() - started < 60


@pytest.mark.parametrize("call", ["exists", "listdir", "read_bytes", "write_bytes", "create_bytes", "delete"])
def test_store_calls_on_a_dead_endpoint_raise_storage_unavailable(call: str):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    store = Store("s3://bucket/prefix", {"endpoint_url": endpoint, "key": "k", "secret": "s", **FAST_FAIL})
    args = {
        "exists": ("a.json",),
        "listdir": (),
        "read_bytes": ("a.json",),
        "write_bytes": ("a.json", b"x"),
        "create_bytes": ("a.json", b"x"),
        "delete": ("a.json",),
    }[call]
    with pytest.raises(StorageUnavailableError, match=f"storage endpoint {endpoint} is unavailable") as info:
        getattr(store, call)(*args)
    assert "s3://bucket/prefix" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_objects_and_local_errors_are_not_storage_unavailable(tmp_path):
    store = Store(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        store.read_bytes("absent.json")


@pytest.mark.slow
def test_default_timeouts_fail_a_silent_endpoint_within_60_s():
    with silent_endpoint() as endpoint:
        store = Store("s3://bucket/prefix", {"endpoint_url": endpoint, "key": "k", "secret": "s"})
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=f"storage endpoint {endpoint} is unavailable"):
            store.read_bytes("manifest.json")
        assert time.monotonic() - started < 60


class FlakyBotocore:
    """A filesystem whose reads raise botocore's own network errors (not OSError) the first ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def cat_file(self, path: str) -> bytes:
        from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

        self.calls += 1
        if self.calls <= self.failures:
            raise (EndpointConnectionError if self.calls % 2 else ReadTimeoutError)(endpoint_url=f"http://127.0.0.1:9/{path}")
        return b"shard bytes"


def test_botocore_network_errors_are_retried_with_exponential_backoff(monkeypatch: pytest.MonkeyPatch):
    from shardkit import storage

    waits: list[float] = []
    monkeypatch.setattr(storage.time, "sleep", waits.append)
    flaky = FlakyBotocore(2)
    monkeypatch.setattr(storage, "filesystem", lambda url, options=None: (flaky, url))
    assert read_url_bytes("s3://b/k.tar", retries=3, backoff_s=0.5) == b"shard bytes"
    assert (flaky.calls, waits) == (3, [0.5, 1.0])
    hopeless = FlakyBotocore(10)
    monkeypatch.setattr(storage, "filesystem", lambda url, options=None: (hopeless, url))
    with pytest.raises(StorageUnavailableError, match=r"reading 's3://b/k.tar' failed after 4 attempts: .*\(ReadTimeoutError: "):
        read_url_bytes("s3://b/k.tar", {"endpoint_url": "http://127.0.0.1:9"}, retries=3, backoff_s=0.5)
    assert hopeless.calls == 4 and waits[2:] == [0.5, 1.0, 2.0]
