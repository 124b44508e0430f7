"""A clean interpreter exit for tf.data pipelines fed by the reader's Python generators.

`tf.data.Dataset.from_generator` runs a Python generator on TensorFlow's own threads. When a
script ends with such a pipeline abandoned mid-stream (an iterator still referenced, batches
still being prefetched), Python starts finalising while those threads still call into it:
the main thread then blocks forever in the iterator's destructor (it joins a thread that can
no longer take the GIL), or TensorFlow logs "Error occurred when finalizing GeneratorDataset
iterator: ... Python interpreter state is not initialized".

This module closes such pipelines while the interpreter is still whole. The reader marks the
datasets it hands out (`track_dataset`) and the generators it feeds to tf.data
(`producer`). At exit, before Python joins its threads and thread pools stop taking work, and
only if one of those generators is still alive, `stop_and_release` tells every producer to
stop fetching shards (`until_stopped`) and drops the resource of every live tf.data iterator
that reads from a marked dataset: TensorFlow then joins that iterator's threads and
finalises its generators at once, while Python can still run them.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - its exit hook must be registered before ours: hooks run in reverse
import functools
import gc
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_datasets: weakref.WeakSet = weakref.WeakSet()
_producers: weakref.WeakSet = weakref.WeakSet()
_stopping = threading.Event()


def stopping() -> bool:
    """Whether the process is exiting: producers should stop reading."""
    return _stopping.is_set()


def until_stopped(items: Iterable[T]) -> Iterator[T]:
    """``items`` until the process starts exiting (put it before anything slow, e.g. shard URLs)."""
    for item in items:
        if _stopping.is_set():
            return
        yield item


def track_dataset(dataset: Any) -> Any:
    """Mark a dataset handed to users: iterators over it (or over datasets built on it) are released at exit."""
    _datasets.add(dataset)
    return dataset


def producer(function: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
    """Decorate a function whose generators feed `from_generator`: each one is tracked while it lives."""

    @functools.wraps(function)
    def start(*args: Any, **kwargs: Any) -> Iterator[T]:
        generator = function(*args, **kwargs)
        _producers.add(generator)
        return generator

    return start


def live_producers() -> int:
    """Tracked generators not yet finished (created but unstarted ones count: TensorFlow finalises them too)."""
    return sum(1 for generator in list(_producers) if getattr(generator, "gi_frame", True) is not None)


def _reads_from(dataset: Any, tracked: set[int]) -> bool:
    """Whether ``dataset`` is a tracked dataset or is built (through its inputs) on one."""
    todo, seen = [dataset], set()
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if id(current) in tracked:
            return True
        try:
            todo.extend(current._inputs())
        except Exception:  # noqa: BLE001 - a dataset type that cannot list its inputs is a leaf here
            continue
    return False


def release_iterators() -> int:
    """Drop the resource of every live tf.data iterator that reads from a tracked dataset.

    The iterator object stays (its owner may still hold it) but can no longer be used;
    TensorFlow stops and joins its threads and finalises its generators now.

    Returns:
        How many iterators were released.
    """
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return 0
    tracked = {id(dataset) for dataset in list(_datasets)}
    released = 0
    for obj in gc.get_objects():
        try:
            if not isinstance(obj, tf.data.Iterator):
                continue
        except ReferenceError:  # a weak proxy whose referent is gone: nothing to release
            continue
        if getattr(obj, "_iterator_resource", None) is not None and _reads_from(getattr(obj, "_dataset", None), tracked):
            obj._iterator_resource = None
            released += 1
    return released


def stop_and_release() -> None:
    """At exit: if a tracked generator is alive, stop all producers and release their iterators."""
    if not live_producers():
        return
    _stopping.set()
    released = release_iterators()
    log.debug("released %d tf.data iterator(s) at exit; %d producer(s) left", released, live_producers())


# threading's exit hooks run before Python joins non-daemon threads, so before
# concurrent.futures shuts its pools (its hook was registered earlier and runs later)
getattr(threading, "_register_atexit", atexit.register)(stop_and_release)
