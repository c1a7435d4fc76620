"""Finding Tardis CSV files under a folder and planning the order they are read in."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..errors import InputError

CHANNELS = ("liquidations", "derivative_ticker", "trades")
GROUPED_SYMBOLS = frozenset({"PERPETUALS", "FUTURES", "SPOT", "OPTIONS"})
FILE_PATTERN = "{exchange}_{channel}_{YYYY-MM-DD}_{SYMBOL}.csv[.gz]"
_FILE_RE = re.compile(
    r"^(?P<exchange>[a-z0-9-]+)_(?P<channel>liquidations|derivative_ticker|trades)_"
    r"(?P<day>\d{4}-\d{2}-\d{2})_(?P<symbol>.+?)\.csv(?:\.gz)?$"
)


@dataclass(frozen=True)
class TardisFile:
    """One daily Tardis file: `symbol` is an instrument or a grouped set like PERPETUALS."""

    path: Path
    exchange: str
    channel: str
    day: date
    symbol: str

    @property
    def grouped(self) -> bool:
        return self.symbol in GROUPED_SYMBOLS


@dataclass(frozen=True)
class DayPlan:
    """The files of one UTC day (of local_timestamp) and, per grouped file, symbols to skip.

    A grouped file's rows of a symbol that also has its own file that day are skipped, so
    keeping both `..._PERPETUALS` and `..._BTCUSDT` never counts BTCUSDT twice.
    """

    day: date
    files: tuple[TardisFile, ...]
    skip_symbols: dict[Path, frozenset[str]]


def parse_day(text: str | date | None, what: str) -> date | None:
    """A `YYYY-MM-DD` date (or None)."""
    if text is None or isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise InputError(f"invalid {what} date {text!r}: use YYYY-MM-DD") from None


def discover(
    data_dir: str | Path,
    exchange: str | None = None,
    symbols: Iterable[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    channels: Iterable[str] = CHANNELS,
) -> list[DayPlan]:
    """Every matching file under `data_dir` (recursively), grouped by day; `end` is inclusive."""
    root = Path(data_dir)
    if not root.exists():
        raise InputError(f"data folder '{root}' does not exist")
    if not root.is_dir():
        raise InputError(f"data folder '{root}' is not a folder")
    if start and end and start > end:
        raise InputError(f"--from {start} is later than --to {end}: no day to replay (both are inclusive)")
    wanted = {s.strip().upper() for s in symbols} if symbols else None
    channels = tuple(channels)
    files = []
    for path in sorted(root.rglob("*.csv*")):
        match = _FILE_RE.match(path.name)
        if not match or not path.is_file():
            continue
        try:
            day = date.fromisoformat(match["day"])
        except ValueError:
            raise InputError(f"{path}: the file name has an impossible date {match['day']!r}") from None
        item = TardisFile(path, match["exchange"], match["channel"], day, match["symbol"].upper())
        if item.channel not in channels or (exchange and item.exchange != exchange):
            continue
        if (start and day < start) or (end and day > end):
            continue
        if wanted is not None and not item.grouped and item.symbol not in wanted:
            continue
        files.append(item)
    if not files:
        filters = ", ".join(
            f"{name}={value}" for name, value in
            (("exchange", exchange), ("symbols", ",".join(sorted(wanted)) if wanted else None),
             ("from", start), ("to", end)) if value
        ) or "none"
        raise InputError(
            f"no Tardis file named {FILE_PATTERN} with channel {'/'.join(channels)} "
            f"under '{root}' (filters: {filters})"
        )
    return plan_days(files)


def plan_days(files: list[TardisFile]) -> list[DayPlan]:
    """The files grouped by day, with the symbols each grouped file skips."""
    by_day: dict[date, list[TardisFile]] = defaultdict(list)
    for item in files:
        by_day[item.day].append(item)
    plans = []
    for day in sorted(by_day):
        day_files = by_day[day]
        own = defaultdict(set)
        for item in day_files:
            if not item.grouped:
                own[(item.exchange, item.channel)].add(item.symbol)
        skip = {item.path: frozenset(own[(item.exchange, item.channel)])
                for item in day_files if item.grouped}
        plans.append(DayPlan(day, tuple(day_files), skip))
    return plans
