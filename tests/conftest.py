"""Shared test helpers: adversarial event data, a Tardis file writer, and row comparison."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamliq.engine.events import BATCH_TYPES, SIDE_CODES, TICKER_FIELDS, EventBatch
from streamliq.rows import rows_to_frame

T0 = 1_759_276_800_000_000  # 2025-10-01 00:00:00 UTC in µs
MINUTE = 60_000_000
DAY = 86_400_000_000
EXCHANGE = "binance-futures"
KEY = ["exchange", "symbol", "freq", "bar_start"]
LIQ_COLUMNS = ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"]
TICKER_COLUMNS = ["exchange", "symbol", "timestamp", "local_timestamp", "funding_timestamp", "funding_rate",
                  "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price"]


def make_events(seed: int = 7, days: int = 3, symbols: tuple[str, ...] = ("ETHUSDT", "BTCUSDT"),
                ticker_every_s: int = 30, trades_per_hour: int = 400) -> dict[str, pd.DataFrame]:
    """Liquidations, ticker and trades in arrival order, built to hit every rule.

    Clustered liquidations, ~4% late or out-of-order arrivals (delays up to 2 minutes), whole
    bars of identical sizes, a silent day for everyone (day 2) and one for the second symbol
    alone, ticker rows with missing cells and open-interest-only rows that reuse an old
    timestamp, trades with `unknown` sides.
    """
    rng = np.random.default_rng(seed)
    base_price = {"ETHUSDT": 2400.0, "BTCUSDT": 60_000.0}
    liq, ticker, trades = [], [], []
    active_days = [d for d in range(days) if d != 1]
    for s_index, symbol in enumerate(symbols):
        price0 = base_price.get(symbol, 10.0 * (s_index + 1))
        days_for_symbol = active_days if s_index == 0 else active_days[:1]
        for day in days_for_symbol:
            start = T0 + day * DAY
            for _ in range(12):  # clusters
                center = start + int(rng.integers(0, DAY - 10 * MINUTE))
                n = int(rng.poisson(25)) + 1
                ts = center + np.sort(rng.integers(0, 4 * MINUTE, n))
                price = price0 * (1 + rng.normal(0, 0.002, n))
                amount = np.round(rng.lognormal(0, 1.2, n), 3) + 0.001
                if rng.random() < 0.3:  # identical sizes in a cluster
                    price[:] = price[0]
                    amount[:] = amount[0]
                liq.append(pd.DataFrame({"symbol": symbol, "timestamp": ts, "side": rng.choice(["buy", "sell"], n),
                                         "price": np.round(price, 2), "amount": amount}))
            tick_ts = np.arange(start, start + DAY, ticker_every_s * 1_000_000)
            m = len(tick_ts)
            mark = price0 * np.exp(np.cumsum(rng.normal(0, 3e-4, m)))
            frame = pd.DataFrame({
                "symbol": symbol, "timestamp": tick_ts, "mark_price": np.round(mark, 2),
                "index_price": np.round(mark * (1 + rng.normal(0, 1e-4, m)), 2),
                "last_price": np.round(mark * (1 + rng.normal(0, 1e-4, m)), 2),
                "funding_rate": 1e-4 + np.round(rng.normal(0, 1e-6, m), 8),
                "open_interest": np.round(50_000 + np.cumsum(rng.normal(0, 20, m)), 3),
            })
            for column in ("mark_price", "index_price", "last_price", "funding_rate", "open_interest"):
                frame.loc[rng.random(m) < 0.08, column] = np.nan
            frame.loc[:2, ["open_interest", "last_price"]] = np.nan
            oi_only = frame.iloc[::10].copy()  # open-interest-only rows reuse the old timestamp
            oi_only[["mark_price", "index_price", "last_price", "funding_rate"]] = np.nan
            oi_only["delay"] = rng.integers(1_000_000, 20_000_000, len(oi_only))
            ticker.append(pd.concat([frame, oi_only]))
            k = trades_per_hour * 24
            trade_ts = np.sort(start + rng.integers(0, DAY, k))
            trades.append(pd.DataFrame({
                "symbol": symbol, "timestamp": trade_ts,
                "side": rng.choice(["buy", "sell", "unknown"], k, p=[0.49, 0.49, 0.02]),
                "price": np.round(price0 * (1 + rng.normal(0, 0.001, k)), 2),
                "amount": np.round(rng.lognormal(-1, 1, k), 4) + 0.0001,
            }))
    return {
        "liquidations": _arrive(pd.concat(liq, ignore_index=True), rng),
        "derivative_ticker": _arrive(pd.concat(ticker, ignore_index=True), rng),
        "trades": _arrive(pd.concat(trades, ignore_index=True), rng),
    }


def _arrive(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Add exchange and local_timestamp (network delay, some very late), sorted by arrival."""
    n = len(frame)
    delay = rng.integers(5_000, 150_000, n)
    slow = rng.random(n) < 0.04
    delay[slow] = rng.integers(1_000_000, 120_000_000, int(slow.sum()))
    if "delay" in frame:
        extra = frame.pop("delay").fillna(0).to_numpy(dtype=np.int64)
        delay = delay + extra
    frame.insert(0, "exchange", EXCHANGE)
    frame.insert(3, "local_timestamp", frame["timestamp"].to_numpy() + delay)
    return frame.sort_values("local_timestamp", kind="stable").reset_index(drop=True)


def reference_inputs(events: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame | None]:
    """The events renamed to the reference implementation's input columns."""
    def rename(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        return frame.rename(columns={"timestamp": "ts", "local_timestamp": "arrival"})
    return {"liquidations": rename(events["liquidations"]), "ticker": rename(events.get("derivative_ticker")),
            "trades": rename(events.get("trades"))}


def write_tardis(events: dict[str, pd.DataFrame], folder: Path, grouped_liquidations: bool = True) -> None:
    """Write events as daily Tardis CSV.gz files (one day of local_timestamp each)."""
    folder.mkdir(parents=True, exist_ok=True)
    for channel, frame in events.items():
        frame = frame.copy()
        day = pd.to_datetime(frame["local_timestamp"], unit="us").dt.strftime("%Y-%m-%d")
        if channel == "derivative_ticker":
            frame["funding_timestamp"] = ""
            frame["predicted_funding_rate"] = ""
            columns = TICKER_COLUMNS
        else:
            frame["id"] = ""
            columns = LIQ_COLUMNS
        grouped = grouped_liquidations and channel == "liquidations"
        written: dict[str, set[str]] = {}
        for (date, symbol), part in frame.groupby([day, frame["symbol"]] if not grouped else [day, day * 0]):
            name = "PERPETUALS" if grouped else symbol
            written.setdefault(name, set()).add(date)
            path = folder / f"{EXCHANGE}_{channel}_{date}_{name}.csv.gz"
            with gzip.open(path, "wt", newline="") as handle:
                part[columns].to_csv(handle, index=False, lineterminator="\n")
        for name, dates in written.items():  # a silent day is a file with no rows, as Tardis has it
            for date in pd.date_range(min(dates), max(dates), freq="D").strftime("%Y-%m-%d"):
                if date not in dates:
                    with gzip.open(folder / f"{EXCHANGE}_{channel}_{date}_{name}.csv.gz", "wt") as handle:
                        handle.write(",".join(columns) + "\n")


def assert_rows_equal(actual: pd.DataFrame, expected: pd.DataFrame, exact: bool = False) -> None:
    """Same keys, same columns; floats within rtol 1e-9 / atol 1e-12 (or exactly equal)."""
    actual = actual.reset_index() if "bar_start" not in actual.columns else actual
    expected = expected.reset_index() if "bar_start" not in expected.columns else expected
    assert sorted(actual.columns) == sorted(expected.columns), set(actual.columns) ^ set(expected.columns)
    actual = actual.sort_values(KEY, kind="stable").reset_index(drop=True)
    expected = expected.sort_values(KEY, kind="stable").reset_index(drop=True)
    assert len(actual) == len(expected), (len(actual), len(expected))
    for column in KEY:
        assert (actual[column].astype(str) == expected[column].astype(str)).all(), column
    for column in expected.columns:
        if column in KEY:
            continue
        a, e = actual[column].to_numpy(), expected[column].to_numpy()
        if column == "bar_end":
            assert (actual[column] == expected[column]).all(), column
            continue
        if a.dtype.kind in "iub" or e.dtype.kind in "iub":
            assert (a == e).all(), f"{column}: first difference at row {int(np.argmax(a != e))}"
            continue
        a, e = a.astype(float), e.astype(float)
        if exact:
            same = (a == e) | (np.isnan(a) & np.isnan(e))
            assert same.all(), f"{column}: first difference at row {int(np.argmax(~same))}: {a[~same][:3]}"
        else:
            np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=column)


def frame_of(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Engine rows as a DataFrame (bar times as UTC timestamps)."""
    return rows_to_frame(rows, columns)


@pytest.fixture(scope="session")
def events() -> dict[str, pd.DataFrame]:
    return make_events()


def channel_batch(channel: str, frame: pd.DataFrame) -> EventBatch:
    """One event batch of a channel's frame (Tardis columns, in the frame's order)."""
    symbols = sorted(frame["symbol"].unique())
    fields = {"instruments": tuple((EXCHANGE, s) for s in symbols),
              "instrument": frame["symbol"].map({s: i for i, s in enumerate(symbols)}).to_numpy(np.int32),
              "ts": frame["timestamp"].to_numpy(np.int64), "arrival": frame["local_timestamp"].to_numpy(np.int64)}
    if channel == "derivative_ticker":
        fields.update({name: frame[name].to_numpy(float) for name in TICKER_FIELDS})
    else:
        fields.update({"side": frame["side"].map(SIDE_CODES).to_numpy(np.int8),
                       "price": frame["price"].to_numpy(float), "amount": frame["amount"].to_numpy(float)})
    return BATCH_TYPES[channel](**fields)
