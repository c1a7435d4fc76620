"""Replaying Tardis files through the engine: the driver behind `streamliq replay`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from .badinput import BadInputCounter
from .driver import run_steps
from .engine import BarEngine
from .engine.block import RowBlock
from .engine.config import FactorConfig
from .engine.events import EventBatch
from .sources.discovery import CHANNELS, discover, parse_day
from .sources.merge import merge_by_arrival
from .sources.tardis import TardisFileReader
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
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


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
    ) -> None:
        self.config = config or FactorConfig()
        if metrics_dir is not None:
            self.config = dataclasses.replace(self.config, metrics=True)
        if isinstance(symbols, str):
            symbols = symbols.split(",")
        self.symbols = frozenset(s.strip().upper() for s in symbols if s.strip()) if symbols else None
        self.plans = discover(data_dir, exchange, self.symbols, parse_day(start, "--from"),
                              parse_day(end, "--to"), channels)
        self.skip_bad_rows = skip_bad_rows
        self.on_progress = on_progress
        self.stats = ReplayStats(
            files=sum(len(plan.files) for plan in self.plans),
            bytes_total=sum(item.path.stat().st_size for plan in self.plans for item in plan.files),
        )
        self.metric_streams = [] if metrics_dir is None else _metric_streams(
            metrics_dir, self.symbols, exchange, None if not skip_bad_rows else self.stats.bad_rows)

    def __iter__(self) -> Iterator[dict]:
        """The rows as dicts, in output order (see `blocks` for the columnar form)."""
        for block in self.blocks():
            yield from block.to_dicts()

    def blocks(self) -> Iterator[RowBlock]:
        """The rows as the engine closes them: RowBlocks in output order."""
        engine = BarEngine(self.config)
        stats = self.stats
        metrics = ArrivalWindows(self.metric_streams)
        metrics.drop_until(_day_start_us(self.plans[0].day))  # the run covers the Tardis files' days
        for plan in self.plans:
            block = max(1 << 20, min(1 << 23, READ_BUDGET_BYTES // len(plan.files)))
            readers = [
                TardisFileReader(item, self.symbols, plan.skip_symbols.get(item.path, frozenset()),
                                 self.skip_bad_rows, stats.bad_rows, block_size=block)
                for item in plan.files
            ]
            done_before = stats.bytes_done
            streams = [*readers, *metrics.until(_day_start_us(plan.day) + DAY_US)]
            for block in run_steps(engine, merge_by_arrival(streams), on_batch=self._seen):
                yield self._counted(block)
                stats.events = engine.events
                stats.bytes_done = done_before + sum(reader.bytes_read for reader in readers)
                if self.on_progress:
                    self.on_progress(stats)
            stats.bytes_done = done_before + sum(item.path.stat().st_size for item in plan.files)
        yield self._counted(engine.flush())
        stats.events = engine.events
        stats.late_events = engine.late_events()
        stats.metric_rows = sum(stream.rows for stream in self.metric_streams)
        stats.metric_duplicates = sum(stream.duplicates for stream in self.metric_streams)

    def _seen(self, batch: EventBatch) -> None:
        self.stats.symbols.update(batch.instruments)

    def _counted(self, block: RowBlock) -> RowBlock:
        self.stats.rows += len(block)
        return block


DAY_US = 86_400_000_000


def _day_start_us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


def _metric_streams(metrics_dir: str | Path, symbols: frozenset[str] | None, exchange: str | None,
                    bad_rows: BadInputCounter | None) -> list:
    """The positioning streams under `metrics_dir` (pandas is loaded only for them)."""
    from .sources.positioning.discovery import discover_metric_streams

    return discover_metric_streams(metrics_dir, symbols, exchange, bad_rows)
