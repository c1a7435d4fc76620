"""Multi-venue test data in venue units (contracts, USD, thousands of coins) and a Tardis writer.

`SPECS` restates the contract values of FACTORS.md section 9 and the issue's checks by hand, so
tests compare streamliq's shipped table against numbers written down independently.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import LIQ_COLUMNS, MINUTE, T0, TICKER_COLUMNS

# (exchange, symbol) -> (base coin, kind, contract value, coins per unit of the symbol)
SPECS = {
    ("binance-futures", "BTCUSDT"): ("BTC", "linear", 1.0, 1.0),
    ("binance-futures", "1000PEPEUSDT"): ("PEPE", "linear", 1.0, 1000.0),
    ("okex-swap", "BTC-USDT-SWAP"): ("BTC", "linear", 0.01, 1.0),
    ("okex-swap", "BTC-USD-SWAP"): ("BTC", "inverse", 100.0, 1.0),
    ("okex-swap", "PEPE-USDT-SWAP"): ("PEPE", "linear", 10_000_000.0, 1.0),
    ("binance-delivery", "BTCUSD_PERP"): ("BTC", "inverse", 100.0, 1.0),
    ("bybit", "BTCUSD"): ("BTC", "inverse", 1.0, 1.0),
    ("bybit", "ETHUSDT"): ("ETH", "linear", 1.0, 1.0),
    ("okex-futures", "ETH-USD-251226"): ("ETH", "inverse", 10.0, 1.0),
}
# the venue's typical size (in its own unit) and price (USD per unit of the symbol)
SIZES = {
    ("binance-futures", "BTCUSDT"): (0.3, 60_000.0),
    ("binance-futures", "1000PEPEUSDT"): (200_000.0, 0.0104),
    ("okex-swap", "BTC-USDT-SWAP"): (40.0, 60_010.0),
    ("okex-swap", "BTC-USD-SWAP"): (30.0, 60_005.0),
    ("okex-swap", "PEPE-USDT-SWAP"): (50.0, 0.00001041),
    ("binance-delivery", "BTCUSD_PERP"): (25.0, 60_020.0),
    ("bybit", "BTCUSD"): (8_000.0, 59_990.0),
    ("bybit", "ETHUSDT"): (2.0, 2_400.0),
    ("okex-futures", "ETH-USD-251226"): (60.0, 2_405.0),
}
TICKER_INSTRUMENTS = (("binance-futures", "BTCUSDT"), ("okex-swap", "BTC-USD-SWAP"),
                      ("binance-delivery", "BTCUSD_PERP"), ("okex-swap", "BTC-USDT-SWAP"))
TRADE_INSTRUMENTS = (("binance-futures", "BTCUSDT"), ("okex-swap", "BTC-USDT-SWAP"), ("bybit", "BTCUSD"),
                     ("binance-futures", "1000PEPEUSDT"))


def make_venue_events(seed: int = 11, hours: int = 6) -> dict[str, pd.DataFrame]:
    """Liquidations, ticker and trades of `SPECS`' instruments in venue units, arrival order.

    Clusters shared across venues (a cascade hits every venue), identical sizes in some
    clusters, about 5% late arrivals (up to 3 minutes), ticker rows without mark price.
    """
    rng = np.random.default_rng(seed)
    span = hours * 60 * MINUTE
    centers = T0 + np.sort(rng.integers(0, span - 10 * MINUTE, 10))
    liq, ticker, trades = [], [], []
    for (exchange, symbol), (size, price) in SIZES.items():
        for center in centers:
            n = int(rng.poisson(6)) + 1
            ts = center + np.sort(rng.integers(0, 3 * MINUTE, n))
            prices = price * (1 + rng.normal(0, 0.002, n))
            amounts = np.maximum(np.round(size * rng.lognormal(0, 1.0, n), 3), 0.001)
            if rng.random() < 0.2:
                prices[:], amounts[:] = prices[0], amounts[0]
            liq.append(pd.DataFrame({"exchange": exchange, "symbol": symbol, "timestamp": ts,
                                     "side": rng.choice(["buy", "sell"], n), "price": prices, "amount": amounts}))
        if (exchange, symbol) in TICKER_INSTRUMENTS:
            ts = np.arange(T0, T0 + span, 20_000_000)
            mark = price * np.exp(np.cumsum(rng.normal(0, 3e-4, len(ts))))
            frame = pd.DataFrame({"exchange": exchange, "symbol": symbol, "timestamp": ts,
                                  "funding_timestamp": "", "funding_rate": 1e-4, "predicted_funding_rate": "",
                                  "open_interest": np.round(50_000 + np.cumsum(rng.normal(0, 50, len(ts))), 1),
                                  "last_price": mark, "index_price": mark * 0.9999, "mark_price": mark})
            frame.loc[rng.random(len(ts)) < 0.15, "mark_price"] = np.nan
            ticker.append(frame)
        if (exchange, symbol) in TRADE_INSTRUMENTS:
            k = 60 * hours
            trades.append(pd.DataFrame({
                "exchange": exchange, "symbol": symbol, "timestamp": np.sort(T0 + rng.integers(0, span, k)),
                "side": rng.choice(["buy", "sell", "unknown"], k, p=[0.48, 0.48, 0.04]),
                "price": price * (1 + rng.normal(0, 0.001, k)),
                "amount": np.maximum(np.round(size * rng.lognormal(-1, 1, k), 3), 0.001)}))
    return {"liquidations": _arrive(pd.concat(liq, ignore_index=True), rng),
            "derivative_ticker": _arrive(pd.concat(ticker, ignore_index=True), rng),
            "trades": _arrive(pd.concat(trades, ignore_index=True), rng)}


def _arrive(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    delay = rng.integers(5_000, 200_000, len(frame))
    slow = rng.random(len(frame)) < 0.05
    delay[slow] = rng.integers(2_000_000, 180_000_000, int(slow.sum()))
    frame.insert(3, "local_timestamp", frame["timestamp"].to_numpy() + delay)
    return frame.sort_values("local_timestamp", kind="stable").reset_index(drop=True)


def write_venue_files(events: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Tardis files, one per (exchange, channel, day, symbol); liquidations grouped as PERPETUALS."""
    folder.mkdir(parents=True, exist_ok=True)
    for channel, frame in events.items():
        frame = frame.assign(id="") if channel != "derivative_ticker" else frame
        columns = TICKER_COLUMNS if channel == "derivative_ticker" else LIQ_COLUMNS
        day = pd.to_datetime(frame["local_timestamp"], unit="us").dt.strftime("%Y-%m-%d")
        name = frame["symbol"] if channel != "liquidations" else pd.Series("PERPETUALS", index=frame.index)
        for (exchange, date, symbol), part in frame.groupby([frame["exchange"], day, name]):
            path = folder / f"{exchange}_{channel}_{date}_{symbol}.csv.gz"
            with gzip.open(path, "wt", newline="") as handle:
                part[columns].to_csv(handle, index=False, lineterminator="\n")
    return folder
