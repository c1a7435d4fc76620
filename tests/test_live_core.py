"""The live core without I/O: normalization, bad frames, outages, and parity with the Tardis replay."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from binance_frames import binance_compatible, frame_records, frame_text
from conftest import EXCHANGE, MINUTE, T0, assert_rows_equal, frame_of, make_events, write_tardis

from streamliq.badinput import BadInputCounter
from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.events import BUY, SELL
from streamliq.live.core import LiveCore
from streamliq.live.recorded import RecordedReplay
from streamliq.live.records import RecordWriter
from streamliq.tardis_replay import Replay
from streamliq.venues.binance import BinanceNormalizer
from streamliq.venues.buffer import EventBuffer

FORCE_ORDER = ('{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1781416603268,"o":{"s":"BTCUSDT",'
               '"S":"BUY","o":"LIMIT","f":"IOC","q":"0.002","p":"64562.50","ap":"64310.60","X":"FILLED",'
               '"l":"0.002","z":"0.002","T":1781416602260}}}')
MARK_ARRAY = ('{"stream":"!markPrice@arr@1s","data":[{"e":"markPriceUpdate","E":1791382993000,"s":"BTCUSDT",'
              '"p":"83084.30000000","ap":"83084.30000000","P":"83195.15881449","i":"83123.65891304",'
              '"r":"0.00000078","T":1791388800000,"st":1},{"e":"markPriceUpdate","E":1791382993000,'
              '"s":"ETHUSDT","p":"2401.5","ap":"2401.5","P":"0","i":"2400.1","r":"","T":0,"st":1}]}')
AGG_TRADE = ('{"e":"aggTrade","E":1791382992340,"a":3477868433,"s":"BTCUSDT","p":"83091.70","q":"0.022",'
             '"nq":"0.022","f":8153634393,"l":8153634394,"T":1791382992338,"m":true,"st":1}')
ARRIVAL = 1_791_383_000_000_000  # µs, after every frame's exchange time


def _rows(block) -> list[dict]:
    """The rows a record closed, as dicts (a non-tick record closes nothing)."""
    return [] if block is None else block.to_dicts()


def normalize(*frames: str, symbols: frozenset[str] | None = None) -> tuple[list, BadInputCounter]:
    buffer, bad = EventBuffer(EXCHANGE), BadInputCounter()
    normalizer = BinanceNormalizer(buffer, symbols, bad)
    for i, text in enumerate(frames):
        normalizer.frame(text, ARRIVAL + i)
    return buffer.drain(), bad


def test_force_order_is_a_liquidation_with_price_p_amount_z_and_time_t():
    [batch], bad = normalize(FORCE_ORDER)
    assert batch.instruments == ((EXCHANGE, "BTCUSDT"),)
    assert (batch.ts.tolist(), batch.arrival.tolist()) == ([1781416602260_000], [ARRIVAL])
    assert (batch.side.tolist(), batch.price.tolist(), batch.amount.tolist()) == ([BUY], [64562.5], [0.002])
    assert bad.total == 0


def test_mark_price_array_and_agg_trade():
    ticker, trades = sorted(normalize(MARK_ARRAY, AGG_TRADE)[0], key=lambda b: b.channel)
    assert ticker.instruments == ((EXCHANGE, "BTCUSDT"), (EXCHANGE, "ETHUSDT"))
    assert ticker.ts.tolist() == [1791382993000_000] * 2
    assert ticker.mark_price.tolist() == [83084.3, 2401.5]
    assert ticker.index_price.tolist() == [83123.65891304, 2400.1]
    assert ticker.funding_rate[0] == 0.00000078 and math.isnan(ticker.funding_rate[1])  # "" = no funding
    assert all(math.isnan(x) for x in [*ticker.last_price, *ticker.open_interest])
    assert (trades.side.tolist(), trades.price.tolist(), trades.amount.tolist()) == ([SELL], [83091.7], [0.022])
    assert trades.ts.tolist() == [1791382992338_000]


def test_zero_amounts_are_events_negative_amounts_are_bad():
    """A forceOrder or aggTrade with quantity 0 is an event adding 0 (as in Tardis files)."""
    zero_liq = FORCE_ORDER.replace('"z":"0.002"', '"z":"0"')
    zero_trade = AGG_TRADE.replace('"q":"0.022"', '"q":"0.0"')
    negative = FORCE_ORDER.replace('"z":"0.002"', '"z":"-0.002"')
    batches, bad = normalize(zero_liq, zero_trade, negative)
    assert sorted((b.channel, b.amount.tolist()) for b in batches) == [("liquidations", [0.0]), ("trades", [0.0])]
    assert dict(bad.counts) == {"bad number in forceOrder.o.z": 1}


def test_bad_frames_are_counted_by_kind_and_skipped(caplog):
    coin_m = FORCE_ORDER.replace('"s":"BTCUSDT"', '"s":"BTCUSD_PERP"')
    frames = ["not json", '{"e":"depthUpdate","s":"BTCUSDT"}', FORCE_ORDER.replace('"p":"64562.50"', '"p":"abc"'),
              FORCE_ORDER.replace('"p":"64562.50"', '"p":"-1"'), coin_m, '{"result":null,"id":1}',
              FORCE_ORDER.replace("BTCUSDT", "DOGEUSDT"), FORCE_ORDER.replace('"T":1781416602260', '"T":null'),
              '[1, 2]', FORCE_ORDER]
    batches, bad = normalize(*frames, symbols=frozenset({"BTCUSDT"}))
    assert [len(b) for b in batches] == [1]
    assert dict(bad.counts) == {
        "frame is not JSON": 1, "unknown event type 'depthUpdate'": 1, "bad number in forceOrder.o.p": 2,
        "COIN-M liquidation (quantities in contracts)": 1, "symbol not subscribed": 1,
        "bad time in forceOrder.o.T": 1, "event is not an object": 1,
    }
    assert "first seen: not json" in caplog.text
    assert caplog.text.count("bad number in forceOrder.o.p") == 1  # logged once per kind


def test_open_interest_body_is_a_ticker_event_with_open_interest_only():
    buffer, bad = EventBuffer(EXCHANGE), BadInputCounter()
    normalizer = BinanceNormalizer(buffer, None, bad)
    normalizer.open_interest('{"symbol":"BTCUSDT","openInterest":"109049.480","time":1789913109480}', ARRIVAL)
    normalizer.open_interest('{"code":-1121,"msg":"Invalid symbol."}', ARRIVAL + 1)
    [batch] = buffer.drain()
    assert batch.open_interest.tolist() == [109049.48] and batch.ts.tolist() == [1789913109480_000]
    assert math.isnan(batch.mark_price[0])
    assert dict(bad.counts) == {"missing symbol in openInterest.symbol": 1}


@pytest.fixture(scope="module")
def binance_events():
    events = make_events(seed=11, days=1, ticker_every_s=20, trades_per_hour=200)
    return binance_compatible(events)


def test_live_core_gives_the_rows_of_the_tardis_replay_of_the_same_messages(binance_events, tmp_path):
    config = FactorConfig.build(freq="5m,1h", z_windows=[12], pct_windows=[24], mining_windows=[12])
    write_tardis(binance_events, tmp_path / "tardis")
    expected = frame_of(list(Replay(tmp_path / "tardis", config)), config.columns())
    core = LiveCore(BarEngine(config))
    rows = []
    records = frame_records(binance_events)
    for i, record in enumerate(records):
        rows += _rows(core.apply(record))
        if i % 997 == 0:
            rows += _rows(core.apply({"t": record["t"], "k": "tick"}))
    rows += _rows(core.apply({"t": records[-1]["t"], "k": "tick"}))
    live = frame_of(rows, config.columns())
    assert len(live) > 200
    assert_contract_types(rows, config.columns())
    # every bar the last tick closed (bar_end + 5 s <= watermark), no more, no less; replay closes all
    watermark = pd.Timestamp(max(record["t"] for record in records), unit="us", tz="UTC")
    closed = expected["bar_end"] + pd.Timedelta(seconds=5) <= watermark
    assert 0 < closed.sum() < len(expected)
    assert_rows_equal(live, expected[closed], exact=True)
    assert core.bad.total == 0


def assert_contract_types(rows: list[dict], columns: list[str]) -> None:
    """FACTORS.md section 8: counts are integers, `gap` a bool, factors float64 (a float count, an int
    factor or a 0/1 gap would pass a frame comparison: the frame conversion casts them silently)."""
    counts = {"n_events", "late_events", "long_count", "short_count", "all_count", "bar_start", "bar_end"}
    for column in columns:
        if column in ("exchange", "symbol", "freq"):
            kinds: tuple[type, ...] = (str,)
        elif column == "gap":
            kinds = (bool, np.bool_)
        elif column in counts:
            kinds = (int, np.integer)
        else:
            kinds = (float,)  # np.float64 is a float
        wrong = {type(row[column]).__name__ for row in rows
                 if not isinstance(row[column], kinds) or (column != "gap" and isinstance(row[column], bool))}
        assert not wrong, f"{column}: {wrong}"
    frame = frame_of(rows, columns)
    dtypes = {str(dtype) for column, dtype in frame.dtypes.items() if column not in counts | {"gap"}
              and column not in ("exchange", "symbol", "freq")}
    assert dtypes == {"float64"}, dtypes
    assert {str(frame[c].dtype) for c in counts - {"bar_start", "bar_end"}} == {"int64"}
    assert str(frame["gap"].dtype) == "bool"


def test_a_recording_replays_to_the_same_rows(binance_events, tmp_path):
    config = FactorConfig.build(freq="1m")
    writer = RecordWriter(tmp_path / "rec")
    core = LiveCore(BarEngine(config))
    live = []
    records = [{"t": T0, "k": "start", "symbols": None}, *frame_records(binance_events)[:3000]]
    records.insert(500, {"t": records[499]["t"], "k": "down", "c": "c0", "s": ["ETHUSDT"], "since": records[499]["t"]})
    records.insert(900, {"t": records[899]["t"], "k": "up", "c": "c0"})
    for i, record in enumerate(records):
        writer.write(record)
        live += _rows(core.apply(record))
        if i % 50 == 0:
            tick = {"t": record["t"], "k": "tick"}
            writer.write(tick)
            live += _rows(core.apply(tick))
    writer.close()
    assert len(list((tmp_path / "rec").glob("*.jsonl.gz"))) >= 2  # one file per hour
    replayed = list(RecordedReplay(tmp_path / "rec", config))
    assert replayed == live or frame_of(replayed, config.columns()).equals(frame_of(live, config.columns()))
    assert any(row["gap"] for row in live) and not all(row["gap"] for row in live)


def test_outage_marks_exactly_the_overlapping_bars_of_its_symbols():
    config = FactorConfig.build(freq="1m", lateness="0s")
    core = LiveCore(BarEngine(config))
    event = json.loads(FORCE_ORDER)["data"]
    for minute in range(6):
        for symbol in ("BTCUSDT", "ETHUSDT"):
            ms = T0 // 1000 + minute * 60_000 + 1_000
            event["o"].update(s=symbol, T=ms)
            core.apply({"t": ms * 1000, "k": "ws", "c": "c0.1", "m": json.dumps(event)})
    core.apply({"t": T0 + 2 * MINUTE + 5, "k": "down", "c": "c0", "s": ["BTCUSDT"], "since": T0 + 2 * MINUTE + 5})
    core.apply({"t": T0 + 3 * MINUTE + 7, "k": "up", "c": "c0"})
    rows = core.apply({"t": T0 + 6 * MINUTE, "k": "tick"})
    gaps = {(r["symbol"], (r["bar_start"] - T0) // MINUTE): r["gap"] for r in rows}
    assert [m for (s, m), g in gaps.items() if g] == [2, 3]
    assert all(s == "BTCUSDT" for (s, m), g in gaps.items() if g)
    assert len(gaps) == 12


def test_frames_repeated_by_another_connection_are_dropped_once():
    core = LiveCore(BarEngine(FactorConfig.build(freq="1m")))
    text = frame_text("liquidations", {"symbol": "BTCUSDT", "timestamp": T0, "side": "sell", "price": 1.5,
                                       "amount": 2.0})
    for connection in ("c0.1", "c0.2", "c0.1"):
        core.apply({"t": T0 + 10, "k": "ws", "c": connection, "m": text})
    assert core.duplicates == 1
    assert len(core.buffer) == 2  # the same connection may repeat; the other one is the duplicate
