"""Replaying Tardis files through the engine: the driver behind `streamliq replay`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .badinput import BadInputCounter
from .driver import run_steps
from .engine import BarEngine
from .engine.block import RowBlock
from .engine.config import FactorConfig
from .engine.events import EventBatch
from .errors import InputError
from .sources.coverage import DAY_US, GapSchedule, MissingDay, day_start_us, missing_days
from .sources.discovery import CHANNELS, DayPlan, TardisFile, discover, parse_day, plan_days
from .sources.merge import merge_by_arrival
from .sources.read_ahead import read_ahead
from .sources.tardis import TardisFileReader, check_readable
from .sources.units import default_converter
from .sources.windows import ArrivalWindows

READ_BUDGET_BYTES = 256 << 20  # decoded-block budget shared by the files open on one day


@dataclass
class ReplayStats:
    """What a replay did, for the summary line and for progress."""

    files: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    events: int = 0
    rows: int = 0
    symbols: set[tuple[str, str]] = field(default_factory=set)
    late_events: dict[str, int] = field(default_factory=dict)
    bad_rows: BadInputCounter = field(default_factory=BadInputCounter)
    metric_rows: int = 0  # positioning rows read (--metrics-dir), duplicates dropped
    metric_duplicates: int = 0
    span_us: tuple[int, int] | None = None  # event time of the run: first file day's start, last one's end
    watermark_us: int | None = None  # event time replayed so far (set by the single-process replay)
    missing: list[MissingDay] = field(default_factory=list)  # days without data (bars marked gap)
    unreadable: list[str] = field(default_factory=list)  # files skipped with --skip-bad-rows, why
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def done_share(self) -> float:
        """The share of the work done, in [0, 1]: the lesser of bytes read and event time replayed.

        Bytes alone stall while the engine closes the bars of a long silent stretch (no byte is
        read then, yet that is most of the work when days are months apart); event time alone
        runs ahead on a dense day. The work left is whichever of the two is further behind.
        """
        shares = []
        if self.bytes_total:
            shares.append(self.bytes_done / self.bytes_total)
        if self.span_us is not None and self.watermark_us is not None and self.span_us[1] > self.span_us[0]:
            start, end = self.span_us
            shares.append((self.watermark_us - start) / (end - start))
        return min(1.0, max(0.0, min(shares))) if shares else 0.0


class Replay:
    """Iterate over the factor rows of a replay; `stats` fills in as it goes."""

    def __init__(
        self,
        data_dir: str | Path = "replay_data",
        config: FactorConfig | None = None,
        exchange: str | None = None,
        symbols: Iterable[str] | None = None,
        start: str | date | None = None,
        end: str | date | None = None,
        skip_bad_rows: bool = False,
        channels: Iterable[str] = CHANNELS,
        on_progress: Callable[[ReplayStats], None] | None = None,
        metrics_dir: str | Path | None = None,
        instruments: str | Path | None = None,
        aggregate: bool = False,
    ) -> None:
        """`instruments` (a spec CSV) adds or overrides contract specs; `aggregate` adds the
        cross-venue rows of FACTORS.md section 10."""
        self.units = default_converter(instruments)
        self.aggregate = aggregate
        self.config = config or FactorConfig()
        if metrics_dir is not None:
            self.config = dataclasses.replace(self.config, metrics=True)
        if isinstance(symbols, str):
            symbols = symbols.split(",")
        self.symbols = frozenset(s.strip().upper() for s in symbols if s.strip()) if symbols else None
        start, end = parse_day(start, "--from"), parse_day(end, "--to")
        self.plans = discover(data_dir, exchange, self.symbols, start, end, channels)
        self.skip_bad_rows = skip_bad_rows
        self.on_progress = on_progress
        self.stats = ReplayStats()
        files = [item for plan in self.plans for item in plan.files]
        unreadable = self._unreadable(files) if skip_bad_rows else []
        if unreadable:
            self.plans = plan_days([item for item in files if item not in unreadable])
        self.stats.missing = missing_days(files, unreadable, start, end)
        self.stats.files = sum(len(plan.files) for plan in self.plans)
        self.stats.bytes_total = sum(item.path.stat().st_size for plan in self.plans for item in plan.files)
        self.stats.span_us = (day_start_us(self.plans[0].day), day_start_us(self.plans[-1].day) + DAY_US)
        self.metric_streams = [] if metrics_dir is None else _metric_streams(
            metrics_dir, self.symbols, exchange, None if not skip_bad_rows else self.stats.bad_rows)

    def _unreadable(self, files: list[TardisFile]) -> list[TardisFile]:
        """The files that cannot be read to their end (skipped whole, their days marked gap)."""
        bad = []
        for item in files:
            try:
                check_readable(item)
            except InputError as exc:
                bad.append(item)
                self.stats.unreadable.append(str(exc))
        if len(bad) == len(files):
            raise InputError(f"no readable file: all {len(files)} skipped ({self.stats.unreadable[0]}, ...)")
        return bad

    @property
    def missing(self) -> list[MissingDay]:
        """The days without data per channel (missing or unreadable files); their bars are `gap`."""
        return self.stats.missing

    def __iter__(self) -> Iterator[dict]:
        """The rows as dicts, in output order (see `blocks` for the columnar form)."""
        for block in self.blocks():
            yield from block.to_dicts()

    def blocks(self) -> Iterator[RowBlock]:
        """The rows as the engine closes them: RowBlocks in output order."""
        engine = BarEngine(self.config, aggregates=self.units.members() if self.aggregate else None)
        stats = self.stats
        gaps = GapSchedule((m.start_us, m.end_us, m) for m in self.missing)
        metrics = ArrivalWindows(self.metric_streams)
        metrics.drop_until(day_start_us(self.plans[0].day))  # the run covers the Tardis files' days
        day: tuple[list[TardisFileReader], int] | None = None  # the current day's readers, bytes before it
        for plan, readers, step in read_ahead(self._days(metrics)):
            if step is None:  # a new day
                self._day_read(day)
                gaps.register(engine.outages, day_start_us(plan.day))
                day = (readers, stats.bytes_done)
                continue
            for block in run_steps(engine, [step], on_batch=self._seen):
                yield self._counted(block)
                stats.events = engine.events
                stats.bytes_done = day[1] + sum(reader.bytes_read for reader in readers)
                stats.watermark_us = engine.watermark
                if self.on_progress:
                    self.on_progress(stats)
        self._day_read(day)
        gaps.register(engine.outages)
        yield self._counted(engine.flush())
        stats.watermark_us = stats.span_us[1]
        stats.events = engine.events
        stats.late_events = engine.late_events()
        stats.metric_rows = sum(stream.rows for stream in self.metric_streams)
        stats.metric_duplicates = sum(stream.duplicates for stream in self.metric_streams)

    def _days(self, metrics: ArrivalWindows) -> Iterator[tuple[DayPlan, list[TardisFileReader], tuple | None]]:
        """Per day: (plan, readers, None) as it starts, then (plan, readers, step) per merged step.

        Runs on the read-ahead thread, so the next day is read while the engine closes the last.
        """
        for plan in self.plans:
            block = max(1 << 20, min(1 << 23, READ_BUDGET_BYTES // len(plan.files)))
            readers = [
                TardisFileReader(item, self.symbols, plan.skip_symbols.get(item.path, frozenset()),
                                 self.skip_bad_rows, self.stats.bad_rows, block_size=block, units=self.units)
                for item in plan.files
            ]
            yield plan, readers, None
            for step in merge_by_arrival([*readers, *metrics.until(day_start_us(plan.day) + DAY_US)]):
                yield plan, readers, step

    def _day_read(self, day: tuple[list[TardisFileReader], int] | None) -> None:
        """A day is done: count all of its files' bytes."""
        if day is not None:
            readers, before = day
            self.stats.bytes_done = before + sum(reader.item.path.stat().st_size for reader in readers)

    def _seen(self, batch: EventBatch) -> None:
        self.stats.symbols.update(batch.instruments)

    def _counted(self, block: RowBlock) -> RowBlock:
        self.stats.rows += len(block)
        return block


def _metric_streams(metrics_dir: str | Path, symbols: frozenset[str] | None, exchange: str | None,
                    bad_rows: BadInputCounter | None) -> list:
    """The positioning streams under `metrics_dir` (pandas is loaded only for them)."""
    from .sources.positioning.discovery import discover_metric_streams

    return discover_metric_streams(metrics_dir, symbols, exchange, bad_rows)
