"""Replay plans: each symbol's own files and grouped-file pieces day by day, and the tasks that
replay many symbols each, balanced by input bytes."""

from __future__ import annotations

import heapq
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


@dataclass(frozen=True)
class TaskPlan:
    """The symbols one replay task runs through one engine, so that its bars close in blocks
    across instruments (as in the single-process replay) instead of symbol by symbol."""

    symbols: tuple[SymbolPlan, ...]
    size: int  # input bytes of all its symbols

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        return tuple(plan.instrument for plan in self.symbols)

    @property
    def name(self) -> str:
        names = [plan.name for plan in self.symbols]
        return names[0] if len(names) == 1 else f"{len(names)} symbols ({names[0]} ... {names[-1]})"

    @property
    def key(self) -> str:
        """A name for the task's Dask keys (its first symbol's, unique as tasks share no symbol)."""
        first = self.symbols[0].key
        return first if len(self.symbols) == 1 else f"{first}-and-{len(self.symbols) - 1}"

    def days(self) -> list[tuple[date, list[tuple[Instrument, Source]]]]:
        """Per day, every symbol's sources (each symbol's in the single-process replay's order)."""
        by_day: dict[date, list[tuple[Instrument, Source]]] = defaultdict(list)
        for plan in self.symbols:
            for day in plan.days:
                by_day[day.day].extend((plan.instrument, source) for source in day.sources)
        return sorted(by_day.items())


def single_task(plan: SymbolPlan) -> TaskPlan:
    return TaskPlan((plan,), plan.size)


def balanced_tasks(plans: list[SymbolPlan], tasks: int) -> list[TaskPlan]:
    """At most `tasks` tasks of near-equal input bytes (greedy: the largest symbol goes to the
    lightest task), largest first, each listing its symbols in order."""
    sized = sorted(((plan.size, plan) for plan in plans), key=lambda item: (-item[0], item[1].instrument))
    bins: list[tuple[int, int, list[SymbolPlan]]] = [(0, n, []) for n in range(max(1, min(tasks, len(plans))))]
    for size, plan in sized:
        load, n, members = heapq.heappop(bins)
        members.append(plan)
        heapq.heappush(bins, (load + size, n, members))
    groups = [TaskPlan(tuple(sorted(members, key=lambda p: p.instrument)), load) for load, _, members in bins
              if members]
    return sorted(groups, key=lambda task: (-task.size, task.instruments))
