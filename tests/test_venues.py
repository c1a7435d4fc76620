"""Venue plug-ins: normalizers against hand-computed values (real frames), the subscribe protocols and
keep-alives against the fakes, symbol resolution and connection planning."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from itertools import pairwise

import pytest
from fake_bybit import FakeBybit, ticker_message
from fake_okx import FakeOkx, channel_message

from streamliq.badinput import BadInputCounter
from streamliq.engine.events import BUY, SELL
from streamliq.errors import InputError
from streamliq.live.connection import ConnectPacer, StreamConnection
from streamliq.live.daemon import LiveDaemon
from streamliq.live.settings import resolve
from streamliq.venues.base import KeepAlive
from streamliq.venues.buffer import EventBuffer
from streamliq.venues.bybit import VENUE as BYBIT
from streamliq.venues.fields import base_per_unit
from streamliq.venues.okx import VENUE as OKX
from streamliq.venues.registry import VENUES, venue
from streamliq.venues.specs import InstrumentSpec

# real frames (reference/real-frames.md)
BYBIT_BTC = ('{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1791565601482,"data":[{"T":1791565600992,'
             '"s":"BTCUSDT","S":"Buy","v":"0.006","p":"82396.90"},{"T":1791565601058,"s":"BTCUSDT","S":"Buy",'
             '"v":"0.038","p":"82394.30"}]}')
BYBIT_ADA = ('{"topic":"allLiquidation.ADAUSDT","type":"snapshot","ts":1786014947330,"data":[{"T":1786014946933,'
             '"s":"ADAUSDT","S":"Sell","v":"13248","p":"0.1915"}]}')
OKX_BTC = ('{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0",'
           '"bkPx":"82655.7","ccy":"","posSide":"long","side":"sell","sz":"8.55","ts":"1791565600771"}],'
           '"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}]}')
OKX_CELO = ('{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0",'
            '"bkPx":"0.09583","ccy":"","posSide":"short","side":"buy","sz":"19979","ts":"1791565462608"}],'
            '"instFamily":"CELO-USDT","instId":"CELO-USDT-SWAP","instType":"SWAP","uly":"CELO-USDT"}]}')
# frames arrive after their exchange times (a time more than a day past its arrival is absurd)
ARRIVAL = 1_791_600_000_000_000
T0 = 1_791_565_600_000  # ms


def normalize(name: str, *frames: str, specs: tuple[InstrumentSpec, ...] = (), connection: str = "c0.1"):
    """The events of `frames` on venue `name`, per channel as lists of row tuples, and the bad-input counts."""
    buffer, bad = EventBuffer("binance-futures"), BadInputCounter()
    normalizer = venue(name).normalizer(buffer, None, bad)
    normalizer.set_specs(specs)
    for i, text in enumerate(frames):
        normalizer.frame(text, ARRIVAL + i, connection)
    out: dict[str, list[tuple]] = {}
    for batch in buffer.drain():
        columns = [c for c in batch._columns() if c not in ("instrument",)]
        rows = zip(*(getattr(batch, c).tolist() for c in columns), strict=True)
        out[batch.channel] = [(batch.instruments[i][0], batch.instruments[i][1], *row)
                              for i, row in zip(batch.instrument.tolist(), rows, strict=True)]
    return out, dict(bad.counts)


def spec(exchange: str, symbol: str, base: str, kind: str, value: float) -> InstrumentSpec:
    return InstrumentSpec(exchange, symbol, base, kind, value)


# ---------------------------------------------------------------- normalizers

def test_bybit_all_liquidation_batch_inverts_the_position_side():
    events, bad = normalize("bybit", BYBIT_BTC, BYBIT_ADA)
    assert bad == {}
    assert sorted(events["liquidations"]) == sorted([
        ("bybit", "BTCUSDT", 1791565600992000, ARRIVAL, SELL, 82396.9, 0.006),  # Buy = a long was liquidated
        ("bybit", "BTCUSDT", 1791565601058000, ARRIVAL, SELL, 82394.3, 0.038),
        ("bybit", "ADAUSDT", 1786014946933000, ARRIVAL + 1, BUY, 0.1915, 13248.0),
    ])


def test_bybit_inverse_sizes_are_usd_and_need_the_spec():
    frame = json.dumps({"topic": "allLiquidation.BTCUSD", "type": "snapshot", "ts": T0 + 2, "data": [
        {"T": T0 + 1, "s": "BTCUSD", "S": "Sell", "v": "1000", "p": "50000"}]})
    events, bad = normalize("bybit", frame, specs=(spec("bybit", "BTCUSD", "BTC", "inverse", 1.0),))
    assert events["liquidations"] == [("bybit", "BTCUSD", (T0 + 1) * 1000, ARRIVAL, BUY, 50000.0, 0.02)]
    _, bad = normalize("bybit", frame)
    assert bad == {"no contract spec for BTCUSD": 1}


def test_bybit_ticker_snapshot_and_delta_carry_only_what_they_hold():
    snapshot = json.dumps(ticker_message("BTCUSDT", 1_700_000_000_000, markPrice="80000.5", indexPrice="80001",
                                         lastPrice="80000", fundingRate="-0.0001", openInterest="1234.5"))
    delta = json.dumps(ticker_message("BTCUSDT", 1_700_000_000_100, "delta", markPrice="80002"))
    volume_only = json.dumps(ticker_message("BTCUSDT", 1_700_000_000_200, "delta", volume24h="5"))
    events, bad = normalize("bybit", snapshot, delta, volume_only)
    assert bad == {}
    first, second = events["derivative_ticker"]
    assert first == ("bybit", "BTCUSDT", 1_700_000_000_000_000, ARRIVAL, 80000.5, 80001.0, 80000.0, -0.0001,
                     1234.5)
    assert second[:5] == ("bybit", "BTCUSDT", 1_700_000_000_100_000, ARRIVAL + 1, 80002.0)
    assert all(math.isnan(v) for v in second[5:])


def test_a_ticker_message_with_a_bad_field_leaves_the_mark_price_as_it_was():
    """Inverse open interest is converted at the last mark price; a message rejected for any of
    its fields must not have moved that mark (Bybit and OKX)."""
    inverse = (spec("bybit", "BTCUSD", "BTC", "inverse", 1.0),)
    good = json.dumps(ticker_message("BTCUSD", T0, markPrice="50000"))
    bad_index = json.dumps(ticker_message("BTCUSD", T0 + 1, markPrice="99999", indexPrice="abc"))
    interest = json.dumps(ticker_message("BTCUSD", T0 + 2, "delta", openInterest="1000000"))
    events, bad = normalize("bybit", good, bad_index, interest, specs=inverse)
    assert bad == {"bad number in tickers.indexPrice": 1}
    assert events["derivative_ticker"][-1][-1] == 20.0  # 1,000,000 USD at 50,000, not at 99,999

    def okx(channel: str, inst: str, **fields) -> str:
        return json.dumps({"arg": {"channel": channel, "instId": inst}, "data": [{"instId": inst, **fields}]})
    inverse = (spec("okex-swap", "BTC-USD-SWAP", "BTC", "inverse", 100.0),)
    events, bad = normalize("okx", okx("mark-price", "BTC-USD-SWAP", markPx="50000", ts=str(T0)),
                            okx("mark-price", "BTC-USD-SWAP", markPx="99999", ts="soon"),
                            okx("open-interest", "BTC-USD-SWAP", oi="10", ts=str(T0 + 2)), specs=inverse)
    assert bad == {"bad time in mark-price.ts": 1}
    assert events["derivative_ticker"][-1][-1] == pytest.approx(10 * 100 / 50000)


def test_okx_liquidations_keep_the_order_side_and_count_contracts_times_ct_val():
    specs = (spec("okex-swap", "BTC-USDT-SWAP", "BTC", "linear", 0.01),
             spec("okex-swap", "CELO-USDT-SWAP", "CELO", "linear", 10.0))
    backlog = OKX_CELO.replace("19979", "1")
    events, bad = normalize("okx", backlog, OKX_BTC, OKX_CELO, specs=specs)
    assert bad == {}
    assert events["liquidations"] == [
        ("okex-swap", "BTC-USDT-SWAP", 1791565600771000, ARRIVAL + 1, SELL, 82655.7, pytest.approx(0.0855)),
        ("okex-swap", "CELO-USDT-SWAP", 1791565462608000, ARRIVAL + 2, BUY, 0.09583, 199790.0),
    ]  # the first push after subscribing (the backlog) is dropped, as tardis-node does


def test_zero_sizes_are_events_and_negative_sizes_are_bad_on_every_venue():
    """Issue 12.1: a liquidation of size 0 counts and adds 0, as in Tardis files and on Binance."""
    zero, negative = BYBIT_ADA.replace('"v":"13248"', '"v":"0"'), BYBIT_ADA.replace('"v":"13248"', '"v":"-1"')
    events, bad = normalize("bybit", zero, negative)
    assert [row[-1] for row in events["liquidations"]] == [0.0]
    assert bad == {"bad number in liquidation.v": 1}
    specs = (spec("okex-swap", "BTC-USDT-SWAP", "BTC", "linear", 0.01),)
    backlog, zero = OKX_BTC, OKX_BTC.replace('"sz":"8.55"', '"sz":"0"')
    events, bad = normalize("okx", backlog, zero, OKX_BTC.replace('"sz":"8.55"', '"sz":"-2"'), specs=specs)
    assert [row[-1] for row in events["liquidations"]] == [0.0]
    assert bad == {"bad number in liquidation-orders.details.sz": 1}


def test_okx_inverse_contracts_are_usd_face_values_and_unknown_specs_are_named():
    frame = OKX_BTC.replace("BTC-USDT", "BTC-USD").replace('"sz":"8.55"', '"sz":"5"').replace("82655.7", "50000")
    events, bad = normalize("okx", frame, frame, specs=(spec("okex-swap", "BTC-USD-SWAP", "BTC", "inverse", 100.0),))
    assert events["liquidations"][0][4:] == (SELL, 50000.0, 0.01)  # 5 x 100 USD at 50,000
    _, bad = normalize("okx", OKX_BTC, OKX_BTC, connection="okx.c0.1")
    assert bad == {"no contract spec for BTC-USDT-SWAP": 1}


def test_okx_ticker_channels_each_carry_their_field():
    specs = (spec("okex-swap", "BTC-USDT-SWAP", "BTC", "linear", 0.01),)
    frames = [json.dumps(channel_message("mark-price", "BTC-USDT-SWAP", T0 + 10, markPx="80000")),
              json.dumps(channel_message("index-tickers", "BTC-USDT", T0 + 11, idxPx="80001")),
              json.dumps(channel_message("funding-rate", "BTC-USDT-SWAP", T0 + 12, fundingRate="0.0002")),
              json.dumps(channel_message("open-interest", "BTC-USDT-SWAP", T0 + 13, oi="25000", oiCcy="250")),
              json.dumps(channel_message("tickers", "BTC-USDT-SWAP", T0 + 14, last="79999"))]
    events, bad = normalize("okx", *frames, specs=specs)
    assert bad == {}
    rows = events["derivative_ticker"]
    assert [r[:3] for r in rows] == [("okex-swap", "BTC-USDT-SWAP", (T0 + t) * 1000) for t in range(10, 15)]
    values = [[v for v in r[4:] if not math.isnan(v)] for r in rows]
    assert values == [[80000.0], [80001.0], [0.0002], [250.0], [79999.0]]  # open interest: 25,000 x 0.01 BTC


def test_instruments_endpoints_become_specs():
    with FakeBybit(("BTCUSDT", "1000PEPEUSDT", "BTCUSD")) as bybit, FakeOkx() as okx:
        import urllib.request
        bodies = {}
        for name, url in (("bybit-linear", f"{bybit.rest_url}/v5/market/instruments-info?category=linear"),
                          ("bybit-inverse", f"{bybit.rest_url}/v5/market/instruments-info?category=inverse"),
                          ("okx", f"{okx.rest_url}/api/v5/public/instruments?instType=SWAP")):
            with urllib.request.urlopen(url, timeout=5) as response:
                bodies[name] = response.read().decode()
    assert BYBIT.parse_instruments(bodies["bybit-linear"]) == [
        InstrumentSpec("bybit", "BTCUSDT", "BTC", "linear", 1.0), InstrumentSpec("bybit", "1000PEPEUSDT", "PEPE",
                                                                                   "linear", 1.0, 1000.0)]
    assert BYBIT.parse_instruments(bodies["bybit-inverse"]) == [InstrumentSpec("bybit", "BTCUSD", "BTC", "inverse",
                                                                               1.0)]
    okx_specs = {s.symbol: s for s in OKX.parse_instruments(bodies["okx"])}
    assert okx_specs["BTC-USDT-SWAP"] == InstrumentSpec("okex-swap", "BTC-USDT-SWAP", "BTC", "linear", 0.01)
    assert okx_specs["BTC-USD-SWAP"] == InstrumentSpec("okex-swap", "BTC-USD-SWAP", "BTC", "inverse", 100.0)
    assert base_per_unit("1000000MOG") == ("MOG", 1e6) and base_per_unit("1INCH") == ("1INCH", 1.0)


# ---------------------------------------------------------------- protocols against the fakes

async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def _connect(venue_name: str, url: str, streams: list, records: list[dict],
             pacer: ConnectPacer | None = None) -> StreamConnection:
    v = venue(venue_name)
    return StreamConnection(f"{venue_name}.c0", v.ws_endpoint(url, None), streams, None, records.append,
                            lambda: time.time_ns() // 1000, venue=v, pacer=pacer)


def _keepalive(monkeypatch, v, **options) -> None:
    monkeypatch.setattr(v, "keepalive", KeepAlive(**{"text": v.keepalive.text, **options}))


def test_bybit_subscribes_with_acks_pings_every_interval_and_gets_batches(monkeypatch):
    _keepalive(monkeypatch, BYBIT, every_s=0.3, timeout_s=0.2)
    records: list[dict] = []

    async def main() -> None:
        with FakeBybit(("BTCUSDT", "ETHUSDT")) as fake:
            connection = _connect("bybit", fake.ws_url, ["allLiquidation.BTCUSDT", "tickers.ETHUSDT"], records)
            task = asyncio.create_task(connection.run(0))
            await asyncio.to_thread(fake.wait_until_subscribed, "allLiquidation.BTCUSDT", "tickers.ETHUSDT")
            await asyncio.to_thread(fake.push_liquidations, "BTCUSDT", [(1, "Buy", "0.1", "1"), (2, "Sell", "1", "2")],
                                    3)
            await _until(lambda: sum('"op":"ping"' in text for _, text in fake.connections()[0].received) >= 2)
            await _until(lambda: any("allLiquidation" in r.get("m", "") for r in records))
            task.cancel()
            sent = [json.loads(text) for _, text in fake.connections()[0].received]
            path = fake.connections()[0].path
        assert sent[0] == {"req_id": "1", "op": "subscribe", "args": ["allLiquidation.BTCUSDT", "tickers.ETHUSDT"]}
        assert all(m == {"req_id": "hb", "op": "ping"} for m in sent[1:])
        assert path == "/v5/public/linear"
        texts = [r["m"] for r in records if r["k"] == "ws"]
        assert json.loads(texts[0])["success"] is True  # the ack is recorded, pongs are not
        assert not any("pong" in t for t in texts)
        assert len(json.loads(texts[-1])["data"]) == 2  # the batch arrives as one frame

    asyncio.run(main())


def test_okx_acks_every_argument_and_a_silent_server_is_left_after_the_ping_timeout(monkeypatch):
    _keepalive(monkeypatch, OKX, every_s=0.3, idle_only=True, timeout_s=0.3)
    records: list[dict] = []

    async def main() -> None:
        with FakeOkx(answer_pings=False) as fake:
            streams = [{"channel": "liquidation-orders", "instType": "SWAP"},
                       {"channel": "mark-price", "instId": "BTC-USDT-SWAP"}]
            connection = _connect("okx", fake.ws_url, streams, records)
            task = asyncio.create_task(connection.run(0))
            await _until(lambda: connection.stats.reconnects >= 1)
            task.cancel()
            first = fake.connections()[0]
        assert json.loads(first.received[0][1])["args"] == streams
        assert [text for _, text in first.received[1:]] == ["ping"]
        acks = [json.loads(r["m"]) for r in records if r["k"] == "ws" and '"event"' in r["m"]]
        assert [a["arg"] for a in acks[:2]] == streams
        assert [r["k"] for r in records if r["k"] in ("down", "up")][:3] == ["down", "up", "down"]
        assert "keep-alive" in (connection.stats.last_error or "") or connection.stats.reconnects >= 1

    asyncio.run(main())


def test_okx_pong_keeps_the_connection_and_connection_attempts_are_paced(monkeypatch):
    _keepalive(monkeypatch, OKX, every_s=0.2, idle_only=True, timeout_s=0.5)

    async def main() -> None:
        with FakeOkx() as fake:
            pacer = ConnectPacer(OKX.limits.connect_gap_s)
            connections = [_connect("okx", fake.ws_url, [{"channel": "mark-price", "instId": "BTC-USDT-SWAP"}], [],
                                    pacer) for _ in range(4)]
            tasks = [asyncio.create_task(c.run(0)) for c in connections]
            await _until(lambda: len(fake.connections()) == 4 and
                         all(sum(t == "ping" for _, t in c.received) >= 2 for c in fake.connections()))
            for task in tasks:
                task.cancel()
            attempts = fake.connection_attempts()
        assert all(c.stats.reconnects == 0 for c in connections)
        assert len(attempts) == 4 and all(b - a >= 0.3 for a, b in pairwise(attempts))

    asyncio.run(main())


# ---------------------------------------------------------------- symbols, settings, plans

def test_coins_resolve_to_each_venues_perpetual_and_native_symbols_to_one_venue():
    settings = resolve({"venues": "binance,bybit,okx", "symbols": "BTC,eth,okx:DOGE-USD-SWAP,bybit:BTCUSD"}, None)
    assert settings.instruments == {"binance": ("BTCUSDT", "ETHUSDT"), "bybit": ("BTCUSDT", "ETHUSDT", "BTCUSD"),
                                    "okx": ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "DOGE-USD-SWAP")}
    assert settings.ws_urls["okx"] == "wss://ws.okx.com:8443" and settings.rest_urls["bybit"] == "https://api.bybit.com"
    assert resolve({"symbols": "btcusdt"}, None).instruments == {"binance": ("BTCUSDT",)}


def test_toml_venues_equal_the_flags(tmp_path):
    config = tmp_path / "live.toml"
    config.write_text('venues = ["bybit", "okx"]\nsymbols = ["BTC", "okx:ETH-USD-SWAP"]\naggregate = false\n'
                      'ws-url = "okx=ws://127.0.0.1:1"\n')
    flags = resolve({"venues": "bybit,okx", "symbols": "BTC,okx:ETH-USD-SWAP", "ws_url": "okx=ws://127.0.0.1:1"},
                    None)
    assert resolve({}, str(config)) == flags
    assert flags.ws_urls == {"bybit": "wss://stream.bybit.com", "okx": "ws://127.0.0.1:1"}


@pytest.mark.parametrize(("values", "message"), [
    ({"venues": "binance,kraken", "symbols": "BTC"}, "unknown venue 'kraken'"),
    ({"venues": "binance", "symbols": "okx:BTC-USDT-SWAP"}, "names venue 'okx', which is not in --venues"),
    ({"venues": "binance,okx", "symbols": "BTC", "ws_url": "ws://127.0.0.1:1"}, "with several venues"),
    ({"venues": "bybit", "all_symbols": True}, "--all-symbols is not possible on bybit"),
])
def test_bad_venue_settings_are_refused(values, message):
    with pytest.raises(InputError, match=message):
        resolve(values, None)


def test_connections_are_planned_per_venue_endpoint_with_shared_streams_on_one():
    settings = resolve({"venues": "binance,bybit,okx", "symbols": "BTC,ETH,bybit:BTCUSD",
                        "channels": "liquidations,ticker"}, None)
    plans = {c.name: c for c in LiveDaemon(settings)._plan_connections()}
    assert list(plans) == ["c0", "bybit.c0", "bybit.c1", "okx.c0"]
    assert plans["bybit.c0"].url.endswith("/v5/public/linear") and plans["bybit.c1"].url.endswith("/inverse")
    assert plans["bybit.c1"].streams == ["allLiquidation.BTCUSD", "tickers.BTCUSD"]
    okx = plans["okx.c0"]
    assert okx.streams[0] == {"channel": "liquidation-orders", "instType": "SWAP"}
    assert okx.symbols == frozenset({"BTC-USDT-SWAP", "ETH-USDT-SWAP"})  # its outage hides every OKX symbol
    assert {"channel": "index-tickers", "instId": "ETH-USDT"} in okx.streams
    assert set(VENUES) == {"binance", "bybit", "okx"}


def test_a_rotated_okx_socket_whose_backlog_equals_an_old_frame_still_drops_only_that_push():
    from streamliq.engine import BarEngine
    from streamliq.engine.config import FactorConfig
    from streamliq.live.core import LiveCore

    core = LiveCore(BarEngine(FactorConfig.build(freq="1m")))
    core.apply({"t": ARRIVAL + 1, "k": "start", "venues": {"okx": ["BTC-USDT-SWAP"]}})
    core.venue_normalizer("okx").set_specs([spec("okex-swap", "BTC-USDT-SWAP", "BTC", "linear", 0.01)])
    later = OKX_BTC.replace("1791565600771", "1791565600999")
    for t, socket, text in ((2, "okx.c0.1", "{}"), (3, "okx.c0.1", OKX_BTC), (4, "okx.c0.2", OKX_BTC),
                            (5, "okx.c0.2", later), (6, "okx.c0.1", later)):
        core.apply({"t": ARRIVAL + t, "k": "ws", "c": socket, "v": "okx", "m": text})
    # c0.1: "{}" is not a liquidation push, OKX_BTC is its first push (dropped); c0.2's backlog
    # equals it (a duplicate, still its first push); `later` is new (kept once, then a duplicate)
    assert core.duplicates == 2
    assert [batch.ts.tolist() for batch in core.buffer.drain()] == [[1791565600999000]]


def test_a_refused_bybit_subscription_is_retried_with_backoff_and_never_up():
    records: list[dict] = []

    async def main() -> StreamConnection:
        with FakeBybit(("BTCUSDT",)) as fake:
            connection = _connect("bybit", fake.ws_url, ["allLiquidation.DOGEUSDT"], records)
            task = asyncio.create_task(connection.run(0))
            await _until(lambda: len(fake.connections()) >= 2)
            task.cancel()
        return connection

    connection = asyncio.run(main())
    assert "handler not found,topic:allLiquidation.DOGEUSDT" in connection.stats.last_error
    assert [r["k"] for r in records if r["k"] in ("down", "up")] == ["down"]  # the outage goes on
