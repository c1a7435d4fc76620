"""Cutting long arrival-ordered streams into the time windows of a day-by-day replay.

A replay reads Tardis files one UTC day at a time, but a positioning stream spans the whole run
(monthly dumps). `ArrivalWindows.until(limit)` hands each day the events that arrived before its
end, keeping the rest for the next day, so the day's merge sees every stream in arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..engine.events import EventBatch


class _Cursor:
    def __init__(self, stream: Iterable[EventBatch]) -> None:
        self.iterator: Iterator[EventBatch] | None = iter(stream)
        self.pending: EventBatch | None = None

    def before(self, limit: int) -> Iterator[EventBatch]:
        """The events with `arrival < limit` not handed out yet."""
        while True:
            if self.pending is None or not len(self.pending):
                self.pending = next(self.iterator, None) if self.iterator is not None else None
                if self.pending is None:
                    self.iterator = None
                    return
            cut = int(np.searchsorted(self.pending.arrival, limit, side="left"))
            if cut:
                yield self.pending.take(slice(0, cut))
            self.pending = self.pending.take(slice(cut, None))
            if len(self.pending):
                return


class ArrivalWindows:
    """Several arrival-ordered streams, handed out window by window."""

    def __init__(self, streams: Iterable[Iterable[EventBatch]]) -> None:
        self.cursors = [_Cursor(stream) for stream in streams]

    def until(self, limit: int) -> list[Iterator[EventBatch]]:
        """One iterator per stream over its events with `arrival < limit` not handed out yet."""
        return [cursor.before(limit) for cursor in self.cursors]

    def drop_until(self, limit: int) -> None:
        """Discard every event with `arrival < limit` (outside the replayed days)."""
        for events in self.until(limit):
            for _ in events:
                pass
