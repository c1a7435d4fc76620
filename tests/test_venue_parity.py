"""Live equals a Tardis replay: the same market as Bybit and OKX frames through the live core, and
as the Tardis CSV files of `bybit` and `okex-swap` (Tardis' mapping: Bybit sides inverted, OKX
sizes in contracts) through the replay, give the same rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from binance_frames import binance_compatible
from conftest import assert_rows_equal, frame_of, make_events, write_tardis
from fake_bybit import liquidation_message, ticker_message, trade_message
from fake_okx import liquidation_message as okx_liquidation

from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.live.core import LiveCore
from streamliq.tardis_replay import Replay

CT_VAL = 0.01  # BTC-USDT-SWAP: 0.01 BTC per contract (the value the reference cites)
OKX_SYMBOLS = {"BTCUSDT": "BTC-USDT-SWAP"}
CONFIG = FactorConfig.build(freq="5m,1h", z_windows=[12], pct_windows=[24], mining_windows=[12])


def _rows(block) -> list[dict]:
    """The rows a record closed, as dicts (a non-tick record closes nothing)."""
    return [] if block is None else block.to_dicts()


@pytest.fixture(scope="module")
def market() -> dict[str, pd.DataFrame]:
    return binance_compatible(make_events(seed=5, days=1, ticker_every_s=20, trades_per_hour=200))


def _bybit_text(channel: str, row: pd.Series) -> str:
    ms, symbol = int(row["timestamp"]) // 1000, row["symbol"]
    if channel == "liquidations":  # Bybit sends the position side: a long liquidated (sell) is Buy
        item = (ms, "Buy" if row["side"] == "sell" else "Sell", repr(float(row["amount"])), repr(float(row["price"])))
        return json.dumps(liquidation_message(symbol, [item], ms + 5))
    if channel == "trades":
        item = (ms, "Buy" if row["side"] == "buy" else "Sell", repr(float(row["amount"])), repr(float(row["price"])))
        return json.dumps(trade_message(symbol, [item], ms + 5))
    return json.dumps(ticker_message(symbol, ms, markPrice=repr(float(row["mark_price"])),
                                     indexPrice=repr(float(row["index_price"])),
                                     fundingRate=repr(float(row["funding_rate"]))))


def _okx_text(channel: str, row: pd.Series) -> str:
    contracts = repr(float(row["amount"]) / CT_VAL)
    return json.dumps(okx_liquidation(OKX_SYMBOLS[row["symbol"]], [(row["side"], repr(float(row["price"])),
                                                                    contracts, int(row["timestamp"]) // 1000)]))


def _live_rows(venue: str, records: list[dict], specs: str | None = None) -> pd.DataFrame:
    core = LiveCore(BarEngine(CONFIG))
    core.apply({"t": records[0]["t"], "k": "start", "venues": {venue: None}})
    if specs:
        core.apply({"t": records[0]["t"], "k": "instruments", "v": venue, "m": specs})
    rows = []
    for i, record in enumerate(records):
        rows += _rows(core.apply(record))
        if i % 997 == 0:
            rows += _rows(core.apply({"t": record["t"], "k": "tick"}))
    rows += _rows(core.apply({"t": records[-1]["t"], "k": "tick"}))
    assert core.bad.total == 0, core.bad.counts
    return frame_of(rows, CONFIG.columns())


def _records(venue: str, events: dict[str, pd.DataFrame], text) -> list[dict]:
    records = [{"t": int(row["local_timestamp"]), "k": "ws", "c": f"{venue}.c0.1", "v": venue, "m": text(channel, row)}
               for channel, frame in events.items() for _, row in frame.iterrows()]
    return sorted(records, key=lambda r: r["t"])


def _tardis_rows(events: dict[str, pd.DataFrame], exchange: str, folder) -> pd.DataFrame:
    events = {channel: frame.assign(exchange=exchange) for channel, frame in events.items()}
    write_tardis(events, folder)
    return frame_of(list(Replay(folder, CONFIG)), CONFIG.columns())


def _compare(live: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(live) > 50
    index = ["exchange", "symbol", "freq", "bar_start"]
    keys = expected.set_index(index).index.isin(live.set_index(index).index)
    assert_rows_equal(live, expected[keys], exact=False)


def test_bybit_live_rows_equal_the_replay_of_tardis_bybit_files(market, tmp_path):
    live = _live_rows("bybit", _records("bybit", market, _bybit_text))
    assert set(live["exchange"]) == {"bybit"}
    _compare(live, _tardis_rows(market, "bybit", tmp_path))


def test_okx_live_rows_equal_the_replay_of_tardis_okex_swap_files(market, tmp_path):
    btc = market["liquidations"][market["liquidations"]["symbol"] == "BTCUSDT"]
    liquidations = btc.assign(symbol=btc["symbol"].map(OKX_SYMBOLS))
    records = _records("okx", {"liquidations": btc}, _okx_text)
    backlog = {**records[0], "t": records[0]["t"] - 1}  # the first push after subscribing is dropped
    specs = json.dumps({"code": "0", "msg": "", "data": [
        {"instId": inst, "ctVal": str(CT_VAL), "ctMult": "1", "ctValCcy": inst.split("-")[0], "ctType": "linear",
         "uly": inst.removesuffix("-SWAP"), "state": "live"} for inst in OKX_SYMBOLS.values()]})
    live = _live_rows("okx", [backlog, *records], specs)
    assert set(live["symbol"]) == {"BTC-USDT-SWAP"}
    tardis = {"liquidations": liquidations.assign(amount=liquidations["amount"] / CT_VAL)}  # Tardis: contracts
    _compare(live, _tardis_rows(tardis, "okex-swap", tmp_path))
