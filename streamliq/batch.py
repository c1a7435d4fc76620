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
from .engine.events import ALLOWED_SIDES, BATCH_TYPES, METRIC_FIELDS, SIDE_CODES, TICKER_FIELDS, EventBatch
from .errors import InputError
from .rows import rows_to_frame
from .sources.merge import merge_by_arrival
from .sources.positioning.frame import read_metrics
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
                 exchange: str = DEFAULT_EXCHANGE, symbol: str = DEFAULT_SYMBOL) -> None:
        """Frequencies, lateness and windows default to `FactorConfig`'s (15m, 5s, 24/168, 168)."""
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
        batches = [self._batch(liq_df, "liquidations")]
        if ticker_df is not None:
            batches.append(self._batch(ticker_df, "derivative_ticker"))
        if trades_df is not None:
            batches.append(self._batch(trades_df, "trades"))
        if metrics_df is not None:
            batches.append(self._batch(metrics_df, "metrics"))
        engine = BarEngine(config)
        blocks = list(run_steps(engine, merge_by_arrival(_chunks(batch) for batch in batches)))
        blocks.append(engine.flush())
        return rows_to_frame(RowBlock.concat(blocks, engine.columns), engine.columns).set_index("bar_start")

    def _batch(self, frame: pd.DataFrame, channel: str) -> EventBatch:
        """One arrival-ordered batch from a DataFrame, validated."""
        what = f"{channel} frame"
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
        n = len(frame)
        ts = _event_times(frame, what)
        arrival = _int_column(frame, "local_timestamp", what) if "local_timestamp" in frame else ts
        exchange = _text(frame, "exchange", self.exchange)
        symbol = np.char.upper(_text(frame, "symbol", self.symbol).astype(str))
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
                _check(frame, ~(values > 0), name, what, "must be a positive number")
                fields[name] = values
        order = np.argsort(arrival, kind="stable")
        batch = BATCH_TYPES[channel](
            instruments=tuple((str(e), str(s)) for e, s in instruments),
            instrument=codes.astype(np.int32), ts=ts, arrival=arrival, **fields)
        return batch.take(order)


def replay(data_dir: str | Path = "replay_data", *, freq: str | Iterable[str] | None = None,
           exchange: str | None = None, symbols: Iterable[str] | None = None,
           start: str | date | None = None, end: str | date | None = None,
           lateness: str | float | None = None, skip_bad_rows: bool = False, iterator: bool = False,
           metrics_dir: str | Path | None = None, **factor_params: Iterable) -> pd.DataFrame | Iterator[dict]:
    """Replay Tardis files like `streamliq replay`.

    Returns a DataFrame of every row, or with `iterator=True` a lazy iterator of row dicts
    (bar times as UTC `pandas.Timestamp`) for runs too long to hold in memory.
    `metrics_dir` adds positioning data like `--metrics-dir`.
    `factor_params` are FactorConfig.build's: z_windows, pct_windows, bucket_quantiles,
    bucket_hours, mining_windows, mining_quantiles.
    """
    config = FactorConfig.build(freq=freq, lateness=lateness, **factor_params)
    run = Replay(data_dir, config, exchange=exchange, symbols=symbols, start=start, end=end,
                 skip_bad_rows=skip_bad_rows, metrics_dir=metrics_dir)
    if iterator:
        return (_with_timestamps(row) for row in run)
    columns = run.config.columns()
    return rows_to_frame(RowBlock.concat(list(run.blocks()), columns), columns)


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
    return index.as_unit("us").asi8.astype(np.int64)


def _int_column(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = values.isna().to_numpy() | (values.to_numpy(dtype=float) % 1 != 0)
    _check(frame, bad, name, what, "not an integer time in µs")
    return values.to_numpy(dtype=np.int64)


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
