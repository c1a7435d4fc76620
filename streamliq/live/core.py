"""LiveCore: the live pipeline without I/O. Records in (see `records.py`), closed rows out.

The daemon turns network activity into records and applies them here; `replay --recorded`
applies the same records read from disk. Neither path has logic of its own, so a recording
reproduces the live rows exactly. Each record names its venue (`v`, Binance when absent, as in
recordings made before there were several); the venue's normalizer reads its frames and bodies,
and nothing here depends on which venue it is.
"""

from __future__ import annotations

from collections import deque

from ..badinput import BadInputCounter
from ..engine import BarEngine
from ..engine.block import RowBlock
from ..venues.base import Normalizer, sample
from ..venues.buffer import EventBuffer
from ..venues.registry import DEFAULT, venue
from ..venues.specs import InstrumentSpec

DEDUPE_WINDOW_US = 10_000_000  # frames repeated by another connection within this are dropped
FEED_EVERY = 20_000  # buffered events that trigger a feed between ticks (bounds memory)


class LiveCore:
    """Normalizes frames, tracks outages, feeds the engine and closes bars on clock ticks."""

    def __init__(self, engine: BarEngine, symbols: frozenset[str] | None = None,
                 bad: BadInputCounter | None = None) -> None:
        self.engine = engine
        self.bad = bad or BadInputCounter()
        self.buffer = EventBuffer(venue(DEFAULT).exchange)
        self.normalizers: dict[str, Normalizer] = {}
        self.normalizer = self.venue_normalizer(DEFAULT)  # the default venue's (Binance)
        self.normalizer.symbols = symbols
        self.duplicates = 0
        self.last_time = 0  # the time of the last record applied
        self._recent: dict[str, str] = {}  # frame text -> connection that delivered it
        self._recent_order: deque[tuple[int, str]] = deque()

    def venue_normalizer(self, name: str) -> Normalizer:
        """The normalizer of venue `name`, made on first use."""
        normalizer = self.normalizers.get(name)
        if normalizer is None:
            normalizer = self.normalizers[name] = venue(name).normalizer(self.buffer, None, self.bad)
        return normalizer

    @property
    def messages(self) -> int:
        """Websocket frames read, over all venues."""
        return sum(n.messages for n in self.normalizers.values())

    def specs(self) -> list[InstrumentSpec]:
        """The contract specs of every followed instrument known so far."""
        return [spec for n in self.normalizers.values() for symbol, spec in n.specs.items()
                if n.symbols is None or symbol in n.symbols]

    def apply(self, record: dict) -> RowBlock | None:
        """Apply one record; a `tick` returns the rows of the bars it closed (None otherwise)."""
        t = record["t"]
        self.last_time = max(self.last_time, t)
        kind = record["k"]
        if kind == "ws" and record.get("b"):
            self.venue_normalizer(record.get("v", DEFAULT)).binary(record["m"])
        elif kind == "ws":
            self._frame(record["c"], record["m"], t, record.get("v", DEFAULT))
        elif kind == "oi":
            self.venue_normalizer(record.get("v", DEFAULT)).open_interest(record["m"], t)
        elif kind == "metrics":
            self.venue_normalizer(record.get("v", DEFAULT)).metrics(record["e"], record["s"], record["p"],
                                                                    record["m"], t)
        elif kind == "instruments":
            self._instruments(record["v"], record["m"])
        elif kind == "tick":
            return self.tick(t)
        elif kind == "down":
            symbols = record.get("s")
            exchange = venue(record.get("v", DEFAULT)).exchange
            instruments = None if symbols is None else frozenset((exchange, s) for s in symbols)
            self.engine.outages.begin(record["c"], instruments, record.get("since", t))
        elif kind == "up":
            self.engine.outages.end(record["c"], t)
        elif kind == "start":  # a daemon (re)started: new connections, maybe other venues and symbols
            self._start(record)
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

    def _start(self, record: dict) -> None:
        followed = record.get("venues") or {DEFAULT: record.get("symbols")}
        for name, symbols in followed.items():
            normalizer = self.venue_normalizer(name)
            normalizer.symbols = None if symbols is None else frozenset(symbols)
        for normalizer in self.normalizers.values():
            normalizer.reset()
        self._recent.clear()
        self._recent_order.clear()

    def _instruments(self, name: str, body: str) -> None:
        try:
            specs = venue(name).parse_instruments(body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.bad.record(f"unreadable {name} instruments", f"{exc!r}: {sample(body)}")
            return
        self.venue_normalizer(name).set_specs(specs)

    def _frame(self, connection: str, text: str, t: int, venue_name: str) -> None:
        # While a rotated connection overlaps its successor both deliver the same frames.
        order = self._recent_order
        while order and order[0][0] < t - DEDUPE_WINDOW_US:
            _, old = order.popleft()
            self._recent.pop(old, None)
        first = self._recent.setdefault(text, connection)
        if first != connection:
            self.duplicates += 1
            self.venue_normalizer(venue_name).duplicate(text, connection)
            return
        if len(order) == 0 or order[-1][1] != text:
            order.append((t, text))
        self.venue_normalizer(venue_name).frame(text, t, connection)
