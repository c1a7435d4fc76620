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

    A stream's buffered batch is read through an offset: a step takes spans of batches, and only
    `coalesce` makes batches, one per channel (with one file per symbol, a step cuts hundreds of
    streams; two batches per cut were most of a replay's reading thread).
    """
    iterators = [iter(stream) for stream in streams]
    pending: list[EventBatch | None] = [None] * len(iterators)
    offset = [0] * len(iterators)  # events of pending[i] already yielded
    while True:
        for i, iterator in enumerate(iterators):
            while iterator is not None and (pending[i] is None or offset[i] >= len(pending[i])):
                pending[i], offset[i] = next(iterator, None), 0
                if pending[i] is None:
                    iterators[i] = None
                    break
        active = [batch for batch, done in zip(pending, offset, strict=True) if batch is not None and done < len(batch)]
        if not active:
            return
        horizon = min(int(batch.arrival[-1]) for batch in active)
        spans = []
        for i, batch in enumerate(pending):
            # only the streams with events up to the horizon are cut: with hundreds of streams
            # (one file per symbol and channel) most have none
            if batch is None or offset[i] >= len(batch) or batch.arrival[offset[i]] > horizon:
                continue
            cut = len(batch) if batch.arrival[-1] <= horizon else int(
                np.searchsorted(batch.arrival, horizon, side="right"))
            spans.append((batch, offset[i], cut))
            offset[i] = cut
        yield coalesce(spans), horizon


def coalesce(spans: list[tuple[EventBatch, int, int]]) -> list[EventBatch]:
    """The events of the spans (batch, start, stop), as one batch per channel in arrival order
    (ties in the given order).

    With one file per symbol, a step holds hundreds of spans of a few dozen events each, and
    every batch fed costs the engine a fixed amount. Each stream is in arrival order, so the
    events of one stream keep their order, and every event sees the same watermark as before.
    """
    by_type: dict[type, list[tuple[EventBatch, int, int]]] = {}
    for span in spans:
        by_type.setdefault(type(span[0]), []).append(span)
    out = []
    for kind, group in by_type.items():
        if len(group) == 1:
            batch, start, stop = group[0]
            out.append(batch if (start, stop) == (0, len(batch)) else batch.take(slice(start, stop)))
            continue
        merged = kind.join(group)
        out.append(merged.take(np.argsort(merged.arrival, kind="stable")))
    return out
