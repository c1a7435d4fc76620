"""The tasks that run on Dask workers: replay a group of symbols, then close them at the run's end."""

from __future__ import annotations

import copy
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

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
from .plan import Source, TaskPlan
from .split import Piece, read_piece

T = TypeVar("T")


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
class TaskSummary:
    """What a replay task reports to the client (small: no rows, no engine)."""

    instruments: tuple[Instrument, ...]
    events: int = 0
    rows: int = 0
    watermark: int = NO_WATERMARK
    last_bars: dict[str, int | None] = field(default_factory=dict)
    late_events: dict[str, int] = field(default_factory=dict)
    days: list[DayMark] = field(default_factory=list)
    bad_rows: Counter[str] = field(default_factory=Counter)


@dataclass
class TaskRun:
    """A replayed task: its engine (kept on the worker for the finish step) and its summary."""

    engine: BarEngine
    summary: TaskSummary


@dataclass(frozen=True)
class RunEnd:
    """The end of the whole run, from every task's summary."""

    watermark: int  # the largest arrival of any event
    last_bars: dict[str, int]  # per frequency, the last bar holding an event of any symbol


def input_errors_returned(function: Callable[..., T]) -> Callable[..., T | InputError]:
    """`function`, returning an InputError instead of raising it.

    Bad input is deterministic: Dask would retry the task and log each attempt's traceback
    ("Compute Failed") for an error that the client reports in one line anyway."""
    @functools.wraps(function)
    def call(*args, **kwargs) -> T | InputError:
        try:
            return function(*args, **kwargs)
        except InputError as exc:
            return exc
    return call


def run_task(task: TaskPlan, config: FactorConfig, root: str | Path, skip_bad_rows: bool,
             floors: dict[date, int] | None = None, units: UnitConverter | None = None) -> TaskRun:
    """Replay the task's symbols day by day through one engine, writing the rows that close on
    the way (part 0).

    `floors` holds, per day, a watermark to reach before the day's events are fed: the largest
    arrival of every symbol's earlier days (see the package docstring).
    """
    for instrument in task.instruments:
        remove_parts(root, instrument)  # an earlier attempt's files
    engine = BarEngine(config)
    summary = TaskSummary(task.instruments)
    bad_rows = BadInputCounter()
    writer = PartitionWriter(root, engine.columns, part=0)
    gaps = GapSchedule((start, end, frozenset([plan.instrument])) for plan in task.symbols for start, end in plan.gaps)
    try:
        for day, sources in task.days():
            gaps.register(engine.outages, day_start_us(day))
            if floors is not None:
                _advance(engine, floors[day], writer)
            mark = DayMark(day, engine.watermark)
            streams = _streams(sources, skip_bad_rows, bad_rows, units)
            for rows in run_steps(engine, merge_by_arrival(streams), on_batch=mark.see):
                writer.write(rows)
            summary.days.append(mark)
        gaps.register(engine.outages)  # days after the task's last file, closed by finish_task
    except BaseException:
        writer.abort()
        raise
    writer.close()
    summary.events = engine.events
    summary.rows = writer.rows
    summary.watermark = engine.watermark
    summary.last_bars = engine.last_event_bars()
    summary.late_events = engine.late_events()
    summary.bad_rows = bad_rows.counts
    return TaskRun(engine, summary)


def summary_of(run: TaskRun | InputError) -> TaskSummary | InputError:
    """The part of a run the client fetches (the engine stays on the worker)."""
    return run if isinstance(run, InputError) else run.summary


def finish_task(run: TaskRun, task: TaskPlan, config: FactorConfig, root: str | Path,
                skip_bad_rows: bool, end: RunEnd, floors: dict[date, int] | None,
                units: UnitConverter | None = None) -> TaskSummary:
    """Close the task's bars through the run's end (part 1); replay it again first with floors."""
    if floors is not None:
        run = run_task(task, config, root, skip_bad_rows, floors, units)
    engine = copy.deepcopy(run.engine)  # a retried task must find the engine as it was
    writer = PartitionWriter(root, engine.columns, part=1)
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


def run_end(summaries: Iterable[TaskSummary]) -> RunEnd:
    """The largest arrival and, per frequency, the last bar with an event, over all symbols."""
    watermark = NO_WATERMARK
    last_bars: dict[str, int] = {}
    for summary in summaries:
        watermark = max(watermark, summary.watermark)
        for freq, bar in summary.last_bars.items():
            if bar is not None:
                last_bars[freq] = max(last_bars.get(freq, bar), bar)
    return RunEnd(watermark, last_bars)


def day_floors(summaries: list[TaskSummary]) -> dict[date, int]:
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


def floors_needed(summary: TaskSummary, floors: dict[date, int]) -> dict[date, int] | None:
    """The floors for a second replay of this task, or None when its events saw the same clock.

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


def _streams(sources: list[tuple[Instrument, Source]], skip_bad_rows: bool, bad_rows: BadInputCounter,
             units: UnitConverter | None) -> list[Iterator[EventBatch]]:
    files = sum(1 for _, source in sources if not isinstance(source, Piece))
    block = max(1 << 20, min(1 << 23, READ_BUDGET_BYTES // max(1, files)))
    return [_stream(instrument, source, skip_bad_rows, bad_rows, block, units) for instrument, source in sources]


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

