"""All storage access goes through here: one thin layer over fsspec.

Local folders, ``s3://`` and ``memory://`` behave alike. Nothing partial is ever visible:
files are written whole to a staging location and then committed with a rename (local) or
a single upload (object stores, where an object appears only when its upload completes).
S3 endpoint and credentials come from the standard AWS environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` …) unless explicit ``storage_options`` are given.

Network faults are classified here once (`is_transient`). S3 gets connect/read timeouts and
bounded retries by default (`S3_NETWORK_DEFAULTS`), so a silent endpoint fails a call in about
30 s instead of hanging; a remote store turns a transient failure into one
`StorageUnavailableError` that names the endpoint and the cause.
"""

from __future__ import annotations

import copy
import functools
import http.client
import io
import json
import logging
import os
import posixpath
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from shardkit.errors import ConfigError, StorageUnavailableError
from shardkit.jsonio import dumps

log = logging.getLogger(__name__)

#: extra pip line to print when a URL scheme needs a package that is not installed
_EXTRA_FOR_PROTOCOL = {"s3": "pip install 'shardkit[s3]'", "s3a": "pip install 'shardkit[s3]'"}


#: S3 network behaviour unless the storage options say otherwise. ``config_kwargs`` go to
#: botocore: s3fs's own connect/read timeouts (s) and one botocore retry (``max_attempts``
#: counts retries). ``retries`` is s3fs's attempts per call (an attribute of the filesystem,
#: not a constructor argument: `filesystem` sets it). s3fs's own defaults (5 attempts, each
#: up to botocore's 5) take minutes against a silent endpoint; these fail a call in about
#: 2 x 15 s. Callers that need more persistence retry around the call with their own backoff
#: (`read_url_bytes`).
S3_NETWORK_DEFAULTS: dict[str, Any] = {
    "config_kwargs": {"connect_timeout": 5, "read_timeout": 15, "retries": {"max_attempts": 1}},
    "retries": 1,
}


def _s3_defaults() -> dict[str, Any]:
    """S3 options shardkit sets unless the user's storage options say otherwise.

    The network defaults, an HTTP session whose read timeout also covers uploads (see
    `shardkit._s3_session`), and the endpoint from the environment (s3fs does not read it).
    """
    options = copy.deepcopy(S3_NETWORK_DEFAULTS)
    try:
        from shardkit._s3_session import NoExpectContinueSession
    except ImportError:
        pass  # no aiobotocore: the URL fails later with the pip line
    else:
        options["config_kwargs"]["http_session_cls"] = NoExpectContinueSession
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    return options


#: per-protocol defaults merged under the user's storage options
_DEFAULT_OPTIONS = {"s3": _s3_defaults, "s3a": _s3_defaults}
#: options a filesystem takes as attributes after construction, not as constructor arguments
_FS_ATTRIBUTES = {"s3": ("retries",), "s3a": ("retries",)}


def _protocol(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"


def _options(protocol: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """The protocol's defaults with the user's options on top; dict values (``config_kwargs``) merge key by key."""
    defaults = _DEFAULT_OPTIONS.get(protocol, dict)()
    user = storage_options or {}
    merged = {**defaults, **user}
    for key, value in defaults.items():
        if isinstance(value, dict) and isinstance(user.get(key), dict):
            merged[key] = {**value, **user[key]}
    return merged


def endpoint_of(url: str, storage_options: dict[str, Any] | None = None) -> str:
    """The endpoint that serves ``url``, as a person would recognise it (for error messages)."""
    protocol = _protocol(url)
    if protocol == "file":
        return "the local filesystem"
    options = _options(protocol, storage_options)
    endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get("endpoint_url")
    if endpoint:
        return str(endpoint)
    if protocol in ("s3", "s3a"):
        return "AWS S3 (default endpoint)"
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return ``(filesystem, path)`` for a URL.

    Args:
        url: a local path or any fsspec URL (``s3://bucket/prefix``, ``memory://x``).
        storage_options: keyword arguments for the filesystem; they override values taken
            from the environment.

    Raises:
        ConfigError: the URL's scheme is unknown or its package is not installed.
    """
    protocol = _protocol(url)
    options = _options(protocol, storage_options)
    attributes = {name: options.pop(name) for name in _FS_ATTRIBUTES.get(protocol, ()) if name in options}
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        hint = _EXTRA_FOR_PROTOCOL.get(protocol, f"install the fsspec backend for {protocol!r}")
        raise ConfigError(f"URL {url!r} needs a package that is not installed ({exc}); run: {hint}") from exc
    except ValueError as exc:
        raise ConfigError(f"URL {url!r} is not a usable storage location: {exc}") from exc
    for name, value in attributes.items():
        setattr(fs, name, value)
    return fs, path.rstrip("/") or path


#: OSErrors that retrying cannot fix
_LASTING_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
#: transient errors of libraries shardkit does not import itself: module → class names. botocore's
#: ConnectionError covers EndpointConnectionError, ConnectTimeoutError and ProxyConnectionError;
#: its HTTPClientError covers ReadTimeoutError, ConnectionClosedError and ResponseStreamingError.
_FOREIGN_TRANSIENT = {"botocore.exceptions": ("ConnectionError", "HTTPClientError"), "aiohttp": ("ClientError",)}


def _transient_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OSError, TimeoutError, http.client.IncompleteRead]
    for module_name, names in _FOREIGN_TRANSIENT.items():
        module = sys.modules.get(module_name)  # not loaded: none of its errors can have been raised
        if module is not None:
            types.extend(getattr(module, name) for name in names)
    return tuple(types)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a storage failure that may pass, worth retrying: the one definition.

    Transient: a network error, a timeout, a cut connection or transfer, an I/O error, whether
    from the standard library, botocore or aiohttp (neither is imported here). Not transient:
    a missing object, a permission refusal, a programming error.
    """
    return not isinstance(exc, _LASTING_OS_ERRORS) and isinstance(exc, _transient_types())


def _unavailable_as_error(action: str, name_arg: int = 0) -> Callable:
    """Decorate a `Store` method: a transient failure of a remote store becomes a `StorageUnavailableError`.

    Args:
        action: what the method does, for the message (``"reading"``).
        name_arg: position of the store-relative name among the method's arguments.
    """

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except StorageUnavailableError:
                raise
            except Exception as exc:
                if self.is_local or not is_transient(exc):
                    raise
                name = args[name_arg] if len(args) > name_arg else ""
                raise StorageUnavailableError(self.endpoint, f"{action} {self.location(name) if name else self.url}", exc) from exc

        return wrapper

    return decorate


@dataclass
class Store:
    """A folder-like location (local dir, ``s3://bucket/prefix``) with atomic writes.

    Attributes:
        url: the URL the store was opened with, as the user gave it.
        storage_options: options passed to fsspec (saved so worker processes can reopen it).
    """

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fs, self.root = filesystem(self.url, self.storage_options)

    def __getstate__(self) -> dict:
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state: dict) -> None:
        self.url = state["url"]
        self.storage_options = state["storage_options"]
        self.__post_init__()

    @property
    def endpoint(self) -> str:
        """The endpoint serving the store, for messages (``http://127.0.0.1:9000``, ``the local filesystem``)."""
        return endpoint_of(self.url, self.storage_options)

    @property
    def is_local(self) -> bool:
        """True when the store is a folder on the local filesystem."""
        return isinstance(self.fs, LocalFileSystem)

    def path(self, name: str) -> str:
        """Absolute filesystem path of ``name`` (a POSIX relative path) inside the store."""
        return posixpath.join(self.root, name)

    def location(self, name: str) -> str:
        """Where ``name`` is, for a person or another call: a local path, or the store URL (scheme kept) joined with it."""
        return self.path(name) if self.is_local else f"{self.url.rstrip('/')}/{name}"

    @_unavailable_as_error("checking")
    def exists(self, name: str) -> bool:
        """Whether ``name`` exists in the store."""
        return self.fs.exists(self.path(name))

    @_unavailable_as_error("listing")
    def listdir(self, prefix: str = "") -> list[str]:
        """Names (relative to the store) of the files directly under ``prefix``; [] if absent."""
        base = self.path(prefix) if prefix else self.root
        self.fs.invalidate_cache(base)
        try:
            entries = self.fs.ls(base, detail=True)
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if entry.get("type") == "file":
                names.append(posixpath.relpath(entry["name"].rstrip("/"), self.root.rstrip("/")))
        return sorted(names)

    @_unavailable_as_error("reading")
    def read_bytes(self, name: str) -> bytes:
        """The whole content of ``name``."""
        return self.fs.cat_file(self.path(name))

    def read_json(self, name: str) -> Any:
        """Parse ``name`` as JSON."""
        return json.loads(self.read_bytes(name))

    @_unavailable_as_error("writing")
    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name`` atomically: readers see the old file or the whole new one."""
        if self.is_local:
            target = self.path(name)
            os.replace(_staged_local(target, data), target)
        else:
            self.fs.pipe_file(self.path(name), data)

    def write_json(self, name: str, obj: Any) -> None:
        """Write ``obj`` as indented strict JSON (non-finite numbers as null), atomically."""
        self.write_bytes(name, (dumps(obj, indent=2, sort_keys=False) + "\n").encode())

    @_unavailable_as_error("uploading to", name_arg=1)
    def commit_file(self, local_path: str, name: str) -> None:
        """Move a finished local file into the store as ``name`` in one atomic step.

        The local file is consumed (renamed or uploaded, then removed).
        """
        if self.is_local:
            target = self.path(name)
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            os.replace(local_path, target)
        else:
            self.fs.put_file(local_path, self.path(name))
            os.remove(local_path)

    @property
    def exclusive_create(self) -> bool:
        """Whether `create_bytes` is atomic against other writers (local disk, S3); elsewhere it checks, then writes."""
        protocols = (self.fs.protocol,) if isinstance(self.fs.protocol, str) else self.fs.protocol
        return self.is_local or "s3" in protocols

    @_unavailable_as_error("creating")
    def create_bytes(self, name: str, data: bytes) -> bool:
        """Write ``data`` to ``name`` whole, only if ``name`` does not exist yet.

        Returns:
            True if this call created ``name``; False if it already existed (nothing written).
        """
        target = self.path(name)
        if not self.is_local:
            try:
                self.fs.pipe_file(target, data, mode="create")  # S3: If-None-Match: *
            except FileExistsError:
                return False
            except OSError as exc:
                if _precondition_failed(exc):  # servers whose 412 s3fs does not map (SeaweedFS)
                    return False
                raise
            return True
        staging = _staged_local(target, data)
        try:
            os.link(staging, target)  # fails if target exists: exclusive, and never partial
        except FileExistsError:
            return False
        finally:
            os.remove(staging)
        return True

    def staging_dir(self) -> str:
        """A local folder for files being written; on the same filesystem as a local store."""
        if self.is_local:
            folder = self.path("_shardkit/staging")
            os.makedirs(folder, exist_ok=True)
            return folder
        return tempfile.gettempdir()

    @_unavailable_as_error("deleting")
    def delete(self, name: str) -> None:
        """Remove ``name`` if it exists."""
        try:
            self.fs.rm_file(self.path(name))
        except FileNotFoundError:
            pass

    def check_writable(self) -> None:
        """Write and delete a probe file.

        Raises:
            ConfigError: the location cannot be created or written, with the reason.
        """
        probe = f"_shardkit/probe-{uuid.uuid4().hex}"
        try:
            if self.is_local:
                self.fs.makedirs(self.root, exist_ok=True)
            self.write_bytes(probe, b"ok")
            self.delete(probe)
        except StorageUnavailableError:
            raise
        except Exception as exc:
            raise ConfigError(f"OUTPUT {self.url!r} is not writable: {type(exc).__name__}: {exc}") from exc


def _staged_local(target: str, data: bytes) -> str:
    """``data`` written and synced to a uniquely named ``.partial`` file beside local ``target``; its path."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    staging = f"{target}.{uuid.uuid4().hex}.partial"
    with open(staging, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return staging


def _precondition_failed(exc: OSError) -> bool:
    """Whether an object store refused a conditional write (HTTP 412 PreconditionFailed)."""
    response = getattr(exc.__cause__, "response", None) or {}
    return response.get("Error", {}).get("Code") in ("PreconditionFailed", "412")


def retry_transient(call: Callable[[], Any], *, what: str, endpoint: str, retries: int = 3, backoff_s: float = 0.5) -> Any:
    """``call()``, retried on transient errors (`is_transient`) with exponential backoff.

    Args:
        call: the storage request; it must be safe to repeat (a read, a listing).
        what: what the call does, for the log and the error (``"reading 's3://b/x'"``).
        endpoint: the endpoint that serves it (`endpoint_of`), for the error.
        retries: attempts after the first.
        backoff_s: wait before the first retry; it doubles after each.

    Raises:
        StorageUnavailableError: still failing after ``retries + 1`` attempts.
        Exception: a lasting error (missing object, permission refused) as raised, at once.
    """
    for attempt in range(retries + 1):
        try:
            return call()
        except StorageUnavailableError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == retries:
                raise StorageUnavailableError(endpoint, f"{what} failed after {retries + 1} attempts", exc) from exc
            wait_s = backoff_s * 2**attempt
            log.info("%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, wait_s)
            time.sleep(wait_s)
    raise AssertionError("unreachable")


def read_url_bytes(url: str, storage_options: dict[str, Any] | None = None, *, retries: int = 3, backoff_s: float = 0.5) -> bytes:
    """The whole object at ``url``, retrying transient errors (`is_transient`) with exponential backoff.

    Raises:
        FileNotFoundError: the object does not exist (not retried); other lasting errors as raised.
        StorageUnavailableError: still failing after ``retries + 1`` attempts.
    """
    fs, path = filesystem(url, storage_options)
    return retry_transient(lambda: fs.cat_file(path), what=f"reading {url!r}", endpoint=endpoint_of(url, storage_options), retries=retries, backoff_s=backoff_s)


def is_local_url(url: str) -> bool:
    """Whether ``url`` names the local filesystem (a plain path or ``file://``)."""
    return _protocol(url) in ("file", "local")


def local_path(url: str) -> str:
    """The local path a local ``url`` names (``file:///data/x`` → ``/data/x``)."""
    return url.split("://", 1)[1] if "://" in url else url


def join_url(url: str, name: str) -> str:
    """``name`` (a POSIX relative path) inside the location ``url``, scheme kept."""
    return f"{url.rstrip('/')}/{name}"


def object_version(info: dict) -> tuple[int, str]:
    """``(mtime_ns, etag)`` of an object from its fsspec ``info``: what tells a changed object (0 / "" when the store does not say)."""
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    stamp = info.get("LastModified") or info.get("mtime") or info.get("created")
    if hasattr(stamp, "timestamp"):
        stamp = stamp.timestamp()
    mtime_ns = int(float(stamp) * 1e9) if isinstance(stamp, (int, float)) else 0
    return mtime_ns, etag


#: retries of a range request that meets a transient error, and the wait before the first (it doubles)
RANGE_RETRIES, RANGE_BACKOFF_S = 3, 0.5
#: a range after a seek, and the longest range (the buffer a reader holds)
RANGE_MIN_FETCH_BYTES, RANGE_MAX_FETCH_BYTES = 64 * 1024, 4 * 1024 * 1024
#: each sequential range fetch is this many times as long as the one before
READAHEAD_GROWTH = 1.5
#: bytes fetched by every `RangeReader` of this process (for benchmarks and tests)
_FETCHED = {"requests": 0, "bytes": 0}


def fetch_stats() -> dict[str, int]:
    """Range requests and bytes every `RangeReader` of this process has fetched so far."""
    return dict(_FETCHED)


class RangeReader(io.RawIOBase):
    """A read-only, seekable file over one object, fetched by byte ranges with bounded memory.

    It holds one buffer. A read that continues where the buffer ends fetches the next range,
    `READAHEAD_GROWTH` times as long as the one before (up to ``max_fetch_bytes``): a file
    streamed start to end costs its size in a few dozen requests. A read elsewhere (a seek)
    fetches only ``min_fetch_bytes``, so reading short segments does not fetch the file again,
    and overshoots a segment's end by less than half of what it read. Each range
    request is retried on transient errors (`retry_transient`).

    Args:
        fs: the filesystem holding the object.
        path: the object's path in ``fs``.
        size_bytes: the object's size (from a listing or `fs.info`).
        url: the object's URL, for messages.
        endpoint: the endpoint serving it (`endpoint_of`), for messages.
        min_fetch_bytes: the first range after a seek (default `RANGE_MIN_FETCH_BYTES`).
        max_fetch_bytes: the longest range, the memory bound (default `RANGE_MAX_FETCH_BYTES`).
        retries: retries of a range request (default `RANGE_RETRIES`).
        backoff_s: wait before the first retry (default `RANGE_BACKOFF_S`).
    """

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        path: str,
        size_bytes: int,
        *,
        url: str,
        endpoint: str,
        min_fetch_bytes: int | None = None,
        max_fetch_bytes: int | None = None,
        retries: int | None = None,
        backoff_s: float | None = None,
    ) -> None:
        super().__init__()
        self.fs, self.path, self.size_bytes, self.url, self.endpoint = fs, path, size_bytes, url, endpoint
        self.min_fetch_bytes = min_fetch_bytes or RANGE_MIN_FETCH_BYTES
        self.max_fetch_bytes = max_fetch_bytes or RANGE_MAX_FETCH_BYTES
        self.retries = RANGE_RETRIES if retries is None else retries
        self.backoff_s = RANGE_BACKOFF_S if backoff_s is None else backoff_s
        self.bytes_fetched = 0
        self._pos = 0
        self._start = 0
        self._buffer = b""
        self._next_fetch = self.min_fetch_bytes

    def __repr__(self) -> str:
        return f"RangeReader({self.url!r})"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size_bytes}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` from the current position; 0 at the end of the object."""
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self.size_bytes:
            end = self._start + len(self._buffer)
            if not self._start <= self._pos < end:
                self._fetch(self._pos, len(view) - done, sequential=bool(self._buffer) and self._pos == end)
                end = self._start + len(self._buffer)
            chunk = self._buffer[self._pos - self._start : self._pos - self._start + len(view) - done]
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self._pos += len(chunk)
        return done

    def _fetch(self, start: int, wanted: int, *, sequential: bool) -> None:
        """Replace the buffer with the range from ``start``: growing while reads are sequential."""
        self._next_fetch = min(self.max_fetch_bytes, int(self._next_fetch * READAHEAD_GROWTH)) if sequential else self.min_fetch_bytes
        end = min(self.size_bytes, start + max(wanted, self._next_fetch))
        data = retry_transient(
            lambda: self.fs.cat_file(self.path, start=start, end=end),
            what=f"reading {self.url!r} bytes {start}-{end}",
            endpoint=self.endpoint,
            retries=self.retries,
            backoff_s=self.backoff_s,
        )
        if not data:
            raise OSError(f"{self.url!r} ended at byte {start}, before its listed size {self.size_bytes}")
        self._start, self._buffer = start, bytes(data)
        self.bytes_fetched += len(data)
        _FETCHED["requests"] += 1
        _FETCHED["bytes"] += len(data)

    def close(self) -> None:
        self._buffer = b""
        super().close()


def open_object(url: str, storage_options: dict[str, Any] | None = None, **reader_options: Any) -> RangeReader:
    """Open the object at ``url`` for reading as a seekable `RangeReader` (the size from ``fs.info``).

    Raises:
        FileNotFoundError: no such object.
        StorageUnavailableError: the store keeps failing.
    """
    fs, path = filesystem(url, storage_options)
    endpoint = endpoint_of(url, storage_options)
    info = retry_transient(lambda: fs.info(path), what=f"checking {url!r}", endpoint=endpoint, retries=RANGE_RETRIES, backoff_s=RANGE_BACKOFF_S)
    return RangeReader(fs, path, int(info.get("size") or 0), url=url, endpoint=endpoint, **reader_options)


def list_files(url: str, storage_options: dict[str, Any] | None = None) -> tuple[list[tuple[str, dict]], list[str]]:
    """Every file and folder under the location ``url``, with retries.

    Returns:
        ``(files, folders)``: files as ``(relative path, fsspec info)``, folders as relative paths,
        both sorted. A missing location gives ``([], [])``.
    """
    fs, root = filesystem(url, storage_options)
    endpoint = endpoint_of(url, storage_options)
    try:
        fs.invalidate_cache(root)
        found = retry_transient(
            lambda: fs.find(root, withdirs=True, detail=True), what=f"listing {url!r}", endpoint=endpoint, retries=RANGE_RETRIES, backoff_s=RANGE_BACKOFF_S
        )
    except FileNotFoundError:
        return [], []
    prefix = root.rstrip("/") + "/"
    files, folders = [], []
    for name, info in sorted(found.items()):
        name = name.rstrip("/")
        if not name.startswith(prefix):
            continue
        relative = name[len(prefix) :]
        if info.get("type") == "directory":
            folders.append(relative)
        else:
            files.append((relative, info))
    return files, folders
