"""The symbol tasks that run on Dask workers: replay one symbol, then close it at the run's end."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..badinput import BadInputCounter
from ..driver import advance_steps, run_steps
from ..engine import NO_WATERMARK, BarEngine
from ..engine.config import FactorConfig
from ..engine.events import EventBatch, Instrument
from ..errors import InputError
from ..sources.coverage import GapSchedule, day_start_us
from ..sources.merge import merge_by_arrival
from ..sources.tardis import TardisFileReader
from ..sources.units import UnitConverter
from ..tardis_replay import READ_BUDGET_BYTES
from .dataset import PartitionWriter, remove_parts
from .plan import Source, SymbolDay, SymbolPlan
from .split import Piece, read_piece


@dataclass
class DayMark:
    """One day of a symbol: its first and last arrival, and the watermark before it started."""

    day: date
    watermark_before: int
    first_arrival: int | None = None
    last_arrival: int | None = None

    def see(self, batch: EventBatch) -> None:
        if len(batch):
            low, high = int(batch.arrival.min()), int(batch.arrival.max())
            self.first_arrival = low if self.first_arrival is None else min(self.first_arrival, low)
            self.last_arrival = high if self.last_arrival is None else max(self.last_arrival, high)


@dataclass
class SymbolSummary:
    """What a symbol task reports to the client (small: no rows, no engine)."""

    instrument: Instrument
    events: int = 0
    rows: int = 0
    watermark: int = NO_WATERMARK
    last_bars: dict[str, int | None] = field(default_factory=dict)
    late_events: dict[str, int] = field(default_factory=dict)
    days: list[DayMark] = field(default_factory=list)
    bad_rows: Counter[str] = field(default_factory=Counter)


@dataclass
class SymbolRun:
    """A replayed symbol: its engine (kept on the worker for the finish step) and its summary."""

    engine: BarEngine
    summary: SymbolSummary


@dataclass(frozen=True)
class RunEnd:
    """The end of the whole run, from every symbol's summary."""

    watermark: int  # the largest arrival of any event
    last_bars: dict[str, int]  # per frequency, the last bar holding an event of any symbol


def run_symbol(plan: SymbolPlan, config: FactorConfig, root: str | Path, skip_bad_rows: bool,
               floors: dict[date, int] | None = None, units: UnitConverter | None = None) -> SymbolRun:
    """Replay one symbol day by day, writing the rows that close on the way (part 0).

    `floors` holds, per day, a watermark to reach before the day's events are fed: the largest
    arrival of every symbol's earlier days (see the package docstring).
    """
    remove_parts(root, plan.instrument)  # an earlier attempt's files
    engine = BarEngine(config)
    summary = SymbolSummary(plan.instrument)
    bad_rows = BadInputCounter()
    writer = PartitionWriter(root, plan.instrument, engine.columns, part=0)
    gaps = GapSchedule((start, end, frozenset([plan.instrument])) for start, end in plan.gaps)
    try:
        for day in plan.days:
            gaps.register(engine.outages, day_start_us(day.day))
            if floors is not None:
                _advance(engine, floors[day.day], writer)
            mark = DayMark(day.day, engine.watermark)
            for rows in run_steps(engine, merge_by_arrival(_streams(plan, day, skip_bad_rows, bad_rows, units)),
                                  on_batch=mark.see):
                writer.write(rows)
            summary.days.append(mark)
        gaps.register(engine.outages)  # days after the symbol's last file, closed by finish_symbol
    except BaseException:
        writer.abort()
        raise
    writer.close()
    summary.events = engine.events
    summary.rows = writer.rows
    summary.watermark = engine.watermark
    summary.last_bars = {book.freq.name: book.last_event_bar for book in engine.books}
    summary.late_events = engine.late_events()
    summary.bad_rows = bad_rows.counts
    return SymbolRun(engine, summary)


def finish_symbol(run: SymbolRun, plan: SymbolPlan, config: FactorConfig, root: str | Path,
                  skip_bad_rows: bool, end: RunEnd, floors: dict[date, int] | None,
                  units: UnitConverter | None = None) -> SymbolSummary:
    """Close the symbol's bars through the run's end (part 1); replay it again first with floors."""
    if floors is not None:
        run = run_symbol(plan, config, root, skip_bad_rows, floors, units)
    engine = copy.deepcopy(run.engine)  # a retried task must find the engine as it was
    writer = PartitionWriter(root, plan.instrument, engine.columns, part=1)
    try:
        _advance(engine, end.watermark, writer)
        writer.write(engine.flush(through=end.last_bars))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    summary = copy.copy(run.summary)
    summary.rows += writer.rows
    return summary


def run_end(summaries: Iterable[SymbolSummary]) -> RunEnd:
    """The largest arrival and, per frequency, the last bar with an event, over all symbols."""
    watermark = NO_WATERMARK
    last_bars: dict[str, int] = {}
    for summary in summaries:
        watermark = max(watermark, summary.watermark)
        for freq, bar in summary.last_bars.items():
            if bar is not None:
                last_bars[freq] = max(last_bars.get(freq, bar), bar)
    return RunEnd(watermark, last_bars)


def day_floors(summaries: list[SymbolSummary]) -> dict[date, int]:
    """Per day, the largest arrival of any symbol's events on earlier days."""
    last: dict[date, int] = {}
    for summary in summaries:
        for mark in summary.days:
            if mark.last_arrival is not None:
                last[mark.day] = max(last.get(mark.day, mark.last_arrival), mark.last_arrival)
    floors, running = {}, NO_WATERMARK
    for day in sorted({mark.day for summary in summaries for mark in summary.days} | set(last)):
        floors[day] = running
        running = max(running, last.get(day, NO_WATERMARK))
    return floors


def floors_needed(summary: SymbolSummary, floors: dict[date, int]) -> dict[date, int] | None:
    """The floors for a second replay of this symbol, or None when its events saw the same clock.

    An event saw `max(arrival, watermark_before)` on its own and `max(arrival, floor)` in the
    single-process replay; the two differ only when both are below the floor.
    """
    for mark in summary.days:
        floor = floors[mark.day]
        if mark.first_arrival is not None and mark.first_arrival < floor and mark.watermark_before < floor:
            return {m.day: floors[m.day] for m in summary.days}
    return None


def _advance(engine: BarEngine, watermark: int, writer: PartitionWriter) -> None:
    for step in advance_steps(engine.watermark, watermark):
        writer.write(engine.advance(step))


def _streams(plan: SymbolPlan, day: SymbolDay, skip_bad_rows: bool, bad_rows: BadInputCounter,
             units: UnitConverter | None) -> list[Iterator[EventBatch]]:
    files = sum(1 for source in day.sources if not isinstance(source, Piece))
    block = max(1 << 20, min(1 << 23, READ_BUDGET_BYTES // max(1, files)))
    return [_stream(plan.instrument, source, skip_bad_rows, bad_rows, block, units) for source in day.sources]


def _stream(instrument: Instrument, source: Source, skip_bad_rows: bool, bad_rows: BadInputCounter,
            block: int, units: UnitConverter | None) -> Iterator[EventBatch]:
    if isinstance(source, Piece):
        yield from read_piece(source, instrument)
        return
    for batch in TardisFileReader(source, None, frozenset(), skip_bad_rows, bad_rows, block_size=block, units=units):
        others = [i for i in batch.instruments if i != instrument]
        if others:
            exchange, symbol = others[0]
            raise InputError(f"{source.path}: holds rows of {symbol} ({exchange}); a partitioned replay "
                             f"needs a per-symbol file to hold only {instrument[1]} ({instrument[0]})")
        yield batch

