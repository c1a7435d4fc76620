"""BarEngine: the sans-I/O core. Event batches and a watermark in, closed factor rows out.

It never reads a clock, a socket or a file. Replay, the live daemon and the pandas API are
drivers of this one class:

    engine.feed(batch)          # add events (any channel, any instruments, arrival order)
    rows = engine.advance(wm)   # the watermark reached wm: rows of every bar that closed
    rows = engine.flush()       # end of a finite replay: close everything that is left

Rows are dicts keyed by the FACTORS.md column names, with `bar_start`/`bar_end` as
integer µs (`streamliq.rows` turns them into tables, frames or JSON). `feed` never closes a
bar, so a driver merging several arrival-ordered streams can feed each stream's events up to a
common horizon and then advance to it.
"""

from __future__ import annotations

import numpy as np

from .config import FactorConfig
from .events import SELL, EventBatch, Instrument, LiquidationBatch, MetricBatch, TickerBatch, TradeBatch
from .features.aggregate import Aggregates, Members
from .features.metric_bars import add_metrics
from .freq import Freq
from .gaps import Outages
from .series import InstrumentSeries

NO_WATERMARK = int(np.iinfo(np.int64).min)


class _FreqBook:
    """All instruments' bars at one frequency, and that frequency's clock."""

    def __init__(self, freq: Freq, order: int) -> None:
        self.freq = freq
        self.order = order
        self.closed_through: int | None = None  # the last bar index closed for everyone
        self.last_event_bar: int | None = None  # the last bar holding an event (for flush)
        self.series: dict[Instrument, InstrumentSeries] = {}
        self.late_events = 0


class BarEngine:
    """Event-time bars for many instruments and frequencies in one pass (FACTORS.md)."""

    aggregates: Aggregates | None = None  # class default: engines checkpointed before section 10

    def __init__(self, config: FactorConfig | None = None, aggregates: Members | None = None) -> None:
        """`aggregates` (instrument -> (coin, base_per_unit)) adds the FACTORS.md section 10 rows."""
        self.config = config or FactorConfig()
        self.columns = self.config.columns()
        self.books = [_FreqBook(freq, i) for i, freq in enumerate(self.config.freqs)]
        self.watermark = NO_WATERMARK
        self.events = 0
        self.outages = Outages()  # live feed outages: bars they overlap get gap = true
        self.aggregates = None if aggregates is None else Aggregates(aggregates)
        if self.aggregates is not None:
            self.outages.members = self.aggregates.groups

    # -- input ------------------------------------------------------------------------------
    def feed(self, batch: EventBatch) -> None:
        """Add a batch of events, in arrival order. Late events are only counted."""
        if len(batch) == 0:
            return
        if isinstance(batch, MetricBatch) and not self.config.metrics:
            raise ValueError("metric events need a FactorConfig with metrics=True (section 7 columns)")
        self.events += len(batch)
        # the watermark each event sees: it moves before the event is added
        seen = np.maximum.accumulate(np.maximum(batch.arrival, self.watermark))
        for book in self.books:
            self._feed_book(book, batch, seen)
        union = self.aggregates.batch_for(batch) if self.aggregates is not None else None
        if union is not None:  # the same events again as the aggregates' ("all", coin)
            for book in self.books:
                late_before = book.late_events  # members' late events are counted once
                self._feed_book(book, union[0], seen[union[1]])
                book.late_events = late_before

    def _feed_book(self, book: _FreqBook, batch: EventBatch, seen: np.ndarray) -> None:
        width = book.freq.us
        bar = batch.ts // width
        late = seen >= (bar + 1) * width + self.config.lateness_us
        on_time = ~late
        if late.any():
            late_bar = seen[late] // width
            book.late_events += int(late.sum())
            for (inst, index), count in _group_counts(batch.instrument[late], late_bar):
                self._series(book, batch.instruments[inst]).bar(index).late_events += count
            book.last_event_bar = _max(book.last_event_bar, int(late_bar.max()))
        if not on_time.any():
            return
        part = batch.take(on_time) if late.any() else batch
        bar = bar[on_time] if late.any() else bar
        book.last_event_bar = _max(book.last_event_bar, int(bar.max()))
        keys, group = _group(part.instrument, bar)
        bars = [self._series(book, part.instruments[inst]).bar(index) for inst, index in keys]
        for acc, count in zip(bars, np.bincount(group, minlength=len(bars)), strict=True):
            acc.n_events += int(count)
        if isinstance(part, LiquidationBatch):
            _add_liquidations(bars, group, part)
        elif isinstance(part, TickerBatch):
            _add_ticker(bars, group, part)
        elif isinstance(part, TradeBatch):
            _add_trades(bars, group, part)
        elif isinstance(part, MetricBatch):
            add_metrics(bars, *_slices(group, len(bars)), part)

    def _series(self, book: _FreqBook, instrument: Instrument) -> InstrumentSeries:
        series = book.series.get(instrument)
        if series is None:
            series = book.series[instrument] = InstrumentSeries(
                instrument[0], instrument[1], book.freq, self.config, self.columns)
        return series

    def late_events(self) -> dict[str, int]:
        """Late events so far, per frequency name."""
        return {book.freq.name: book.late_events for book in self.books}

    # -- output -----------------------------------------------------------------------------
    def advance(self, watermark: int) -> list[dict]:
        """Move the watermark; return the rows of every bar with `bar_end + lateness <= watermark`."""
        self.watermark = max(self.watermark, int(watermark))
        if self.watermark == NO_WATERMARK:
            return []
        out = []
        for book in self.books:
            last = (self.watermark - self.config.lateness_us) // book.freq.us - 1
            out += self._close_through(book, last)
        widest = max(book.freq.us for book in self.books)
        self.outages.forget_before(self.watermark - self.config.lateness_us - widest)
        return _in_output_order(out)

    def flush(self, through: dict[str, int] | None = None) -> list[dict]:
        """End of a finite replay: close every instrument through the last bar holding an event.

        `through` (a bar index per frequency name) closes through a later bar: a replay split
        into parts closes each part through the last bar of the whole run.
        """
        out = []
        for book in self.books:
            last = book.last_event_bar
            if through and book.freq.name in through:
                last = _max(last, through[book.freq.name])
            if last is not None:
                out += self._close_through(book, last)
        return _in_output_order(out)

    def _close_through(self, book: _FreqBook, last: int) -> list[tuple]:
        if book.closed_through is not None and last <= book.closed_through:
            return []
        book.closed_through = last
        keyed = []
        width = book.freq.us
        for instrument in sorted(book.series):
            first, rows = book.series[instrument].close_through(last, self.outages)
            for offset, row in enumerate(rows, start=first + 1):
                keyed.append((offset * width, book.order, instrument, row))
        return keyed


def _in_output_order(keyed: list[tuple]) -> list[dict]:
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def _max(current: int | None, value: int) -> int:
    return value if current is None else max(current, value)


def _group(instrument: np.ndarray, bar: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Distinct (instrument, bar) pairs, sorted, and each event's group number."""
    if len(bar) and (bar == bar[0]).all() and (instrument == instrument[0]).all():
        return [(int(instrument[0]), int(bar[0]))], np.zeros(len(bar), dtype=np.intp)
    base = bar.min()
    key = (instrument.astype(np.int64) << 32) | (bar - base)
    unique, group = np.unique(key, return_inverse=True)
    keys = [(int(k >> 32), int((k & 0xFFFFFFFF) + base)) for k in unique]
    return keys, group.reshape(-1)


def _group_counts(instrument: np.ndarray, bar: np.ndarray) -> list[tuple[tuple[int, int], int]]:
    keys, group = _group(instrument, bar)
    return list(zip(keys, np.bincount(group, minlength=len(keys)).tolist(), strict=True))


def _slices(group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """A stable order that makes groups contiguous, and each group's start offset."""
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(n_groups + 1))
    return order, starts


def _add_liquidations(bars: list, group: np.ndarray, part: LiquidationBatch) -> None:
    notional = part.price * part.amount
    is_long = part.side == SELL
    order, starts = _slices(group, len(bars))
    for g, acc in enumerate(bars):
        take = order[starts[g]:starts[g + 1]]
        acc.add_liquidations(part.ts[take], notional[take], part.amount[take], is_long[take])


def _add_trades(bars: list, group: np.ndarray, part: TradeBatch) -> None:
    notional = part.price * part.amount
    order, starts = _slices(group, len(bars))
    for g, acc in enumerate(bars):
        take = order[starts[g]:starts[g + 1]]
        acc.add_trades(part.amount[take], notional[take], part.side[take])


def _add_ticker(bars: list, group: np.ndarray, part: TickerBatch) -> None:
    n = len(bars)
    mark = part.mark_price
    has_mark = ~np.isnan(mark)
    first = _first_valid(group, mark, n)
    last = _last_valid(group, mark, n)
    high = np.full(n, -np.inf)
    low = np.full(n, np.inf)
    np.maximum.at(high, group[has_mark], mark[has_mark])
    np.minimum.at(low, group[has_mark], mark[has_mark])
    carried = {name: _last_valid(group, getattr(part, name), n)
               for name in ("last_price", "index_price", "funding_rate", "open_interest")}
    for g, acc in enumerate(bars):
        acc.add_ticker(float(first[g]), float(last[g]), float(high[g]), float(low[g]),
                       {name: float(values[g]) for name, values in carried.items()})


def _first_valid(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    valid = ~np.isnan(values)
    groups, index = np.unique(group[valid], return_index=True)
    out[groups] = values[valid][index]
    return out


def _last_valid(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    valid = ~np.isnan(values)
    groups, index = np.unique(group[valid][::-1], return_index=True)
    out[groups] = values[valid][::-1][index]
    return out
