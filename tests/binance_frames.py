"""Test events (conftest.make_events frames) as Binance USD-M combined-stream frames and records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd


def binance_compatible(events: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The events restricted to what Binance streams carry: ms exchange times, ticker rows with
    mark/index/funding only (last price and open interest are not on markPrice), no unknown sides."""
    out = {}
    for channel, frame in events.items():
        frame = frame.copy()
        frame["timestamp"] = frame["timestamp"] // 1000 * 1000
        if channel == "derivative_ticker":
            frame[["last_price", "open_interest"]] = np.nan
            frame = frame.dropna(subset=["mark_price", "index_price"])
            frame["funding_rate"] = frame["funding_rate"].fillna(0.0001)
        if channel == "trades":
            frame = frame[frame["side"] != "unknown"]
        out[channel] = frame.reset_index(drop=True)
    return out


def frame_text(channel: str, row: pd.Series) -> str:
    """The combined-stream frame Binance sends for one event row."""
    symbol, ms = row["symbol"], int(row["timestamp"]) // 1000
    if channel == "liquidations":
        qty = repr(float(row["amount"]))
        data = {"e": "forceOrder", "E": ms + 3, "o": {
            "s": symbol, "S": row["side"].upper(), "o": "LIMIT", "f": "IOC", "q": qty, "p": repr(float(row["price"])),
            "ap": repr(float(row["price"])), "X": "FILLED", "l": qty, "z": qty, "T": ms}}
        stream = f"{symbol.lower()}@forceOrder"
    elif channel == "derivative_ticker":
        data = {"e": "markPriceUpdate", "E": ms, "s": symbol, "p": repr(float(row["mark_price"])),
                "ap": repr(float(row["mark_price"])), "P": "0", "i": repr(float(row["index_price"])),
                "r": repr(float(row["funding_rate"])), "T": ms + 3_600_000, "st": 1}
        stream = f"{symbol.lower()}@markPrice@1s"
    else:
        data = {"e": "aggTrade", "E": ms + 1, "a": 1, "s": symbol, "p": repr(float(row["price"])),
                "q": repr(float(row["amount"])), "nq": repr(float(row["amount"])), "f": 1, "l": 1, "T": ms,
                "m": row["side"] == "sell", "st": 1}
        stream = f"{symbol.lower()}@aggTrade"
    return json.dumps({"stream": stream, "data": data}, separators=(",", ":"))


def frame_records(events: dict[str, pd.DataFrame], connection: str = "c0.1") -> list[dict]:
    """Every event as a `ws` record at its local_timestamp, in arrival order (ties by channel)."""
    records = []
    for channel, frame in events.items():
        for _, row in frame.iterrows():
            records.append({"t": int(row["local_timestamp"]), "k": "ws", "c": connection,
                            "m": frame_text(channel, row)})
    records.sort(key=lambda r: r["t"])
    return records
