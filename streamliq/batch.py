"""The pandas API: DataFrames in, a factor DataFrame out, through the same engine as replay.

    from streamliq import LiquidationFactorEngine
    factors = LiquidationFactorEngine(resample_freq="15m").process(
        liq_df, bucket_quantiles=[0.90], bucket_window_hours=[24],
        mining_windows=[24], mining_quantiles=[0.90])

`liq_df` is indexed by a DatetimeIndex of exchange time (or has the raw Tardis `timestamp`
column, µs) and has `side, price, amount`; `symbol`, `exchange` and `local_timestamp` (arrival,
µs) are used when present. Without `local_timestamp` an event arrives at its exchange time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .driver import run_steps
from .engine import BarEngine
from .engine.block import RowBlock
from .engine.config import FactorConfig
from .engine.events import (
    ALLOWED_SIDES,
    BATCH_TYPES,
    METRIC_FIELDS,
    SIDE_CODES,
    TICKER_FIELDS,
    VALUE_RULES,
    EventBatch,
    invalid_values,
)
from .errors import InputError
from .rows import rows_to_frame
from .sources.merge import merge_by_arrival
from .sources.positioning.frame import read_metrics
from .sources.units import UnitConverter, default_converter, missing_spec_message
from .tardis_replay import Replay

__all__ = ["LiquidationFactorEngine", "read_metrics", "replay"]

CHUNK = 100_000
OPTIONAL_FIELDS = {"derivative_ticker": TICKER_FIELDS, "metrics": METRIC_FIELDS}  # NaN when absent
DEFAULT_EXCHANGE = "unknown"
DEFAULT_SYMBOL = "UNKNOWN"


class LiquidationFactorEngine:
    """Compute FACTORS.md rows from in-memory DataFrames."""

    def __init__(self, resample_freq: str | Iterable[str] | None = None, lateness: str | float | None = None,
                 z_windows: Iterable[int] | None = None, pct_windows: Iterable[int] | None = None,
                 exchange: str | None = None, symbol: str | None = None,
                 instruments: str | Path | None = None, aggregate: bool = False) -> None:
        """Frequencies, lateness and windows default to `FactorConfig`'s (15m, 5s, 24/168, 168).

        `exchange`/`symbol` name the instrument of frames without those columns (a notebook's
        `liq_df` often has dropped them). Left out, they come from the other frames when those
        hold exactly one; a frame lacking them beside frames of several is an error.
        Frames of the Tardis ids streamliq has specs for (FACTORS.md section 9) are converted to
        base units like replayed files; `instruments` (a spec CSV) adds or overrides specs.
        `aggregate` adds the cross-venue rows of section 10 (`exchange` "all").
        """
        self.specs = default_converter(instruments).table  # a bad instruments file fails here
        self.aggregate = aggregate
        self.resample_freq = resample_freq
        self.lateness = lateness
        self.z_windows = None if z_windows is None else tuple(z_windows)
        self.pct_windows = None if pct_windows is None else tuple(pct_windows)
        self.exchange = exchange
        self.symbol = symbol
        FactorConfig.build(freq=resample_freq, lateness=lateness, z_windows=self.z_windows,
                           pct_windows=self.pct_windows)  # fail fast on bad parameters

    def process(
        self,
        liq_df: pd.DataFrame,
        bucket_quantiles: Iterable[float] | None = None,
        bucket_window_hours: Iterable[float] | None = None,
        mining_windows: Iterable[int] | None = None,
        mining_quantiles: Iterable[float] | None = None,
        ticker_df: pd.DataFrame | None = None,
        trades_df: pd.DataFrame | None = None,
        metrics_df: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Factor rows indexed by `bar_start` (UTC), one per symbol, frequency and bar.

        `metrics_df` (FACTORS.md section 7, e.g. from `read_metrics`) is indexed by the time each
        value became public, never the open time of its period, and has some of the section 7
        columns; with it the rows get those columns.
        """
        config = FactorConfig.build(
            freq=self.resample_freq, lateness=self.lateness, z_windows=self.z_windows,
            pct_windows=self.pct_windows, bucket_quantiles=bucket_quantiles,
            bucket_hours=bucket_window_hours, mining_windows=mining_windows,
            mining_quantiles=mining_quantiles, metrics=metrics_df is not None,
        )
        frames = {channel: frame for channel, frame in (("liquidations", liq_df), ("derivative_ticker", ticker_df),
                                                        ("trades", trades_df), ("metrics", metrics_df))
                  if frame is not None}
        for channel, frame in frames.items():
            if not isinstance(frame, pd.DataFrame):
                raise InputError(f"{channel} frame: expected a pandas DataFrame, got {type(frame).__name__}")
        defaults = self._instrument(frames)
        units = UnitConverter(self.specs)  # per call: it remembers mark prices
        batches = [self._batch(frame, channel, defaults, units) for channel, frame in frames.items()]
        engine = BarEngine(config, aggregates=units.members() if self.aggregate else None)
        blocks = list(run_steps(engine, merge_by_arrival(_chunks(batch) for batch in batches)))
        blocks.append(engine.flush())
        return _frame(RowBlock.concat(blocks, engine.columns), engine.columns)

    def _instrument(self, frames: dict[str, pd.DataFrame]) -> dict[str, str]:
        """The exchange and symbol of rows whose frame lacks the column (or the cell).

        `exchange=`/`symbol=` when given; else the one value the other frames hold; else, when no
        frame names one, the placeholders `unknown`/`UNKNOWN` (one series either way). Frames of
        several values beside a frame without the column would silently split one instrument
        into two series (liquidations under UNKNOWN, prices under the real symbol): refused.
        """
        out = {}
        for column, given, placeholder in (("exchange", self.exchange, DEFAULT_EXCHANGE),
                                           ("symbol", self.symbol, DEFAULT_SYMBOL)):
            lacking = [channel for channel, frame in frames.items() if column not in frame]
            values = sorted({str(v).upper() if column == "symbol" else str(v)
                             for frame in frames.values() if column in frame for v in frame[column].dropna().unique()})
            if given is not None:
                out[column] = given
            elif len(values) == 1:
                out[column] = values[0]
            elif not lacking or not values:  # only empty cells to fill, or nothing names one
                out[column] = placeholder
            else:
                shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
                raise InputError(
                    f"{lacking[0]} frame has no '{column}' column, and the other frames hold {len(values)} "
                    f"{column} values ({shown}): pass LiquidationFactorEngine({column}=...) for it, or add a "
                    f"'{column}' column")
        return out

    def _batch(self, frame: pd.DataFrame, channel: str, defaults: dict[str, str], units: UnitConverter) -> EventBatch:
        """One arrival-ordered batch from a DataFrame, validated, in base units (FACTORS.md 9)."""
        what = f"{channel} frame"
        n = len(frame)
        ts = _event_times(frame, what)
        arrival = _int_column(frame, "local_timestamp", what) if "local_timestamp" in frame else ts
        exchange = _text(frame, "exchange", defaults["exchange"])
        symbol = np.char.upper(_text(frame, "symbol", defaults["symbol"]).astype(str))
        keys = pd.MultiIndex.from_arrays([exchange, symbol])
        codes, instruments = pd.factorize(keys)
        fields: dict[str, np.ndarray] = {}
        if channel in OPTIONAL_FIELDS:
            names = OPTIONAL_FIELDS[channel]
            if not any(name in frame for name in names):
                raise InputError(f"{what}: none of the columns {', '.join(names)} "
                                 f"(columns: {', '.join(map(str, frame.columns))})")
            for name in names:
                fields[name] = _float_column(frame, name, what, required=False, n=n)
        else:
            fields["side"] = _side_column(frame, channel, what)
            for name in ("price", "amount"):
                values = _float_column(frame, name, what, required=True, n=n)
                _check(frame, invalid_values(name, values), name, what, VALUE_RULES[name])
                fields[name] = values
        order = np.argsort(arrival, kind="stable")
        batch = BATCH_TYPES[channel](
            instruments=tuple((str(e), str(s)) for e, s in instruments),
            instrument=codes.astype(np.int32), ts=ts, arrival=arrival, **fields)
        batch, missing = units.convert(batch.take(order))
        if missing:
            (exchange, symbol_name), _ = missing[0]
            raise InputError(f"{what}: {missing_spec_message(exchange, symbol_name, 'instruments=FILE', skip=None)}")
        return batch


def replay(data_dir: str | Path = "replay_data", *, freq: str | Iterable[str] | None = None,
           exchange: str | None = None, symbols: Iterable[str] | None = None,
           start: str | date | None = None, end: str | date | None = None,
           lateness: str | float | None = None, skip_bad_rows: bool = False, iterator: bool = False,
           metrics_dir: str | Path | None = None, instruments: str | Path | None = None,
           aggregate: bool = False, **factor_params: Iterable) -> pd.DataFrame | Iterator[dict]:
    """Replay Tardis files like `streamliq replay`.

    Returns a DataFrame of every row, or with `iterator=True` a lazy iterator of row dicts
    (bar times as UTC `pandas.Timestamp`) for runs too long to hold in memory.
    `metrics_dir` adds positioning data like `--metrics-dir`; `instruments` and `aggregate` are
    `--instruments` and `--aggregate`.
    `factor_params` are FactorConfig.build's: z_windows, pct_windows, bucket_quantiles,
    bucket_hours, mining_windows, mining_quantiles.
    """
    config = FactorConfig.build(freq=freq, lateness=lateness, **factor_params)
    run = Replay(data_dir, config, exchange=exchange, symbols=symbols, start=start, end=end,
                 skip_bad_rows=skip_bad_rows, metrics_dir=metrics_dir, instruments=instruments,
                 aggregate=aggregate)
    if iterator:
        return (_with_timestamps(row) for row in run)
    columns = run.config.columns()
    return _frame(RowBlock.concat(list(run.blocks()), columns), columns)


def _frame(block: RowBlock, columns: list[str]) -> pd.DataFrame:
    """The one frame shape of `process` and `replay`: FACTORS.md columns indexed by `bar_start`."""
    return rows_to_frame(block, columns).set_index("bar_start")


def _with_timestamps(row: dict) -> dict:
    row["bar_start"] = pd.Timestamp(row["bar_start"], unit="us", tz="UTC")
    row["bar_end"] = pd.Timestamp(row["bar_end"], unit="us", tz="UTC")
    return row


def _chunks(batch: EventBatch) -> Iterator[EventBatch]:
    for start in range(0, len(batch), CHUNK):
        yield batch.take(slice(start, start + CHUNK))


def _event_times(frame: pd.DataFrame, what: str) -> np.ndarray:
    """Exchange time in µs: the Tardis `timestamp` column, else the DatetimeIndex."""
    if "timestamp" in frame:
        return _int_column(frame, "timestamp", what)
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InputError(f"{what}: needs a DatetimeIndex of event times or a 'timestamp' column (µs)")
    if index.hasnans:
        _check(frame, np.asarray(index.isna()), "index", what, "missing time")
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    values = index.as_unit("us").asi8.astype(np.int64)
    _check_years(frame, values, "index", what)
    return values


def _int_column(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = values.isna().to_numpy() | (values.to_numpy(dtype=float) % 1 != 0)
    _check(frame, bad, name, what, "not an integer time in µs")
    values = values.to_numpy(dtype=np.int64)
    _check_years(frame, values, name, what)
    return values


FIRST_YEAR, LAST_YEAR = 2009, 2100  # crypto markets exist within; outside means a wrong time unit
_YEARS_US = (int(pd.Timestamp(f"{FIRST_YEAR}-01-01").value // 1000),
             int(pd.Timestamp(f"{LAST_YEAR + 1}-01-01").value // 1000))
# factor that brings the value into range -> what the column probably holds / how the index was misread
_COLUMN_UNITS = {10**6: "seconds", 10**3: "milliseconds", 10**-3: "nanoseconds"}
_INDEX_MISREADS = {
    10**3: "microseconds read as nanoseconds (pd.to_datetime's default: pass unit='us') or milliseconds "
           "read as microseconds (unit='ms')",
    10**6: "seconds read as microseconds (pass unit='s') or milliseconds read as nanoseconds (unit='ms')",
    10**9: "seconds read as nanoseconds (pass unit='s')",
    10**-3: "nanoseconds read as microseconds (pass unit='ns')",
}


def _check_years(frame: pd.DataFrame, us: np.ndarray, field: str, what: str) -> None:
    """Refuse times outside FIRST_YEAR..LAST_YEAR, naming the unit that would fit.

    Tardis times are µs; milliseconds, seconds or nanoseconds decode to 1970 or the far future
    and would silently make millions of empty bars, or one bar for everything.
    """
    low, high = _YEARS_US
    bad = (us < low) | (us >= high)
    if not bad.any():
        return
    value = int(us[int(np.argmax(bad))])
    year = 1970 + value // 31_556_952_000_000  # mean Gregorian year, enough to show the decade
    table = _INDEX_MISREADS if field == "index" else _COLUMN_UNITS
    fits = [text for factor, text in table.items() if low <= value * factor < high]
    if field == "index":
        hint = f"the times look like {fits[0]}" if fits else "check the unit the times were read with"
    else:
        hint = (f"the column looks like {fits[0]}; it must be microseconds since the epoch" if fits
                else "it must be microseconds since the epoch")
    _check(frame, bad, field, what, f"decodes to year {year}, outside {FIRST_YEAR}-{LAST_YEAR}: {hint}")


def _float_column(frame: pd.DataFrame, name: str, what: str, required: bool, n: int) -> np.ndarray:
    if name not in frame:
        if required:
            raise InputError(f"{what}: missing column '{name}' (columns: {', '.join(map(str, frame.columns))})")
        return np.full(n, np.nan)
    raw = frame[name]
    values = pd.to_numeric(raw, errors="coerce")
    _check(frame, values.isna().to_numpy() & raw.notna().to_numpy(), name, what, "not a number")
    return values.to_numpy(dtype=np.float64)


def _side_column(frame: pd.DataFrame, channel: str, what: str) -> np.ndarray:
    if "side" not in frame:
        raise InputError(f"{what}: missing column 'side' (columns: {', '.join(map(str, frame.columns))})")
    side = frame["side"].astype("string").str.lower().to_numpy(dtype=object, na_value="")
    allowed = ALLOWED_SIDES[channel]
    _check(frame, ~np.isin(side, allowed), "side", what, f"unknown side, expected one of {', '.join(allowed)}")
    return np.array([SIDE_CODES[s] for s in side], dtype=np.int8) if len(side) else np.empty(0, np.int8)


def _text(frame: pd.DataFrame, name: str, default: str) -> np.ndarray:
    if name in frame:
        return frame[name].astype("string").fillna(default).to_numpy(dtype=object)
    return np.full(len(frame), default, dtype=object)


def _check(frame: pd.DataFrame, bad: np.ndarray, field: str, what: str, why: str) -> None:
    """Raise naming the first bad row (position and index label), the field and the value."""
    if not bad.any():
        return
    row = int(np.argmax(bad))
    value = frame.index[row] if field == "index" else frame[field].iloc[row]
    raise InputError(f"{what}: row {row} (index {frame.index[row]!r}): field '{field}': {why} "
                     f"(got {value!r}); {int(bad.sum())} bad rows in all")
