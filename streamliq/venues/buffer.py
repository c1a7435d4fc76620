"""Normalized live events gathered between two engine feeds, one row tuple per event."""

from __future__ import annotations

import numpy as np

from ..engine.events import BATCH_TYPES, EventBatch

_VALUE_COLUMNS = {
    channel: tuple(name for name in cls._columns() if name not in ("instrument", "ts", "arrival"))
    for channel, cls in BATCH_TYPES.items()
}


class EventBuffer:
    """Collects events per channel as tuples; `drain()` turns them into columnar batches.

    A live message carries one event (or one array of mark prices); building numpy arrays per
    message would cost more than the message itself, so events wait here until the driver feeds
    the engine. Batching never changes a row (tests/test_properties.py).
    """

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self._rows: dict[str, list[tuple]] = {channel: [] for channel in BATCH_TYPES}
        self._others: dict[str, EventBuffer] = {}  # other exchanges' buffers, drained with this one

    def for_exchange(self, exchange: str) -> EventBuffer:
        """The buffer of `exchange`'s events: this one, or a sibling that `len()` and `drain()` of
        this one include (one buffer per venue keeps the hot `add` free of an exchange column)."""
        if exchange == self.exchange:
            return self
        if exchange not in self._others:
            self._others[exchange] = EventBuffer(exchange)
        return self._others[exchange]

    def add(self, channel: str, symbol: str, ts: int, arrival: int, *values: float) -> None:
        """One event: its values in the channel's column order (`_VALUE_COLUMNS`)."""
        self._rows[channel].append((symbol, ts, arrival, *values))

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values()) + sum(len(b) for b in self._others.values())

    def drain(self) -> list[EventBatch]:
        """The buffered events as batches (arrival order kept per channel); the buffer empties."""
        batches = []
        for channel, rows in self._rows.items():
            if rows:
                batches.append(_to_batch(channel, self.exchange, rows))
                self._rows[channel] = []
        for other in self._others.values():
            batches += other.drain()
        return batches


def _to_batch(channel: str, exchange: str, rows: list[tuple]) -> EventBatch:
    symbols, ts, arrival, *values = zip(*rows, strict=True)
    names = sorted(set(symbols))
    index = {name: i for i, name in enumerate(names)}
    columns = {
        "instrument": np.fromiter((index[s] for s in symbols), np.int32, len(symbols)),
        "ts": np.array(ts, np.int64),
        "arrival": np.array(arrival, np.int64),
    }
    for name, column in zip(_VALUE_COLUMNS[channel], values, strict=True):
        columns[name] = np.array(column, np.int8 if name == "side" else np.float64)
    return BATCH_TYPES[channel](instruments=tuple((exchange, s) for s in names), **columns)
