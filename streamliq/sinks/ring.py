"""The server's memory of recent rows: a bounded ring per (exchange, symbol, freq).

Each row is serialized at most once, the first time a client or a request needs it, straight
into a ready-to-send WebSocket text frame; every HTTP response, backfill and WebSocket client
reuses those bytes. Rows nobody asks for before they leave the ring are never serialized, so a
replay served to no client costs little more than the replay. Rings are per
key so that a busy symbol never pushes a quiet one's history out.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from heapq import merge

import numpy as np

from ..engine.freq import parse_freq
from ..errors import InputError
from ..rows import rows_to_json
from .chunk import RowChunk

Key = tuple[str, str, str]  # (exchange, symbol, freq)
DEFAULT_RING_SIZE = 500
DEFAULT_CLIENT_QUEUE = 10_000  # a top-of-the-hour close of 500 symbols x 3 frequencies is 1,500 rows at once


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Which keys a request or subscription wants; None means any."""

    exchanges: frozenset[str] | None = None
    symbols: frozenset[str] | None = None
    freqs: frozenset[str] | None = None

    @classmethod
    def build(cls, exchanges: Iterable[str] | None = None, symbols: Iterable[str] | None = None,
              freqs: Iterable[str] | None = None) -> RowFilter:
        """Normalize user values: symbols upper case, frequencies canonical (`15min` -> `15m`)."""
        def clean(values: Iterable[str] | None, what: str) -> list[str] | None:
            if values is None:
                return None
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise InputError(f"{what} must be a list of strings")
            return [v.strip() for v in values if v.strip()] or None

        ex, sy, fr = clean(exchanges, "exchanges"), clean(symbols, "symbols"), clean(freqs, "freqs")
        return cls(
            exchanges=None if ex is None else frozenset(ex),
            symbols=None if sy is None else frozenset(s.upper() for s in sy),
            freqs=None if fr is None else frozenset(parse_freq(f).name for f in fr),
        )

    def matches(self, key: Key) -> bool:
        exchange, symbol, freq = key
        return ((self.symbols is None or symbol in self.symbols) and (self.freqs is None or freq in self.freqs)
                and (self.exchanges is None or exchange in self.exchanges))

    def describe(self) -> dict[str, list[str] | None]:
        def listed(values: frozenset[str] | None) -> list[str] | None:
            return None if values is None else sorted(values)
        return {"exchanges": listed(self.exchanges), "symbols": listed(self.symbols), "freqs": listed(self.freqs)}


def text_frame(text: str) -> bytes:
    """`text` as one unmasked, unfragmented WebSocket text frame (RFC 6455 section 5.2), as servers send."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class _Stored:
    """One chunk of rows as the ring keeps it: arrival numbers from `base`, frames made on demand."""

    __slots__ = ("bar_end", "bar_start", "base", "frames", "rows")

    def __init__(self, rows: RowChunk, base: int) -> None:
        self.rows = rows
        self.base = base  # the arrival number of row 0; row i is base + i
        self.bar_start = rows.column("bar_start")
        self.bar_end = rows.column("bar_end")
        self.frames: dict[int, bytes] = {}

    def entry(self, index: int) -> RingEntry:
        return RingEntry(self, int(index))

    def encode(self, indices: list[int]) -> None:
        """Make the frames of rows `indices` not made yet, together (see `rows_to_json`)."""
        missing = [i for i in dict.fromkeys(indices) if i not in self.frames]
        if missing:
            rows = self.rows.block if self.rows.block is not None else self.rows.dicts()
            for i, text in zip(missing, rows_to_json(rows, np.array(missing, np.int64)), strict=True):
                self.frames[i] = text_frame(text)


class RingEntry:
    """One row of a ring: its arrival number, bar times, and its WebSocket frame (made on first use,
    then kept with its chunk)."""

    __slots__ = ("index", "stored")

    def __init__(self, stored: _Stored, index: int) -> None:
        self.stored = stored
        self.index = index

    @property
    def seq(self) -> int:
        """Arrival order over all keys."""
        return self.stored.base + self.index

    @property
    def bar_start(self) -> int:
        return int(self.stored.bar_start[self.index])

    @property
    def bar_end(self) -> int:
        return int(self.stored.bar_end[self.index])

    @property
    def frame(self) -> bytes:
        """The row's JSON as a WebSocket text frame."""
        frame = self.stored.frames.get(self.index)
        if frame is None:
            self.stored.encode([self.index])
            frame = self.stored.frames[self.index]
        return frame

    @property
    def payload(self) -> bytes:
        """The row's JSON (UTF-8), without the frame header."""
        size = self.frame[1] & 0x7F
        return self.frame[2 if size < 126 else 4 if size == 126 else 10:]


def make_frames(entries: Iterable[RingEntry]) -> list[RingEntry]:
    """`entries`, their frames made chunk by chunk (many rows of a chunk at once is cheaper)."""
    entries = list(entries)
    by_chunk: dict[int, tuple[_Stored, list[int]]] = {}
    for entry in entries:
        by_chunk.setdefault(id(entry.stored), (entry.stored, []))[1].append(entry.index)
    for stored, indices in by_chunk.values():
        stored.encode(indices)
    return entries


class _Span:
    """Rows of one key in one chunk (row indices ascending)."""

    __slots__ = ("index", "stored")

    def __init__(self, stored: _Stored, index: np.ndarray) -> None:
        self.stored = stored
        self.index = index


class RowRing:
    """The last `size` rows of every key.

    A chunk of rows is filed by key with a few numpy calls; Python work grows with the keys in
    a chunk, not its rows. Rows become `RingEntry`s (and JSON) only when a request or a client
    wants them.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise InputError(f"ring size must be at least 1 (got {size})")
        self.size = size
        self.rings: dict[Key, deque[_Span]] = {}
        self.counts: dict[Key, int] = {}
        self.seq = 0

    def add(self, rows: RowChunk) -> list[tuple[Key, RingEntry]]:
        """Store rows; returns each one's key and entry, in arrival order, for the WebSocket clients."""
        stored = self._file(rows)
        keys = zip(rows.column("exchange").tolist(), rows.column("symbol").tolist(), rows.column("freq").tolist(),
                   strict=True)
        return [(key, stored.entry(index)) for index, key in enumerate(keys)]

    def store(self, rows: RowChunk) -> None:
        """Store rows that no client is waiting for."""
        self._file(rows)

    def _file(self, rows: RowChunk) -> _Stored:
        stored = _Stored(rows, self.seq + 1)
        self.seq += len(rows)
        names = [rows.coded(column) for column in ("exchange", "symbol", "freq")]
        code = np.zeros(len(rows), np.int64)
        for codes, labels in names:
            code = code * len(labels) + codes
        order = np.argsort(code, kind="stable")
        ordered = code[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        ends = np.append(starts[1:], len(ordered))
        first_rows = order[starts]
        keys = zip(*(labels[codes[first_rows]].tolist() for codes, labels in names), strict=True)
        for start, end, key in zip(starts.tolist(), ends.tolist(), keys, strict=True):
            self._append(key, _Span(stored, order[start:end]))
        return stored

    def _append(self, key: Key, span: _Span) -> None:
        ring = self.rings.get(key)
        if ring is None:
            ring = self.rings[key] = deque()
            self.counts[key] = 0
        ring.append(span)
        self.counts[key] += len(span.index)
        excess = self.counts[key] - self.size
        while excess > 0:
            first = ring[0]
            if len(first.index) <= excess:
                ring.popleft()
                dropped = len(first.index)
            else:
                first.index = first.index[excess:]
                dropped = excess
            self.counts[key] -= dropped
            excess -= dropped

    def keys(self, where: RowFilter) -> list[Key]:
        return sorted(key for key in self.rings if where.matches(key))

    def _entries(self, key: Key, newest: int | None = None, after_us: int | None = None) -> list[RingEntry]:
        """A key's rows, oldest first: all, the `newest` n, or those with `bar_start > after_us`."""
        out: list[RingEntry] = []
        for span in reversed(self.rings[key]):
            index = span.index
            if after_us is not None:
                index = index[span.stored.bar_start[index] > after_us]
            if newest is not None:
                index = index[max(0, len(index) - (newest - len(out))):]
            out[:0] = [span.stored.entry(i) for i in index.tolist()]
            if newest is not None and len(out) >= newest:
                break
        return out

    def latest(self, where: RowFilter) -> list[RingEntry]:
        """The newest row of each matching key, in key order."""
        return [self._entries(key, newest=1)[0] for key in self.keys(where)]

    def since(self, where: RowFilter, after_us: int | None = None, limit: int | None = None) -> list[RingEntry]:
        """Rows of matching keys with `bar_start > after_us`, in arrival order; the first `limit`."""
        out = list(merge(*(self._entries(key, after_us=after_us) for key in self.keys(where)),
                         key=lambda e: e.seq))
        return out if limit is None else out[:limit]

    def backfill(self, where: RowFilter, per_key: int) -> list[RingEntry]:
        """The last `per_key` rows of each matching key, in arrival order."""
        if per_key <= 0:
            return []
        return list(merge(*(self._entries(key, newest=per_key) for key in self.keys(where)), key=lambda e: e.seq))

    def last_bars(self) -> dict[Key, int]:
        """bar_end of the newest row per key."""
        return {key: int(ring[-1].stored.bar_end[ring[-1].index[-1]]) for key, ring in self.rings.items()}
