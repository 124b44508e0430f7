"""Click pieces the commands share: --storage-option, option lists, path checks, a missing TensorFlow.

Imports no stage: every ``command.py`` may use it, and it imports none of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import click

from shardkit.errors import ConfigError

#: top-level modules of the ``tf`` extra; an ImportError naming another module is a bug, not a missing extra
TF_MODULES = frozenset({"tensorflow", "keras", "ai_edge_litert"})


def parse_storage_options(values: Sequence[str], flag: str = "--storage-option") -> dict:
    """``--storage-option key=value`` pairs as a dict (values parsed as JSON when they can be).

    Raises:
        click.BadParameter: an item without ``=`` or without a key.
    """
    options = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=flag)
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def storage_option(help_text: str | None = None, flag: str = "--storage-option", dest: str = "storage_options") -> Callable:
    """The ``--storage-option KEY=VALUE`` option (repeatable), passed to the command as ``storage_options: dict``.

    Args:
        help_text: what the options apply to, for ``--help``.
        flag: the option's name (``--input-storage-option`` for a second location).
        dest: the command's parameter that receives the dict.
    """
    return click.option(
        flag,
        dest,
        multiple=True,
        metavar="KEY=VALUE",
        callback=lambda ctx, param, values: parse_storage_options(values, flag),
        help=help_text,
    )


def add_options(options: Sequence[Callable]) -> Callable:
    """Decorator applying a list of click options in order."""

    def apply(function):
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def require_path(location: str, what: str, storage_options: dict | None = None, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse a path or URL that does not exist, before any heavy import (TensorFlow).

    Args:
        location: a local path or a URL; shard patterns (``{a..b}``) and lists are left to the reader.
        what: how the command line calls it (``CHECKPOINT``, ``--shards``).
        storage_options: fsspec options for URLs.
        suffixes: check only a location with one of these endings (the library refuses other
            names with its own message).

    Raises:
        ConfigError: ``location`` does not exist.
    """
    if "{" in location or "," in location or (suffixes and not location.endswith(suffixes)):
        return
    from shardkit.storage import filesystem

    fs, path = filesystem(location, storage_options)
    if not fs.exists(path):
        raise ConfigError(f"{what} {location!r} does not exist")


def missing_tensorflow(exc: ImportError) -> bool:
    """Whether ``exc`` says TensorFlow, Keras or ai-edge-litert is not installed.

    The module is the error's ``name``; an ImportError without one (a module that re-raises
    a missing TensorFlow with its own message) is judged by the error it was raised from.
    """
    error: BaseException | None = exc
    while isinstance(error, ImportError):
        if error.name:
            return error.name.split(".")[0] in TF_MODULES
        error = error.__cause__
    return False


@contextmanager
def tensorflow_required(message: str) -> Iterator[None]:
    """Turn a missing TensorFlow inside the block into ``Error: <message>`` (exit 1); any other ImportError propagates.

    Args:
        message: what to tell the person, with the ``pip install`` line; ``{exc}`` is replaced by the ImportError.
    """
    try:
        yield
    except ImportError as exc:
        if not missing_tensorflow(exc):
            raise
        raise click.ClickException(message.format(exc=exc)) from exc
