"""One positioning stream (an endpoint's monthly dumps, or a symbol's daily metrics files) as
publication-time-ordered MetricBatch chunks, one per file, with duplicate rows dropped.

Exact duplicates (same symbol, time and values, NaN equal to NaN) are dropped and counted, also
across neighbouring files (a day kept both zipped and unzipped, dumps that overlap a month);
the same symbol and time with different values is an InputError naming both lines.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from ...badinput import BadInputCounter
from ...engine.events import METRIC_FIELDS, MetricBatch
from ...errors import InputError
from ...rows import format_time
from .files import MetricFile, read_metric_file
from .spec import PERIODS_US, exchange_of, period_name

KEY = ["symbol", "time_us"]


class MetricStream:
    """Iterates over the batches of `files` (in order); `rows`/`duplicates` count what it read.

    `period_us` is the statistics period of every row, or None to take it from the rows' spacing
    (REST dumps: the most common gap between a symbol's consecutive times). The event `ts` is
    `time + period` (see `spec`); arrival is `ts`, files hold no receive time.
    """

    def __init__(self, files: list[MetricFile], period_us: int | None = None,
                 symbols: frozenset[str] | None = None, exchange: str | None = None,
                 bad_rows: BadInputCounter | None = None) -> None:
        self.files = files
        self.period_us = period_us
        self.symbols = symbols
        self.exchange = exchange
        self.bad_rows = bad_rows
        self.rows = 0
        self.duplicates = 0

    def __iter__(self) -> Iterator[MetricBatch]:
        previous: pd.DataFrame | None = None
        period = self.period_us
        for item in self.files:
            frame = read_metric_file(item, self.bad_rows).assign(file=str(item.path))
            frame = frame[self._wanted(frame["symbol"])]
            frame = self._deduplicated(frame, previous)
            if not len(frame):
                continue
            period = self._period(item, frame, period)
            frame = frame.assign(ts=frame["time_us"] + period).sort_values(["ts", "line"], kind="stable")
            if previous is not None and frame["ts"].iat[0] < previous["ts"].iat[-1]:
                raise InputError(f"{_where(frame.iloc[0])}: {frame['symbol'].iat[0]} at "
                                 f"{format_time(int(frame['time_us'].iat[0]))} comes before the last row of "
                                 f"{_where(previous.iloc[-1])}: files of one folder must follow each other in time")
            self.rows += len(frame)
            previous = frame
            yield _batch(frame, item)

    def _wanted(self, symbol: pd.Series) -> np.ndarray:
        keep = np.ones(len(symbol), dtype=bool)
        if self.symbols is not None:
            keep &= symbol.isin(self.symbols).to_numpy()
        if self.exchange is not None:
            keep &= np.array([exchange_of(s) == self.exchange for s in symbol], dtype=bool)
        return keep

    def _deduplicated(self, frame: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
        """`frame` without rows equal to an earlier row of it or of the previous file."""
        if not len(frame):
            return frame
        values = [c for c in frame.columns if c not in ("line", "file", *KEY)]
        this_file = frame["file"].iat[0]
        both = frame if previous is None else pd.concat([previous[frame.columns], frame], ignore_index=True)
        both = both.sort_values(KEY, kind="stable")
        same_key = both.duplicated(KEY).to_numpy()
        exact = both.duplicated([*KEY, *values]).to_numpy()
        if (same_key & ~exact).any():
            _raise_conflict(both, int(np.argmax(same_key & ~exact)), values)
        self.duplicates += int((both["file"].to_numpy()[exact] == this_file).sum())
        kept = both[~exact]
        return kept[kept["file"] == this_file].sort_values("line")

    @staticmethod
    def _period(item: MetricFile, frame: pd.DataFrame, known: int | None) -> int:
        """The period of a REST dump file's rows, else the previous file's.

        The largest Binance period that divides every gap between a symbol's consecutive times:
        holes (missing or skipped rows) leave it unchanged, and of the periods the rows allow it
        is the latest publication time, so a doubt costs staleness, never look-ahead.
        """
        gaps = np.concatenate([np.diff(np.unique(times)) for _, times in frame.groupby("symbol")["time_us"]])
        if not len(gaps):
            if known is None:
                raise InputError(f"{item.path}: cannot tell the period of the statistics from one row per "
                                 f"symbol; the value's publication time (time + period) is unknown")
            return known
        spacing = int(np.gcd.reduce(gaps))
        fitting = [period for period in PERIODS_US.values() if spacing % period == 0]
        if not fitting:
            raise InputError(f"{item.path}: the rows' times are spaced by multiples of {period_name(spacing)}, "
                             f"which fits no Binance statistics period ({', '.join(PERIODS_US)})")
        return max(fitting)


def _where(row: pd.Series) -> str:
    return f"{row['file']}:{row['line']}"


def _raise_conflict(both: pd.DataFrame, index: int, values: list[str]) -> None:
    row = both.iloc[index]
    earlier = both.iloc[:index]
    first = earlier[(earlier["symbol"] == row["symbol"]) & (earlier["time_us"] == row["time_us"])].iloc[0]
    differ = next(c for c in values if not (first[c] == row[c] or (pd.isna(first[c]) and pd.isna(row[c]))))
    raise InputError(f"{_where(row)}: conflicting rows for {row['symbol']} at {format_time(int(row['time_us']))}: "
                     f"{_where(first)} has {differ}={_cell(first[differ])}, this line has {_cell(row[differ])}")


def _cell(value: float) -> str:
    return "an empty cell" if pd.isna(value) else repr(float(value))


def _batch(frame: pd.DataFrame, item: MetricFile) -> MetricBatch:
    codes, symbols = pd.factorize(frame["symbol"])
    fields = dict.fromkeys(METRIC_FIELDS)
    n = len(frame)
    for column, name in item.source.fields.items():
        fields[name] = frame[column].to_numpy(dtype=np.float64)
    ts = frame["ts"].to_numpy(dtype=np.int64)
    return MetricBatch(
        instruments=tuple((exchange_of(s), s) for s in symbols), instrument=codes.astype(np.int32), ts=ts,
        arrival=ts, **{name: np.full(n, np.nan) if v is None else v for name, v in fields.items()})
