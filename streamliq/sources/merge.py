"""Merging arrival-ordered event streams up to a common horizon."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..engine.events import EventBatch


def merge_by_arrival(streams: Iterable[Iterable[EventBatch]]) -> Iterator[tuple[list[EventBatch], int]]:
    """Yield (batches, horizon) steps over several arrival-ordered streams.

    Each step holds, from every stream, the events with `arrival <= horizon` not yet yielded,
    where the horizon is the smallest last arrival among the streams' buffered batches. After
    a step no stream can produce an event that arrived before the horizon, so the engine may
    advance its watermark to it. Within a stream the order is kept (ties in file order).
    """
    iterators = [iter(stream) for stream in streams]
    pending: list[EventBatch | None] = [None] * len(iterators)
    while True:
        for i, iterator in enumerate(iterators):
            while iterator is not None and (pending[i] is None or len(pending[i]) == 0):
                pending[i] = next(iterator, None)
                if pending[i] is None:
                    iterators[i] = None
                    break
        active = [batch for batch in pending if batch is not None and len(batch)]
        if not active:
            return
        horizon = min(int(batch.arrival[-1]) for batch in active)
        step = []
        for i, batch in enumerate(pending):
            # only the streams with events up to the horizon are cut: with hundreds of streams
            # (one file per symbol and channel) most have none, and two empty takes each per step
            # made the merge cost grow with the square of the number of streams
            if batch is None or not len(batch) or batch.arrival[0] > horizon:
                continue
            if batch.arrival[-1] <= horizon:
                step.append(batch)
                pending[i] = None
                continue
            cut = int(np.searchsorted(batch.arrival, horizon, side="right"))
            step.append(batch.take(slice(0, cut)))
            pending[i] = batch.take(slice(cut, None))
        yield coalesce(step), horizon


def coalesce(batches: list[EventBatch]) -> list[EventBatch]:
    """One batch per channel, its events in arrival order (ties in the given order).

    With one file per symbol, a step holds hundreds of slices of a few dozen events each, and
    every batch fed costs the engine a fixed amount. Each stream is in arrival order, so the
    events of one stream keep their order, and every event sees the same watermark as before.
    """
    by_type: dict[type, list[EventBatch]] = {}
    for batch in batches:
        by_type.setdefault(type(batch), []).append(batch)
    out = []
    for kind, group in by_type.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        merged = kind.concat(group)
        out.append(merged.take(np.argsort(merged.arrival, kind="stable")))
    return out
