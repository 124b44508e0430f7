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


def read_url_bytes(url: str, storage_options: dict[str, Any] | None = None, *, retries: int = 3, backoff_s: float = 0.5) -> bytes:
    """The whole object at ``url``, retrying transient errors (`is_transient`) with exponential backoff.

    Raises:
        FileNotFoundError: the object does not exist (not retried); other lasting errors as raised.
        StorageUnavailableError: still failing after ``retries + 1`` attempts.
    """
    fs, path = filesystem(url, storage_options)
    for attempt in range(retries + 1):
        try:
            return fs.cat_file(path)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == retries:
                raise StorageUnavailableError(endpoint_of(url, storage_options), f"reading {url!r} failed after {retries + 1} attempts", exc) from exc
            wait_s = backoff_s * 2**attempt
            log.info("reading %s failed (%s: %s); retrying in %.1f s", url, type(exc).__name__, exc, wait_s)
            time.sleep(wait_s)
    raise AssertionError("unreachable")
