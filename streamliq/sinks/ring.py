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

from ..engine.freq import parse_freq
from ..errors import InputError
from ..rows import row_to_json

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


class RingEntry:
    """One row of a ring: its order, bar times, and its WebSocket frame (made on first use)."""

    __slots__ = ("_frame", "bar_end", "bar_start", "row", "seq")

    def __init__(self, seq: int, row: dict) -> None:
        self.seq = seq  # arrival order over all keys
        self.bar_start: int = row["bar_start"]
        self.bar_end: int = row["bar_end"]
        self.row: dict | None = row
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        """The row's JSON as a WebSocket text frame."""
        if self._frame is None:
            self._frame = text_frame(row_to_json(self.row))
            self.row = None
        return self._frame

    @property
    def payload(self) -> bytes:
        """The row's JSON (UTF-8), without the frame header."""
        size = self.frame[1] & 0x7F
        return self.frame[2 if size < 126 else 4 if size == 126 else 10:]


class RowRing:
    """The last `size` rows of every key, as JSON text."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise InputError(f"ring size must be at least 1 (got {size})")
        self.size = size
        self.rings: dict[Key, deque[RingEntry]] = {}
        self.seq = 0

    def add(self, row: dict) -> tuple[Key, RingEntry]:
        """Store a row; returns its key and entry (whose frame goes to the WebSocket clients)."""
        key = (row["exchange"], row["symbol"], row["freq"])
        ring = self.rings.get(key)
        if ring is None:
            ring = self.rings[key] = deque(maxlen=self.size)
        self.seq += 1
        entry = RingEntry(self.seq, row)
        ring.append(entry)
        return key, entry

    def keys(self, where: RowFilter) -> list[Key]:
        return sorted(key for key in self.rings if where.matches(key))

    def latest(self, where: RowFilter) -> list[RingEntry]:
        """The newest row of each matching key, in key order."""
        return [self.rings[key][-1] for key in self.keys(where)]

    def since(self, where: RowFilter, after_us: int | None = None, limit: int | None = None) -> list[RingEntry]:
        """Rows of matching keys with `bar_start > after_us`, in arrival order; the first `limit`."""
        picked = merge(*([e for e in self.rings[key] if after_us is None or e.bar_start > after_us]
                         for key in self.keys(where)), key=lambda e: e.seq)
        out = list(picked)
        return out if limit is None else out[:limit]

    def backfill(self, where: RowFilter, per_key: int) -> list[RingEntry]:
        """The last `per_key` rows of each matching key, in arrival order."""
        if per_key <= 0:
            return []
        return list(merge(*(list(self.rings[key])[-per_key:] for key in self.keys(where)), key=lambda e: e.seq))

    def last_bars(self) -> dict[Key, int]:
        """bar_end of the newest row per key."""
        return {key: ring[-1].bar_end for key, ring in self.rings.items()}
