"""Which days of a replay have no data for a channel: missing files and skipped unreadable ones.

DESIGN.md: missing data is a gap, never a silent zero. A day without a file reads exactly like a
day without liquidations, so the replay marks the bars of such a day `gap = true` through the
engine's outages (the mechanism the live daemon uses for a disconnect).

Which days count (per exchange, channel and symbol; docs/spec-readings.md):

- A symbol "has" a channel when it has its own files for it, or when the exchange has grouped
  files (`..._PERPETUALS`) for it: a grouped file of a day covers every symbol of its exchange
  for that channel and day.
- Its range runs from its first to its last file date of that channel (own or grouped files),
  or over `--from`/`--to` where those are given.
- A day of the range is missing when no readable file covers it. An unreadable file skipped
  with `--skip-bad-rows` leaves its day missing the same way (the summary tells the two apart).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..engine.events import Instrument
from ..engine.gaps import Outages
from .discovery import TardisFile

DAY_US = 86_400_000_000


@dataclass(frozen=True)
class MissingDay:
    """One day of one channel without data, for one symbol or for a grouped stream.

    It is also the set of instruments the day's outage covers (`instrument in missing`): its
    symbol, or, for a grouped stream (`symbol` None), every symbol of the exchange except those
    whose own file covers the day.
    """

    exchange: str
    channel: str
    day: date
    symbol: str | None  # None: the exchange's grouped stream (every symbol)
    covered: frozenset[str] = frozenset()  # grouped stream: symbols whose own file covers the day
    skipped: bool = False  # a file for the day existed but could not be read

    def __contains__(self, instrument: object) -> bool:
        if not isinstance(instrument, tuple) or len(instrument) != 2 or instrument[0] != self.exchange:
            return False
        return instrument[1] == self.symbol if self.symbol is not None else instrument[1] not in self.covered

    @property
    def start_us(self) -> int:
        return day_start_us(self.day)

    @property
    def end_us(self) -> int:
        return self.start_us + DAY_US

    @property
    def who(self) -> str:
        """The symbol, or what a grouped stream's day covers."""
        return self.symbol if self.symbol is not None else f"all {self.exchange} symbols"


def day_start_us(day: date) -> int:
    """Midnight UTC of `day`, in µs since the epoch."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


def missing_days(files: Iterable[TardisFile], unreadable: Iterable[TardisFile] = (),
                 start: date | None = None, end: date | None = None) -> list[MissingDay]:
    """The days without data among `files` (every file the run selected, readable or not).

    `unreadable` are the files skipped because they could not be read: their days count as
    missing, flagged `skipped`. `start`/`end` (inclusive) replace the first/last file dates.
    """
    skipped = {item.path for item in unreadable}
    grouped_all: dict[tuple[str, str], set[date]] = defaultdict(set)
    grouped_ok: dict[tuple[str, str], set[date]] = defaultdict(set)
    own_all: dict[tuple[str, str], dict[str, set[date]]] = defaultdict(lambda: defaultdict(set))
    own_ok: dict[tuple[str, str], dict[str, set[date]]] = defaultdict(lambda: defaultdict(set))
    for item in files:
        stream = (item.exchange, item.channel)
        every, ok = (grouped_all[stream], grouped_ok[stream]) if item.grouped else \
            (own_all[stream][item.symbol], own_ok[stream][item.symbol])
        every.add(item.day)
        if item.path not in skipped:
            ok.add(item.day)
    out = []
    for stream in sorted(set(grouped_all) | set(own_all)):
        exchange, channel = stream
        group_missing: set[date] = set()
        if grouped_all[stream]:
            for day in _days(grouped_all[stream], start, end):
                if day not in grouped_ok[stream]:
                    covered = frozenset(s for s, days in own_ok[stream].items() if day in days)
                    group_missing.add(day)
                    out.append(MissingDay(exchange, channel, day, None, covered, day in grouped_all[stream]))
        for symbol, days in sorted(own_all[stream].items()):
            have = own_ok[stream][symbol] | grouped_ok[stream]
            for day in _days(days | grouped_all[stream], start, end):
                if day not in have and day not in group_missing:
                    out.append(MissingDay(exchange, channel, day, symbol, skipped=day in days))
    return sorted(out, key=lambda m: (m.channel, m.day, m.exchange, m.symbol or ""))


def describe_missing(missing: Iterable[MissingDay], limit: int = 12) -> str:
    """One line per channel: its missing days (and skipped files' days), at most `limit` each."""
    by_channel: dict[str, list[str]] = defaultdict(list)
    for m in missing:
        by_channel[m.channel].append(f"{m.day} {m.who}" + (" (unreadable file skipped)" if m.skipped else ""))
    lines = []
    for channel, days in by_channel.items():
        more = f", and {len(days) - limit:,} more" if len(days) > limit else ""
        lines.append(f"  {channel}: {len(days):,} missing day(s): {', '.join(days[:limit])}{more}")
    return "\n".join(lines)


def outages_for(instrument: Instrument, missing: Iterable[MissingDay]) -> tuple[tuple[int, int], ...]:
    """The `[start, end)` µs intervals of the missing days that touch `instrument`, merged."""
    spans = sorted((m.start_us, m.end_us) for m in missing if instrument in m)
    merged: list[tuple[int, int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


class GapSchedule:
    """Outages of missing days, handed to the engine shortly before it reaches them.

    Registering them all up front would work too, but `Outages.covers` looks at every outage
    it holds for every closing bar; a day at a time keeps that list short on long runs.
    """

    AHEAD_US = 2 * DAY_US  # a file's arrivals stay within its day; one more day of margin

    def __init__(self, spans: Iterable[tuple[int, int, Container[Instrument]]]) -> None:
        self.pending = sorted(spans, key=lambda span: span[0], reverse=True)  # next one last
        self.registered = 0

    def register(self, outages: Outages, before_day_us: int | None = None) -> None:
        """Register the outages starting before `before_day_us + AHEAD_US` (all when None)."""
        limit = None if before_day_us is None else before_day_us + self.AHEAD_US
        while self.pending and (limit is None or self.pending[-1][0] < limit):
            start, end, instruments = self.pending.pop()
            key = f"missing-data-{self.registered}"
            self.registered += 1
            outages.begin(key, instruments, start)
            outages.end(key, end)


def _days(days: set[date], start: date | None, end: date | None) -> Iterable[date]:
    first, last = start or min(days), end or max(days)
    for k in range((last - first).days + 1):
        yield first + timedelta(days=k)
