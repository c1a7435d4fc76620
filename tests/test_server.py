"""The HTTP/WebSocket row server: wire format, subscribe and backfill, slow clients, token, metrics."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from feedkit import MINUTE, T0, drained, make_row, run, series, serving
from prometheus_client.parser import text_string_to_metric_families

from streamliq.rows import row_to_json
from streamliq.sinks.chunk import RowChunk

STALL_LIMIT_ROWS = 60_000  # the stalled client must be cut well before this many rows


def wire(row: dict) -> dict:
    return json.loads(row_to_json(row))


async def subscribe(session: aiohttp.ClientSession, url: str, **command) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(url)
    await ws.send_json({"op": "subscribe", **command})
    return ws


def test_wire_format_is_the_row_as_json_with_null_and_iso_times():
    async def body():
        async with serving() as (server, fanout), aiohttp.ClientSession() as session:
            ws = await subscribe(session, f"http://127.0.0.1:{server.port}/ws")
            assert await ws.receive_json() == {"type": "subscribed", "exchanges": None, "symbols": None,
                                               "freqs": None, "backfill": 0}
            row = make_row("BTCUSDT", "1m", 7)
            fanout.publish([row])
            got = await ws.receive_json()
            assert got["bar_start"] == "2025-10-01T00:07:00Z" and got["bar_end"] == "2025-10-01T00:08:00Z"
            assert got["symbol"] == "BTCUSDT" and got["gap"] is False
            nan_columns = [k for k, v in row.items() if isinstance(v, float) and v != v]
            assert nan_columns and all(got[k] is None for k in nan_columns)
            assert got == wire(row)
            assert list(got) == list(row)
    run(body())


def test_subscribe_sends_ack_then_backfill_then_only_matching_live_rows():
    async def body():
        async with serving(ring_size=50) as (server, fanout), aiohttp.ClientSession() as session:
            btc, eth, btc15 = series("BTCUSDT", "1m", 10), series("ETHUSDT", "1m", 10), series("BTCUSDT", "15m", 4)
            for i in range(10):
                fanout.publish([btc[i], eth[i]] + ([btc15[i // 3]] if i % 3 == 2 else []))
            await drained(fanout)
            ws = await subscribe(session, f"http://127.0.0.1:{server.port}/ws",
                                 symbols=["btcusdt"], freqs=["1min"], backfill=3)
            assert await ws.receive_json() == {"type": "subscribed", "exchanges": None, "symbols": ["BTCUSDT"],
                                               "freqs": ["1m"], "backfill": 3}
            assert [await ws.receive_json() for _ in range(3)] == [wire(r) for r in btc[7:]]
            more_btc = series("BTCUSDT", "1m", 2, first=10)
            fanout.publish([*series("ETHUSDT", "1m", 1, first=10), more_btc[0], btc15[3], more_btc[1]])
            assert [await ws.receive_json() for _ in range(2)] == [wire(r) for r in more_btc]
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.2)

            # a second subscribe replaces the first; backfill across keys comes in arrival order
            await ws.send_json({"op": "subscribe", "freqs": ["1m"], "backfill": 2})
            ack = await ws.receive_json()
            assert (ack["symbols"], ack["freqs"], ack["backfill"]) == (None, ["1m"], 4)
            eth_more = series("ETHUSDT", "1m", 1, first=10)
            assert [await ws.receive_json() for _ in range(4)] == [wire(r) for r in [eth[9], *eth_more, *more_btc]]
    run(body())


def test_backfill_is_the_last_rows_per_key_in_arrival_order():
    async def body():
        async with serving(ring_size=5) as (server, fanout), aiohttp.ClientSession() as session:
            btc, eth = series("BTCUSDT", "1m", 8), series("ETHUSDT", "1m", 3)
            for i in range(8):
                fanout.publish([btc[i]] + ([eth[i]] if i < 3 else []))
            await drained(fanout)
            ws = await subscribe(session, f"http://127.0.0.1:{server.port}/ws", backfill=5)
            ack = await ws.receive_json()
            assert ack["backfill"] == 8
            got = [await ws.receive_json() for _ in range(8)]
            assert got == [wire(r) for r in [*eth, *btc[3:]]]
    run(body())


def test_bad_subscribe_messages_get_an_error_and_the_connection_stays_open():
    async def body():
        async with serving(ring_size=20) as (server, fanout), aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{server.port}/ws")
            await ws.send_str("hello")
            assert (await ws.receive_json())["error"].startswith("Expecting value")
            await ws.send_json({"op": "unsubscribe"})
            assert (await ws.receive_json())["error"].startswith("unknown message: send {\"op\": \"subscribe\"")
            await ws.send_json({"op": "subscribe", "backfill": 21})
            assert await ws.receive_json() == {
                "type": "error", "error": "backfill must be a whole number of rows per key from 0 to 20 (got 21)"}
            await ws.send_json({"op": "subscribe", "freqs": ["1M"]})
            assert "'M' means months" in (await ws.receive_json())["error"]
            await ws.send_json({"op": "subscribe", "symbols": "BTCUSDT"})
            assert (await ws.receive_json())["error"] == "symbols must be a list of strings"
            await ws.send_json({"op": "subscribe", "symbols": ["BTCUSDT"]})
            assert (await ws.receive_json())["type"] == "subscribed"
            fanout.publish([make_row("BTCUSDT", "1m", 0)])
            assert (await ws.receive_json())["symbol"] == "BTCUSDT"
    run(body())


def test_a_stalled_client_is_cut_off_and_never_delays_a_reader():
    """Two subscribers: the reader gets every row in order while the other, not reading, is cut off."""
    async def body():
        async with serving(client_queue=100) as (server, fanout), aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/ws"
            reader = await subscribe(session, url)
            stalled = await subscribe(session, url)
            assert (await stalled.receive_json())["type"] == "subscribed"  # then it stops reading
            received: list[dict] = []

            async def read_all(total: asyncio.Future) -> None:
                assert (await reader.receive_json())["type"] == "subscribed"
                while not total.done() or len(received) < total.result():
                    received.append(await reader.receive_json())

            total: asyncio.Future = asyncio.get_running_loop().create_future()
            reading = asyncio.create_task(read_all(total))
            published = 0
            while server.metrics.value("streamliq_ws_slow_disconnects_total") == 0:
                assert published < STALL_LIMIT_ROWS, "the stalled client was never cut off"
                fanout.publish(series("BTCUSDT", "1m", 50, first=published))
                published += 50
                while len(received) < published:  # the reader keeps up all along: nothing holds it back
                    await asyncio.sleep(0.001)
            fanout.publish(series("BTCUSDT", "1m", 50, first=published))  # after the cut, the reader goes on
            published += 50
            total.set_result(published)
            await reading
            assert [r["bar_start"] for r in received] == [wire(make_row("BTCUSDT", "1m", i))["bar_start"]
                                                          for i in range(published)]
            assert received[-1] == wire(make_row("BTCUSDT", "1m", published - 1))
            assert len(server.clients) == 1

            # only now does the stalled client read: a prefix of the rows in order, then the close reason
            prefix = []
            while (message := await stalled.receive()).type == aiohttp.WSMsgType.TEXT:
                prefix.append(json.loads(message.data))
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert (message.data, message.extra) == (1008, "slow consumer: queue full (100 rows)")
            assert 0 < len(prefix) < published
            assert prefix == received[:len(prefix)]
    run(body(), timeout=60)


def test_rows_published_before_a_subscription_never_count_against_its_queue():
    """A chunk still on its way to the server when a client subscribes is history to that client
    (like backfill): it gets every row. Rows published after it subscribed are live and limited."""
    async def body():
        async with serving(client_queue=100) as (server, _), aiohttp.ClientSession() as session:
            earlier = RowChunk(series("BTCUSDT", "1m", 1000))  # published, not yet sent
            ws = await subscribe(session, f"http://127.0.0.1:{server.port}/ws")
            assert (await ws.receive_json())["type"] == "subscribed"
            await server.send(earlier)
            got = [await ws.receive_json() for _ in range(1000)]
            assert [r["bar_start"] for r in got] == [wire(make_row("BTCUSDT", "1m", i))["bar_start"]
                                                     for i in range(1000)]
            await server.send(RowChunk(series("BTCUSDT", "1m", 1000, first=1000)))  # live: over the limit
            assert server.metrics.value("streamliq_ws_slow_disconnects_total") == 1
    run(body())


def test_token_is_required_on_http_and_websocket():
    async def body():
        async with serving(token="s3cret") as (server, _), aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{server.port}"
            for path in ("/health", "/factors/latest", "/factors", "/metrics"):
                async with session.get(base + path) as response:
                    assert response.status == 401
                    assert await response.json() == {"error": "unauthorized: send 'Authorization: Bearer <token>'"}
                    assert response.headers["WWW-Authenticate"] == 'Bearer realm="streamliq"'
                async with session.get(base + path, headers={"Authorization": "Bearer wrong"}) as response:
                    assert response.status == 401
                async with session.get(base + path, headers={"Authorization": "Bearer s3cret"}) as response:
                    assert response.status == 200
            async with session.get(base + "/health?token=s3cret") as response:
                assert response.status == 401  # the query token is for WebSocket only
            for headers, query in (({}, ""), ({"Authorization": "Bearer nope"}, ""), ({}, "?token=nope")):
                with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
                    await session.ws_connect(f"{base}/ws{query}", headers=headers)
                assert failure.value.status == 401
            for headers, query in (({"Authorization": "Bearer s3cret"}, ""), ({}, "?token=s3cret")):
                ws = await session.ws_connect(f"{base}/ws{query}", headers=headers)
                await ws.send_json({"op": "subscribe"})
                assert (await ws.receive_json())["type"] == "subscribed"
                await ws.close()
    run(body())


def test_latest_and_since_endpoints():
    async def body():
        async with serving(ring_size=6) as (server, fanout), aiohttp.ClientSession() as session:
            btc, eth, btc15 = series("BTCUSDT", "1m", 10), series("ETHUSDT", "1m", 4), series("BTCUSDT", "15m", 2)
            fanout.publish(btc + eth + btc15)
            await drained(fanout)
            base = f"http://127.0.0.1:{server.port}"

            async def get(path: str) -> list[dict]:
                async with session.get(base + path) as response:
                    assert response.status == 200, await response.text()
                    return await response.json()

            assert await get("/factors/latest") == [wire(btc15[-1]), wire(btc[-1]), wire(eth[-1])]
            assert await get("/factors/latest?symbol=btcusdt&freq=1m") == [wire(btc[-1])]
            assert await get("/factors/latest?symbol=BTCUSDT,ETHUSDT&freq=1min") == [wire(btc[-1]), wire(eth[-1])]
            assert await get("/factors/latest?symbol=XRPUSDT") == []
            assert await get("/factors?symbol=BTCUSDT&freq=1m") == [wire(r) for r in btc[4:]]  # ring of 6
            since = "2025-10-01T00:06:00Z"
            assert await get(f"/factors?symbol=BTCUSDT&freq=1m&since={since}") == [wire(r) for r in btc[7:]]
            assert await get(f"/factors?symbol=BTCUSDT&freq=1m&since={(T0 + 6 * MINUTE) // 1000}") == [
                wire(r) for r in btc[7:]]
            assert await get(f"/factors?symbol=BTCUSDT&freq=1m&since={since}&limit=2") == [wire(r) for r in btc[7:9]]
            assert await get("/factors?freq=1m&since=2025-10-01T00:02:00") == [wire(r) for r in btc[4:] + eth[3:]]
            for path, error in (
                ("/factors?since=yesterday", "since 'yesterday': use an ISO 8601 time (2025-10-01T00:15:00Z) "
                                             "or epoch milliseconds"),
                ("/factors?limit=0", "limit '0': use a positive whole number"),
                ("/factors/latest?freq=15M", "invalid frequency '15M': 'M' means months; use '15m' or '15min' "
                                             "for minutes; accepted forms"),
            ):
                async with session.get(base + path) as response:
                    assert response.status == 400
                    assert (await response.json())["error"].startswith(error.split(" (")[0].split(". Acc")[0])
    run(body())


def test_health_reports_source_sinks_clients_and_lag_per_key():
    async def body():
        now = (T0 + 10 * MINUTE) / 1e6 + 1.5

        def health() -> dict:
            return {"source": {"kind": "test", "connections": {"liquidations": "connected"}}}
        async with serving(health=health, clock=lambda: now) as (server, fanout), aiohttp.ClientSession() as session:
            fanout.publish(series("BTCUSDT", "1m", 10) + series("ETHUSDT", "15m", 1))
            await drained(fanout)
            ws = await subscribe(session, f"http://127.0.0.1:{server.port}/ws")
            await ws.receive_json()
            async with session.get(f"http://127.0.0.1:{server.port}/health") as response:
                body = await response.json()
            assert body == {
                "status": "ok", "time": "2025-10-01T00:10:01.500000Z",
                "source": {"kind": "test", "connections": {"liquidations": "connected"}}, "ws_clients": 1,
                "bars": [
                    {"exchange": "binance-futures", "symbol": "BTCUSDT", "freq": "1m",
                     "bar_end": "2025-10-01T00:10:00Z", "lag_seconds": 1.5},
                    {"exchange": "binance-futures", "symbol": "ETHUSDT", "freq": "15m",
                     "bar_end": "2025-10-01T00:15:00Z", "lag_seconds": -298.5},
                ]}
    run(body())


def test_metrics_endpoint_parses_as_prometheus_text():
    async def body():
        async with serving(client_queue=5) as (server, fanout), aiohttp.ClientSession() as session:
            rows = series("BTCUSDT", "1m", 30) + series("ETHUSDT", "15m", 3)
            fanout.publish(rows)
            server.metrics.messages.labels(kind="liquidation").inc(42)
            server.metrics.reconnects.labels(connection='forceOrder "arr"\\x').inc()
            server.metrics.bad_input.labels(kind="bad number in price").inc(2)
            await drained(fanout)
            async with session.get(f"http://127.0.0.1:{server.port}/metrics") as response:
                assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                text = await response.text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
        assert samples[("streamliq_rows_total", (("freq", "1m"),))] == 30
        assert samples[("streamliq_rows_total", (("freq", "15m"),))] == 3
        for freq in ("1m", "15m"):
            assert samples.get(("streamliq_late_events_total", (("freq", freq),)), 0) == sum(
                r["late_events"] for r in rows if r["freq"] == freq)
            assert samples.get(("streamliq_gap_bars_total", (("freq", freq),)), 0) == sum(
                r["gap"] for r in rows if r["freq"] == freq)
        assert samples[("streamliq_messages_total", (("kind", "liquidation"),))] == 42
        assert samples[("streamliq_reconnects_total", (("connection", 'forceOrder "arr"\\x'),))] == 1
        assert samples[("streamliq_bad_input_total", (("kind", "bad number in price"),))] == 2
        sink = (("sink", server.name),)
        assert samples[("streamliq_sink_queue_depth", sink)] == 0
        assert samples[("streamliq_sink_dropped_total", sink)] == 0
        assert families["streamliq_bar_close_delay_seconds"].type == "histogram"
        assert samples[("streamliq_bar_close_delay_seconds_count", ())] == 0
        assert {"streamliq_messages", "streamliq_rows", "streamliq_late_events", "streamliq_gap_bars",
                "streamliq_reconnects", "streamliq_bad_input", "streamliq_sink_queue_depth",
                "streamliq_sink_dropped", "streamliq_bar_close_delay_seconds"} <= set(families)
    run(body())


def test_server_refuses_a_port_in_use_with_a_clear_error():
    from streamliq.errors import InputError
    from streamliq.sinks.server import RowServer

    async def body():
        async with serving() as (server, _):
            other = RowServer("127.0.0.1", server.port)
            with pytest.raises(InputError, match=rf"^cannot listen on 127.0.0.1:{server.port}: "):
                await other.start()
    run(body())
