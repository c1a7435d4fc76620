"""LiveCore: the live pipeline without I/O. Records in (see `records.py`), closed rows out.

The daemon turns network activity into records and applies them here; `replay --recorded`
applies the same records read from disk. Neither path has logic of its own, so a recording
reproduces the live rows exactly.
"""

from __future__ import annotations

from collections import deque

from ..badinput import BadInputCounter
from ..engine import BarEngine
from ..engine.block import RowBlock
from .binance import EXCHANGE, BinanceNormalizer
from .buffer import EventBuffer

DEDUPE_WINDOW_US = 10_000_000  # frames repeated by another connection within this are dropped
FEED_EVERY = 20_000  # buffered events that trigger a feed between ticks (bounds memory)


class LiveCore:
    """Normalizes frames, tracks outages, feeds the engine and closes bars on clock ticks."""

    def __init__(self, engine: BarEngine, symbols: frozenset[str] | None = None,
                 bad: BadInputCounter | None = None) -> None:
        self.engine = engine
        self.bad = bad or BadInputCounter()
        self.buffer = EventBuffer(EXCHANGE)
        self.normalizer = BinanceNormalizer(self.buffer, symbols, self.bad)
        self.duplicates = 0
        self.last_time = 0  # the time of the last record applied
        self._recent: dict[str, str] = {}  # frame text -> connection that delivered it
        self._recent_order: deque[tuple[int, str]] = deque()

    def apply(self, record: dict) -> RowBlock | None:
        """Apply one record; a `tick` returns the rows of the bars it closed (None otherwise)."""
        t = record["t"]
        self.last_time = max(self.last_time, t)
        kind = record["k"]
        if kind == "ws" and record.get("b"):
            self.bad.record("binary frame", record["m"][:200])
        elif kind == "ws":
            self._frame(record["c"], record["m"], t)
        elif kind == "oi":
            self.normalizer.open_interest(record["m"], t)
        elif kind == "metrics":
            self.normalizer.metrics(record["e"], record["s"], record["p"], record["m"], t)
        elif kind == "tick":
            return self.tick(t)
        elif kind == "down":
            symbols = record.get("s")
            instruments = None if symbols is None else frozenset((EXCHANGE, s) for s in symbols)
            self.engine.outages.begin(record["c"], instruments, record.get("since", t))
        elif kind == "up":
            self.engine.outages.end(record["c"], t)
        elif kind == "start":  # a daemon (re)started: new connections, maybe other symbols
            symbols = record.get("symbols")
            self.normalizer.symbols = None if symbols is None else frozenset(symbols)
            self._recent.clear()
            self._recent_order.clear()
        if len(self.buffer) >= FEED_EVERY:
            self.feed()
        return None

    def tick(self, t: int) -> RowBlock:
        """The clock reached `t`: feed what is buffered, close every bar due by then."""
        self.feed()
        return self.engine.advance(t)

    def feed(self) -> None:
        """Hand the buffered events to the engine (never changes a row, only when work happens)."""
        for batch in self.buffer.drain():
            self.engine.feed(batch)

    def _frame(self, connection: str, text: str, t: int) -> None:
        # While a rotated connection overlaps its successor both deliver the same frames.
        order = self._recent_order
        while order and order[0][0] < t - DEDUPE_WINDOW_US:
            _, old = order.popleft()
            self._recent.pop(old, None)
        first = self._recent.setdefault(text, connection)
        if first != connection:
            self.duplicates += 1
            return
        if len(order) == 0 or order[-1][1] != text:
            order.append((t, text))
        self.normalizer.frame(text, t)
