"""Per-symbol replay plans: each symbol's own files and grouped-file pieces, day by day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..engine.events import Instrument
from ..sources.coverage import MissingDay, outages_for
from ..sources.discovery import DayPlan, TardisFile
from .split import Piece, SplitFile

Source = TardisFile | Piece


@dataclass(frozen=True)
class SymbolDay:
    """One symbol's streams on one day, in the order the single-process replay opens them."""

    day: date
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class SymbolPlan:
    """Everything one symbol task reads."""

    instrument: Instrument
    days: tuple[SymbolDay, ...]
    gaps: tuple[tuple[int, int], ...] = ()  # [start, end) µs of the run's days without its data

    @property
    def name(self) -> str:
        exchange, symbol = self.instrument
        return f"{symbol} ({exchange})"

    @property
    def key(self) -> str:
        """A name for the symbol's tasks."""
        exchange, symbol = self.instrument
        return f"{exchange}-{symbol}"

    @property
    def size(self) -> int:
        """Input bytes (own files, and the pieces' shares of grouped files)."""
        return sum(source.size if isinstance(source, Piece) else source.path.stat().st_size
                   for day in self.days for source in day.sources)


def symbol_plans(day_plans: list[DayPlan], splits: dict[Path, SplitFile],
                 missing: Iterable[MissingDay] = ()) -> list[SymbolPlan]:
    """One plan per instrument, from the day plans, the split grouped files and the missing days."""
    missing = list(missing)
    days: dict[Instrument, dict[date, list[Source]]] = defaultdict(lambda: defaultdict(list))
    for plan in day_plans:
        for item in plan.files:
            if item.grouped:
                for instrument, piece in splits[item.path].pieces.items():
                    days[instrument][plan.day].append(piece)
            else:
                days[(item.exchange, item.symbol)][plan.day].append(item)
    return [SymbolPlan(instrument, tuple(SymbolDay(day, tuple(sources)) for day, sources in sorted(by_day.items())),
                       outages_for(instrument, missing))
            for instrument, by_day in sorted(days.items())]
