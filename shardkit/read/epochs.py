"""One long-lived reader pipeline over many epochs, handed out one epoch at a time.

A training loop that makes a new `tf.data.Dataset` per epoch (one Keras ``fit`` per epoch)
pays for the epoch boundary every time: the dataset functions are traced again, a new
iterator starts, the first shards are fetched, the shuffle buffer refills and the first
batch is decoded and transformed while the model waits. `EpochStream` builds the pipeline
once, over all the epochs of a run, and keeps one iterator over it: its prefetch runs
into the next epoch while the current one is trained on. `EpochStream.epoch` cuts that
single stream into per-epoch datasets by each batch's position (``[epoch, next_index]``,
the reader's ``with_position``), so each epoch holds exactly the batches a per-epoch
pipeline would yield for the same (seed, epoch), no more and no fewer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import tensorflow as tf

from shardkit.read.lifecycle import producer, track_dataset, until_stopped

log = logging.getLogger(__name__)


def view_options() -> tf.data.Options:
    """The per-epoch view's options: none of tf.data's default graph rewrites.

    Every epoch starts a new iterator over the view, and the rewrites ran again each time
    for a graph with nothing to rewrite (a generator): about 25 of the 40 ms an epoch
    boundary cost on two cores, a quarter of an epoch of a small split kept in memory.
    """
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return options


def epoch_of(batch: tuple) -> int:
    """The epoch of a batch whose last element is its position ``[epoch, next_index]``."""
    return int(batch[-1][0])


class EpochStream:
    """Per-epoch datasets cut from one iterator over a multi-epoch dataset.

    Args:
        dataset: batches ending in a position ``[epoch, next_index]`` (``with_position``),
            epochs ascending, as `ShardReader.dataset` yields them.
        keep_position: whether the per-epoch batches keep their position element.

    Use it as a context manager, or call `close`, to release the iterator (and the reader's
    producer threads) when the run stops early.
    """

    def __init__(self, dataset: tf.data.Dataset, keep_position: bool = False) -> None:
        self._dataset = track_dataset(dataset)
        self._keep_position = keep_position
        self._iterator: Iterator | None = None
        self._pending: tuple | None = None
        self._last_epoch: int | None = None
        signature = dataset.element_spec if keep_position else dataset.element_spec[:-1]
        # one dataset for every epoch: building a generator dataset per epoch cost more than the iterator over it
        view = tf.data.Dataset.from_generator(self._current_batches, output_signature=signature)
        # tracked too: a script that ends mid-epoch holds an iterator over the view, released at exit like the rest
        self._view = track_dataset(view.with_options(view_options()))

    def epoch(self, epoch: int) -> tf.data.Dataset:
        """The batches of ``epoch`` as a dataset, read from the shared iterator (epochs must be asked for in order).

        Batches of earlier epochs still in the stream (an epoch that was not read to its end)
        are skipped; the first batch of a later epoch is kept for that epoch. The dataset is
        the same object for every epoch: iterate it once, before asking for the next epoch.

        Raises:
            ValueError: ``epoch`` is earlier than an epoch already handed out.
        """
        if self._last_epoch is not None and epoch < self._last_epoch:
            raise ValueError(f"EpochStream.epoch: epochs are read in order; got epoch {epoch} after epoch {self._last_epoch}")
        self._last_epoch = epoch
        if self._iterator is None:
            self._iterator = iter(self._dataset)
        return self._view

    def _current_batches(self) -> Iterator[tuple]:
        """The batches of the epoch last asked for (what the shared view's iterator reads)."""
        return self._batches(self._last_epoch)

    @producer
    def _batches(self, epoch: int) -> Iterator[tuple]:
        for batch in until_stopped(self._stream()):
            found = epoch_of(batch)
            if found < epoch:
                continue
            if found > epoch:
                self._pending = batch
                return
            yield batch if self._keep_position else batch[:-1]

    def _stream(self) -> Iterator[tuple]:
        """The pending batch (a later epoch's first), then the shared iterator's batches."""
        while True:
            if self._pending is not None:
                batch, self._pending = self._pending, None
                yield batch
                continue
            if self._iterator is None:
                return
            try:
                yield next(self._iterator)
            except StopIteration:
                return

    def close(self) -> None:
        """Release the shared iterator: its threads stop and its generators finish now."""
        self._iterator, self._pending = None, None

    def __enter__(self) -> EpochStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
