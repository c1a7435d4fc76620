"""The fake Binance USD-M exchange speaks the protocol of the reference, checked with real clients."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from fake_binance import (
    BAD_ID,
    INVALID_JSON,
    UNKNOWN_METHOD,
    FakeBinance,
    agg_trade_event,
    encode,
    force_order_event,
    long_short_row,
    mark_price_event,
    num,
    open_interest_hist_row,
    synthetic_frames,
    taker_row,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# Payloads copied from the reference (§2.2 real capture, §3.1, §3.2).
REAL_FORCE_ORDER = ('{"e":"forceOrder","E":1781416603268,"o":{"s":"BTCUSDT","S":"BUY","o":"LIMIT","f":"IOC",'
                    '"q":"0.002","p":"64562.50","ap":"64310.60","X":"FILLED","l":"0.002","z":"0.002",'
                    '"T":1781416602260}}')
DOC_MARK_PRICE = {"e": "markPriceUpdate", "E": 1791382993000, "s": "BTCUSDT", "p": "83084.30000000",
                  "ap": "83084.30000000", "P": "83195.15881449", "i": "83123.65891304", "r": "0.00000078",
                  "T": 1791388800000, "st": 1}
DOC_AGG_TRADE = {"e": "aggTrade", "E": 1791382992488, "a": 3477868433, "s": "BTCUSDT", "p": "83091.70", "q": "0.022",
                 "nq": "0.022", "f": 8153634393, "l": 8153634394, "T": 1791382992338, "m": False, "st": 1}
T_MS = 1_791_382_800_000
QUIET = 0.2  # seconds to wait before concluding that nothing arrives


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, 5)
    return asyncio.run(bounded())


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), 2))


async def ask(ws: ClientConnection, request: dict[str, Any]) -> Any:
    await ws.send(json.dumps(request))
    return await recv_json(ws)


async def assert_silent(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), QUIET)


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the server closes the connection; the close code the client received."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 2)
    return None if closed.value.rcvd is None else closed.value.rcvd.code


def eventually(probe: Callable[[], Any], timeout: float = 2.0) -> Any:
    """The first truthy result of `probe`, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
    return result


@pytest.fixture
def fake():
    with FakeBinance(["BTCUSDT", "ETHUSDT"]) as running:
        yield running


# ---------------------------------------------------------------- payload builders

def test_builders_reproduce_the_reference_payloads():
    assert force_order_event("BTCUSDT", "BUY", "64562.50", "0.002", 1781416602260, avg_price="64310.60",
                             event_time_ms=1781416603268) == json.loads(REAL_FORCE_ORDER)
    assert mark_price_event("BTCUSDT", "83084.30000000", "83123.65891304", "0.00000078", 1791388800000,
                            1791382993000, settle="83195.15881449") == DOC_MARK_PRICE
    assert agg_trade_event("BTCUSDT", "83091.70", "0.022", False, 1791382992338, agg_id=3477868433,
                           first_trade_id=8153634393, last_trade_id=8153634394,
                           event_time_ms=1791382992488) == DOC_AGG_TRADE
    assert [num(0.00001), num(109049.48), num(3), num("1.250")] == ["0.00001", "109049.48", "3", "1.250"]


def test_statistics_rows_have_the_documented_fields_and_ratios():
    row = long_short_row("BTCUSDT", 0.6442, T_MS)
    assert row == {"symbol": "BTCUSDT", "longShortRatio": f"{0.6442 / (1 - 0.6442):.4f}", "longAccount": "0.6442",
                   "shortAccount": "0.3558", "timestamp": T_MS}
    assert taker_row(298.28, 257.066, T_MS) == {"buySellRatio": f"{298.28 / 257.066:.4f}", "buyVol": "298.2800",
                                                "sellVol": "257.0660", "timestamp": T_MS}
    assert open_interest_hist_row("BTCUSDT", 109115.835, 8785524572.892076, T_MS) == {
        "symbol": "BTCUSDT", "sumOpenInterest": "109115.83500000", "sumOpenInterestValue": "8785524572.89207600",
        "CMCCirculatingSupply": "20086328.00000000", "timestamp": T_MS}


# ---------------------------------------------------------------- lifecycle

def test_start_stop_leaves_no_thread_or_listening_socket():
    threads = set(threading.enumerate())  # another test's worker may end meanwhile: compare sets
    with FakeBinance() as fake:
        ports = [int(fake.ws_url.rsplit(":", 1)[1]), int(fake.rest_url.rsplit(":", 1)[1])]
        assert fake.ws_url.startswith("ws://127.0.0.1:") and fake.rest_url.startswith("http://127.0.0.1:")

        async def open_connection_is_closed_going_away() -> None:
            async with connect(fake.ws_url + "/market/stream") as ws:
                await asyncio.to_thread(fake.stop)
                assert await closed_code(ws) == 1001
        run(open_connection_is_closed_going_away())
    assert set(threading.enumerate()) <= threads
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError, match="not running"):
        fake.push("btcusdt@aggTrade", {})


# ---------------------------------------------------------------- WebSocket control messages

def test_subscribe_list_unsubscribe_and_properties(fake):
    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/stream") as ws:
            assert await ask(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@forceOrder", "btcusdt@markPrice@1s"],
                                  "id": 1}) == {"result": None, "id": 1}
            assert await ask(ws, {"method": "UNSUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 2}) == {
                "result": None, "id": 2}
            assert await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {"result": ["btcusdt@forceOrder"],
                                                                                  "id": 3}
            assert await ask(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 4}) == {"result": True,
                                                                                                  "id": 4}
            assert await ask(ws, {"method": "SET_PROPERTY", "params": ["combined", False], "id": 5}) == {
                "result": None, "id": 5}
            assert await ask(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 6}) == {"result": False,
                                                                                                  "id": 6}
            fake.push_force_order("BTCUSDT", "SELL", 100, 1, T_MS)
            assert "stream" not in await recv_json(ws)  # combined off: bare events
    run(scenario())


@pytest.mark.parametrize(("request_text", "reply"), [
    ('{"method": "SUBSCRIB", "params": [], "id": 7}', {"code": 2, "msg": UNKNOWN_METHOD.format("SUBSCRIB"), "id": 7}),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": -1}', {"code": 2, "msg": BAD_ID}),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": "x"}', {"code": 2, "msg": BAD_ID}),
    ('{"method": "LIST_SUBSCRIPTIONS"}', {"code": 2, "msg": BAD_ID}),
    ('{"method": "SET_PROPERTY", "params": ["compressed", true], "id": 8}', {"code": 0, "msg": "Unknown property",
                                                                            "id": 8}),
    ('{"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 9}',
     {"code": 1, "msg": "Invalid value type: expected Boolean", "id": 9}),
    ('{"method": "GET_PROPERTY", "params": [1], "id": 10}',
     {"code": 2, "msg": "Invalid request: property name must be a string", "id": 10}),
    ("hello", {"code": 3, "msg": INVALID_JSON}),
])
def test_error_replies(fake, request_text, reply):
    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/ws") as ws:
            await ws.send(request_text)
            assert await recv_json(ws) == reply
            assert await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}
    run(scenario())


# ---------------------------------------------------------------- delivery

def test_combined_frames_wrap_the_real_payload(fake):
    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/stream") as ws:
            await ask(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@forceOrder"], "id": 1})
            sent = await asyncio.to_thread(fake.push_force_order, "BTCUSDT", "BUY", "64562.50", "0.002",
                                           1781416602260, avg_price="64310.60", event_time_ms=1781416603268)
            assert sent == 1
            assert await recv_json(ws) == {"stream": "btcusdt@forceOrder", "data": json.loads(REAL_FORCE_ORDER)}
    run(scenario())


def test_all_market_liquidations_come_one_object_per_frame_in_raw_mode(fake):
    async def scenario() -> None:
        async with (connect(fake.ws_url + "/market/ws?streams=!forceOrder@arr") as raw,
                    connect(fake.ws_url + "/market/ws/ethusdt@forceOrder") as chained):
            fake.wait_until_subscribed("!forceOrder@arr", "ethusdt@forceOrder")
            assert fake.push_force_order("BTCUSDT", "SELL", 64000.5, 0.5, T_MS) == 1
            assert fake.push_force_order("ETHUSDT", "BUY", 2400.1, 2, T_MS + 5) == 2
            first, second = await recv_json(raw), await recv_json(raw)
            assert first == force_order_event("BTCUSDT", "SELL", 64000.5, 0.5, T_MS)
            assert second == force_order_event("ETHUSDT", "BUY", 2400.1, 2, T_MS + 5)
            assert await recv_json(chained) == second
    run(scenario())


def test_all_market_mark_prices_come_as_arrays(fake):
    btc = mark_price_event("BTCUSDT", 83084.3, 83123.66, 0.00000078, T_MS + 3_600_000, T_MS)
    eth = mark_price_event("ETHUSDT", 2401.17, 2400.5, -0.0001, T_MS + 3_600_000, T_MS)

    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/stream?streams=!markPrice@arr@1s/ethusdt@markPrice@1s") as ws:
            assert fake.push_mark_price("ETHUSDT", 2401.17, 2400.5, -0.0001, T_MS + 3_600_000, T_MS) == 2
            assert await recv_json(ws) == {"stream": "ethusdt@markPrice@1s", "data": eth}
            assert await recv_json(ws) == {"stream": "!markPrice@arr@1s", "data": [eth]}
            assert fake.push_mark_prices([btc, eth]) == 2
            assert await recv_json(ws) == {"stream": "ethusdt@markPrice@1s", "data": eth}
            assert await recv_json(ws) == {"stream": "!markPrice@arr@1s", "data": [btc, eth]}
            assert btc["r"] == "0.00000078"
    run(scenario())


def test_legacy_paths_and_upper_case_names_are_acknowledged_but_silent(fake):
    subscribe = {"method": "SUBSCRIBE", "params": ["btcusdt@forceOrder", "BTCUSDT@aggTrade"], "id": 1}

    async def scenario() -> None:
        async with (connect(fake.ws_url + "/stream") as legacy, connect(fake.ws_url + "/ws") as legacy_raw,
                    connect(fake.ws_url + "/market/stream") as routed):
            for ws in (legacy, legacy_raw, routed):
                assert await ask(ws, subscribe) == {"result": None, "id": 1}
            assert fake.subscriptions() == {"btcusdt@forceOrder"}
            assert fake.push_force_order("BTCUSDT", "SELL", 100, 1, T_MS) == 1
            assert fake.push_agg_trade("BTCUSDT", 100, 1, True, T_MS) == 0
            assert (await recv_json(routed))["stream"] == "btcusdt@forceOrder"
            await asyncio.gather(*(assert_silent(ws) for ws in (legacy, legacy_raw, routed)))
            assert await ask(routed, {"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
                "result": ["btcusdt@forceOrder", "BTCUSDT@aggTrade"], "id": 2}
    run(scenario())


def test_agg_trades_count_ids_per_symbol_and_push_raw_reaches_chosen_connections(fake):
    async def scenario() -> None:
        async with (connect(fake.ws_url + "/market/ws/btcusdt@aggTrade") as first,
                    connect(fake.ws_url + "/market/stream") as second):
            await asyncio.to_thread(fake.push_agg_trade, "BTCUSDT", "83091.70", "0.022", False, T_MS)
            await asyncio.to_thread(fake.push_agg_trade, "BTCUSDT", "83091.80", "0.010", True, T_MS + 100)
            assert await recv_json(first) == agg_trade_event("BTCUSDT", "83091.70", "0.022", False, T_MS, agg_id=1)
            assert (await recv_json(first))["a"] == 2
            target = fake.connections()[1].id
            assert fake.push_raw(lambda conn: conn.id == target, "not json {") == 1
            assert await asyncio.wait_for(second.recv(), 2) == "not json {"
            await assert_silent(first)
    run(scenario())


def test_push_many_keeps_order_and_paces(fake):
    frames = synthetic_frames(["BTCUSDT", "ETHUSDT"], 40)
    streams = sorted({frame.stream for frame in frames})
    assert streams == ["!forceOrder@arr", "btcusdt@aggTrade", "btcusdt@markPrice@1s", "ethusdt@aggTrade",
                       "ethusdt@markPrice@1s"]

    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/stream?streams=" + "/".join(streams)) as ws:
            assert fake.push_many(frames) == 40
            assert [await ws.recv() for _ in frames] == [frame.combined.decode() for frame in frames]
            started = time.monotonic()
            assert await asyncio.to_thread(fake.push_many, frames[:20], 200) == 20
            assert time.monotonic() - started >= 19 / 200
            assert [await ws.recv() for _ in range(20)] == [frame.combined.decode() for frame in frames[:20]]
    run(scenario())
    assert encode("x", [1]).raw == b"[1]"


def test_push_many_sends_large_batches_in_slices_without_losing_frames(fake):
    frames = synthetic_frames(["BTCUSDT"], 2500)

    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/ws?streams=btcusdt@aggTrade/btcusdt@markPrice@1s") as ws:
            pushed = asyncio.create_task(asyncio.to_thread(fake.push_many, frames))
            expected = [frame.raw.decode() for frame in frames if frame.stream != "!forceOrder@arr"]
            assert [await ws.recv() for _ in expected] == expected
            assert await pushed == len(expected)
    run(scenario())


# ---------------------------------------------------------------- limits and faults

def test_more_than_ten_messages_in_a_second_close_the_connection(fake):
    listing = json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1})

    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/stream") as paced:
            for pause in (0.0, 1.0):  # ten messages, and ten more a second after the server answered them
                await asyncio.sleep(pause)
                for _ in range(10):
                    await paced.send(listing)
                assert [await recv_json(paced) for _ in range(10)] == [{"result": [], "id": 1}] * 10
        async with connect(fake.ws_url + "/market/stream") as hasty:
            for _ in range(11):
                await hasty.send(listing)
            assert [await recv_json(hasty) for _ in range(10)] == [{"result": [], "id": 1}] * 10
            assert await closed_code(hasty) == 1008
    run(scenario())
    received = fake.connections()[0].received
    assert len(received) == 20 and received[10][0] - received[9][0] >= 1.0


def test_too_many_streams_close_the_connection():
    with FakeBinance(max_streams=3) as fake:
        async def scenario() -> None:
            async with connect(fake.ws_url + "/market/stream") as ws:
                names = ["btcusdt@aggTrade", "btcusdt@forceOrder", "btcusdt@markPrice@1s"]
                assert await ask(ws, {"method": "SUBSCRIBE", "params": names, "id": 1}) == {"result": None, "id": 1}
                await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 2}))
                assert await closed_code(ws) == 1008
            async with connect(fake.ws_url + "/market/stream?streams=a@x/b@x/c@x/d@x") as ws:
                assert await closed_code(ws) == 1008
        run(scenario())


def test_drop_connections_abruptly_or_cleanly(fake):
    async def scenario() -> None:
        async with connect(fake.ws_url + "/market/stream") as ws:
            assert await asyncio.to_thread(fake.drop_connections) == 1
            assert await closed_code(ws) is None  # no close frame
        async with connect(fake.ws_url + "/market/stream") as ws:
            assert await asyncio.to_thread(fake.drop_connections, clean=True, code=1012, reason="restart") == 1
            assert await closed_code(ws) == 1012
            assert ws.close_reason == "restart"
    run(scenario())
    assert [(conn.open, conn.close_code) for conn in fake.connections()] == [(False, 1006), (False, 1012)]


def test_connections_older_than_the_age_limit_are_closed():
    with FakeBinance(max_connection_age=0.2) as fake:
        async def scenario() -> None:
            async with connect(fake.ws_url + "/market/stream") as ws:
                assert await closed_code(ws) == 1001
        run(scenario())
        (conn,) = eventually(lambda: [conn for conn in fake.connections() if not conn.open])
        assert conn.closed_at - conn.connected_at >= 0.2


def test_server_sends_ping_frames():
    with FakeBinance(ping_interval=0.05) as fake:
        async def scenario() -> None:
            async with (aiohttp.ClientSession() as session,
                        session.ws_connect(fake.ws_url + "/market/stream", autoping=False) as ws):
                message = await ws.receive(timeout=2)
                assert message.type is aiohttp.WSMsgType.PING
        run(scenario())


def test_refused_connections_are_answered_503_and_recorded(fake):
    async def scenario() -> None:
        fake.refuse_connections(0.3)
        with pytest.raises(InvalidStatus) as refused:
            await connect(fake.ws_url + "/market/stream")
        assert refused.value.response.status_code == 503
        await asyncio.sleep(0.35)
        async with connect(fake.ws_url + "/market/stream"):
            pass
    run(scenario())
    attempts = fake.connection_attempts()
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 0.3
    assert len(fake.connections()) == 1


def test_connections_record_path_streams_and_message_times(fake):
    async def scenario() -> None:
        opened = time.monotonic()
        async with connect(fake.ws_url + "/market/stream?streams=btcusdt@aggTrade") as ws:
            before = time.monotonic()
            await ask(ws, {"method": "SUBSCRIBE", "params": ["!forceOrder@arr"], "id": 5})
            await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 6})
            after = time.monotonic()
            (conn,) = fake.connections()
            assert conn.open and conn.path == "/market/stream?streams=btcusdt@aggTrade"
            assert conn.streams == ("btcusdt@aggTrade", "!forceOrder@arr") and conn.combined and conn.routed
            assert [json.loads(text)["id"] for _, text in conn.received] == [5, 6]
            assert before <= conn.received[0][0] <= conn.received[1][0] <= after
            # the server's handler may start just after the client's handshake returned
            assert opened <= conn.connected_at <= conn.received[0][0]
    run(scenario())


# ---------------------------------------------------------------- REST

class Clock:
    """A settable wall clock, so weight windows do not depend on when the test runs."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


MINUTE_START = 1_791_382_800.0  # a UTC minute boundary (seconds)


async def get(base: str, path: str, **params: Any) -> tuple[int, Any, Any]:
    """Status, headers and body (JSON when the server says so, else text) of one GET."""
    async with aiohttp.ClientSession() as session, session.get(base + path, params=params) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, response.headers, body


def fetch(base: str, path: str, **params: Any) -> tuple[int, Any, Any]:
    return run(get(base, path, **params))


def test_open_interest_and_used_weight_per_clock_minute():
    clock = Clock(MINUTE_START + 12.345)
    with FakeBinance(["BTCUSDT"], wall_clock=clock) as fake:
        fake.set_open_interest("BTCUSDT", 109049.48)
        status, headers, body = fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="BTCUSDT")
        assert (status, body) == (200, {"symbol": "BTCUSDT", "openInterest": "109049.48", "time": 1791382812345})
        assert headers["X-MBX-USED-WEIGHT-1M"] == "1"
        assert fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="btcusdt")[2]["symbol"] == "BTCUSDT"
        status, headers, body = fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="DOGEUSDT")
        assert (status, body, headers["X-MBX-USED-WEIGHT-1M"]) == (400, {"code": -1121, "msg": "Invalid symbol."},
                                                                    "3")
        assert fetch(fake.rest_url, "/futures/data/openInterestHist", symbol="BTCUSDT",
                     period="5m")[1]["X-MBX-USED-WEIGHT-1M"] == "3"
        clock.now = MINUTE_START + 60
        assert fetch(fake.rest_url, "/fapi/v1/exchangeInfo")[1]["X-MBX-USED-WEIGHT-1M"] == "1"


def test_weight_limit_answers_429_with_retry_after_until_the_minute_ends():
    clock = Clock(MINUTE_START + 45.5)
    with FakeBinance(["BTCUSDT"], weight_limit_per_minute=2, wall_clock=clock) as fake:
        statuses = [fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="BTCUSDT")[0] for _ in range(2)]
        status, headers, body = fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="BTCUSDT")
        assert [*statuses, status] == [200, 200, 429]
        assert (headers["Retry-After"], headers["X-MBX-USED-WEIGHT-1M"], body["code"]) == ("15", "3", -1003)
        assert fetch(fake.rest_url, "/futures/data/takerlongshortRatio", symbol="BTCUSDT", period="5m")[0] == 200
        clock.now = MINUTE_START + 60
        assert fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="BTCUSDT")[0] == 200


def test_fail_next_injects_retry_after_only_on_the_chosen_path(fake):
    fake.fail_next(2, status=429, retry_after=2, path="/fapi/v1/openInterest")
    assert fetch(fake.rest_url, "/fapi/v1/exchangeInfo")[0] == 200
    for _ in range(2):
        status, headers, body = fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="ETHUSDT")
        assert (status, headers["Retry-After"], body["code"]) == (429, "2", -1003)
    assert fetch(fake.rest_url, "/fapi/v1/openInterest", symbol="ETHUSDT")[0] == 200
    log = fake.requests()
    assert [(record.path, record.status) for record in log] == [("/fapi/v1/exchangeInfo", 200)] + [
        ("/fapi/v1/openInterest", status) for status in (429, 429, 200)]
    assert [record.at for record in log] == sorted(record.at for record in log)
    assert log[1].query == {"symbol": "ETHUSDT"} and len(fake.requests("/fapi/v1/openInterest")) == 3


@pytest.mark.parametrize(("status", "retry_after", "body"), [
    (418, 120, None), (500, None, None), (503, None, None), (502, None, "<html>Bad Gateway</html>"),
])
def test_fail_next_statuses_and_non_json_bodies(fake, status, retry_after, body):
    fake.fail_next(status=status, retry_after=retry_after, body=body)
    got_status, headers, got_body = fetch(fake.rest_url, "/fapi/v1/exchangeInfo")
    assert got_status == status
    assert headers.get("Retry-After") == (None if retry_after is None else str(retry_after))
    if body is None:
        assert set(got_body) == {"code", "msg"} and got_body["code"] < 0
    else:
        assert got_body == body and headers["Content-Type"].startswith("text/html")
    assert fetch(fake.rest_url, "/fapi/v1/exchangeInfo")[0] == 200


def test_exchange_info_lists_the_configured_symbols():
    with FakeBinance(["BTCUSDT", "1000PEPEUSDT"], weight_limit_per_minute=1200) as fake:
        status, _, info = fetch(fake.rest_url, "/fapi/v1/exchangeInfo")
    assert status == 200 and info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
    assert info["rateLimits"][0] == {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                     "limit": 1200}
    assert [(s["symbol"], s["pair"], s["contractType"], s["status"], s["quoteAsset"], s["marginAsset"])
            for s in info["symbols"]] == [("BTCUSDT", "BTCUSDT", "PERPETUAL", "TRADING", "USDT", "USDT"),
                                          ("1000PEPEUSDT", "1000PEPEUSDT", "PERPETUAL", "TRADING", "USDT", "USDT")]


@pytest.mark.parametrize("endpoint", ["topLongShortPositionRatio", "topLongShortAccountRatio",
                                      "globalLongShortAccountRatio", "takerlongshortRatio", "openInterestHist"])
def test_statistics_series_filter_by_time_and_limit(fake, endpoint):
    stamps = [T_MS + 300_000 * k for k in range(6)]
    make = {"takerlongshortRatio": lambda t: taker_row(300.0 + t % 7, 250.0, t),
            "openInterestHist": lambda t: open_interest_hist_row("BTCUSDT", 109000.0, 8.7e9, t)}.get(
        endpoint, lambda t: long_short_row("BTCUSDT", 0.6, t))
    rows = [make(t) for t in stamps]
    fake.set_series(endpoint, "BTCUSDT", rows[::-1])
    path = "/futures/data/" + endpoint
    assert fetch(fake.rest_url, path, symbol="BTCUSDT", period="5m")[2] == rows
    assert fetch(fake.rest_url, path, symbol="BTCUSDT", period="5m", limit=2)[2] == rows[-2:]
    assert fetch(fake.rest_url, path, symbol="BTCUSDT", period="5m", limit=2, startTime=stamps[1])[2] == rows[1:3]
    assert fetch(fake.rest_url, path, symbol="BTCUSDT", period="5m", startTime=stamps[1],
                 endTime=stamps[3])[2] == rows[1:4]
    assert fetch(fake.rest_url, path, symbol="BTCUSDT", period="1h")[2] == []
    status, _, body = fetch(fake.rest_url, path, symbol="BTCUSDT", period="7m")
    assert (status, body["code"]) == (400, -1130)
    assert fetch(fake.rest_url, path, symbol="XRPUSDT", period="5m")[2] == {"code": -1121, "msg": "Invalid symbol."}


def test_set_series_rejects_rows_without_the_documented_fields(fake):
    with pytest.raises(ValueError, match=r"takerlongshortRatio rows have the fields \['buySellRatio', 'buyVol', "
                                         r"'sellVol', 'timestamp'\], not \['buySellRatio', 'symbol', 'timestamp'\]"):
        fake.set_series("takerlongshortRatio", "BTCUSDT", [{"symbol": "BTCUSDT", "buySellRatio": "1", "timestamp": 1}])
