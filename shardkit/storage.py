"""All storage access goes through here: one thin layer over fsspec.

Local folders, ``s3://`` and ``memory://`` behave alike. Nothing partial is ever visible:
files are written whole to a staging location and then committed with a rename (local) or
a single upload (object stores, where an object appears only when its upload completes).
S3 endpoint and credentials come from the standard AWS environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` …) unless explicit ``storage_options`` are given.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from shardkit.errors import ConfigError
from shardkit.jsonio import dumps

#: extra pip line to print when a URL scheme needs a package that is not installed
_EXTRA_FOR_PROTOCOL = {"s3": "pip install 'shardkit[s3]'", "s3a": "pip install 'shardkit[s3]'"}


def _s3_env_options() -> dict[str, Any]:
    """Options s3fs does not read from the environment by itself."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if endpoint else {}


#: per-protocol defaults merged under the user's storage options
_ENV_OPTIONS = {"s3": _s3_env_options, "s3a": _s3_env_options}


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return ``(filesystem, path)`` for a URL.

    Args:
        url: a local path or any fsspec URL (``s3://bucket/prefix``, ``memory://x``).
        storage_options: keyword arguments for the filesystem; they override values taken
            from the environment.

    Raises:
        ConfigError: the URL's scheme is unknown or its package is not installed.
    """
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    options = dict(_ENV_OPTIONS.get(protocol, dict)())
    options.update(storage_options or {})
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        hint = _EXTRA_FOR_PROTOCOL.get(protocol, f"install the fsspec backend for {protocol!r}")
        raise ConfigError(f"URL {url!r} needs a package that is not installed ({exc}); run: {hint}") from exc
    except ValueError as exc:
        raise ConfigError(f"URL {url!r} is not a usable storage location: {exc}") from exc
    return fs, path.rstrip("/") or path


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
    def is_local(self) -> bool:
        """True when the store is a folder on the local filesystem."""
        return isinstance(self.fs, LocalFileSystem)

    def path(self, name: str) -> str:
        """Absolute filesystem path of ``name`` (a POSIX relative path) inside the store."""
        return posixpath.join(self.root, name)

    def location(self, name: str) -> str:
        """Where ``name`` is, for a person or another call: a local path, or the store URL (scheme kept) joined with it."""
        return self.path(name) if self.is_local else f"{self.url.rstrip('/')}/{name}"

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists in the store."""
        return self.fs.exists(self.path(name))

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

    def read_bytes(self, name: str) -> bytes:
        """The whole content of ``name``."""
        return self.fs.cat_file(self.path(name))

    def read_json(self, name: str) -> Any:
        """Parse ``name`` as JSON."""
        return json.loads(self.read_bytes(name))

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name`` atomically: readers see the old file or the whole new one."""
        if self.is_local:
            target = self.path(name)
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            staging = f"{target}.{uuid.uuid4().hex}.partial"
            with open(staging, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, target)
        else:
            self.fs.pipe_file(self.path(name), data)

    def write_json(self, name: str, obj: Any) -> None:
        """Write ``obj`` as indented strict JSON (non-finite numbers as null), atomically."""
        self.write_bytes(name, (dumps(obj, indent=2, sort_keys=False) + "\n").encode())

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
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        staging = f"{target}.{uuid.uuid4().hex}.partial"
        with open(staging, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
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
        except Exception as exc:  # noqa: BLE001 - any failure means "not writable", reported with its cause
            raise ConfigError(f"OUTPUT {self.url!r} is not writable: {type(exc).__name__}: {exc}") from exc


def _precondition_failed(exc: OSError) -> bool:
    """Whether an object store refused a conditional write (HTTP 412 PreconditionFailed)."""
    response = getattr(exc.__cause__, "response", None) or {}
    return response.get("Error", {}).get("Code") in ("PreconditionFailed", "412")


#: exceptions worth retrying when reading from an object store
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


def read_url_bytes(url: str, storage_options: dict[str, Any] | None = None, *, retries: int = 3, backoff_s: float = 0.5) -> bytes:
    """The whole object at ``url``, retrying transient errors with exponential backoff.

    Raises:
        FileNotFoundError: the object does not exist (not retried).
        OSError: still failing after ``retries`` attempts.
    """
    import time  # noqa: PLC0415

    fs, path = filesystem(url, storage_options)
    for attempt in range(retries + 1):
        try:
            return fs.cat_file(path)
        except FileNotFoundError:
            raise
        except (OSError, *TRANSIENT_ERRORS) as exc:
            if attempt == retries:
                raise OSError(f"reading {url!r} failed after {retries + 1} attempts: {exc}") from exc
            time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")
