"""The fan-out and the in-process API: isolation of slow and failing sinks, drop policies, shutdown
deadline, callbacks, `streamliq.stream`, and the replay as a row source."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import aiohttp
import pytest
from conftest import make_events, write_tardis
from feedkit import ScriptedSource, drained, run, series

import streamliq
from streamliq.engine.config import FactorConfig
from streamliq.feed import Feed
from streamliq.sinks.callback import CallbackSink
from streamliq.sinks.fanout import Fanout, Sink
from streamliq.sinks.server import RowServer
from streamliq.tardis_replay import Replay
from streamliq.telemetry import Metrics


class ListSink(Sink):
    def __init__(self, name: str, queue_rows: int = 100_000, drop_oldest: bool = True) -> None:
        self.name, self.queue_rows, self.drop_oldest = name, queue_rows, drop_oldest
        self.rows: list[dict] = []
        self.closed = False

    async def send(self, rows: list[dict]) -> None:
        self.rows += rows

    async def close(self) -> None:
        self.closed = True


class StuckSink(ListSink):
    """Never finishes a send."""

    async def send(self, rows: list[dict]) -> None:
        await asyncio.Event().wait()


class FailingSink(ListSink):
    async def send(self, rows: list[dict]) -> None:
        raise ConnectionResetError("peer went away")


def keys(rows: list[dict]) -> list[tuple]:
    return [(r["symbol"], r["freq"], r["bar_start"]) for r in rows]


def test_a_stuck_sink_never_delays_the_others_and_shutdown_keeps_its_deadline():
    rows = series("BTCUSDT", "1m", 3000)
    metrics = Metrics()

    async def body():
        good, stuck = ListSink("good"), StuckSink("stuck", queue_rows=500)
        fanout = Fanout([stuck, good], metrics)
        await fanout.start()
        for i in range(0, 3000, 300):
            fanout.publish(rows[i:i + 300])
            await asyncio.sleep(0)
        await asyncio.wait_for(_until(lambda: len(good.rows) == 3000), 5)
        assert keys(good.rows) == keys(rows)
        stuck_queue = fanout.queues[0]
        queued = [row for chunk in stuck_queue.chunks for row in chunk]
        assert (stuck_queue.in_flight, stuck_queue.queued, len(queued)) == (300, 500, 500)
        assert [r["bar_start"] for r in queued] == [r["bar_start"] for r in rows[2500:]]  # the newest
        assert metrics.value("streamliq_sink_dropped_total", sink="stuck") == 3000 - 300 - 500
        await asyncio.wait_for(fanout.close(timeout=0.3), 2)
        assert good.closed and stuck.closed
        assert metrics.value("streamliq_sink_dropped_total", sink="stuck") == 3000  # the rest is lost at shutdown
        assert metrics.value("streamliq_sink_dropped_total", sink="good") == 0
        assert fanout.stats() == {"stuck": {"queue_depth": 0, "dropped": 3000},
                                  "good": {"queue_depth": 0, "dropped": 0}}

    run(body())


def test_a_failing_sink_counts_its_losses_and_logs_each_kind_once(caplog):
    metrics = Metrics()

    async def body():
        failing, good = FailingSink("failing"), ListSink("good")
        fanout = Fanout([failing, good], metrics)
        await fanout.start()
        for i in range(5):
            fanout.publish(series("ETHUSDT", "15m", 10, first=10 * i))
            await drained(fanout)
        await fanout.close()
        return good

    with caplog.at_level(logging.WARNING, logger="streamliq.sinks"):
        good = run(body())
    assert len(good.rows) == 50
    assert metrics.value("streamliq_sink_dropped_total", sink="failing") == 50
    assert [r.getMessage() for r in caplog.records] == [
        "sink failing dropped 10 rows (send failed: ConnectionResetError): peer went away; "
        "further drops of this kind are only counted"]


def test_a_file_like_sink_drops_the_newest_rows_when_full():
    metrics = Metrics()

    async def body():
        sink = ListSink("file", queue_rows=40, drop_oldest=False)
        fanout = Fanout([sink], metrics)
        fanout.publish(series("BTCUSDT", "1m", 25))  # before start: rows wait in the queue
        fanout.publish(series("BTCUSDT", "1m", 25, first=25))
        await fanout.start()
        await fanout.close()
        return sink

    sink = run(body())
    assert keys(sink.rows) == keys(series("BTCUSDT", "1m", 40))
    assert metrics.value("streamliq_sink_dropped_total", sink="file") == 10


def test_sink_names_must_be_unique():
    with pytest.raises(ValueError, match=r"^sink names must be unique, got \['a', 'a'\]$"):
        Fanout([ListSink("a"), ListSink("a")])


def test_callbacks_get_every_row_in_order_and_a_raising_callback_loses_only_that_row():
    rows = series("BTCUSDT", "1m", 30) + series("ETHUSDT", "1m", 30)
    seen_sync, seen_async = [], []

    def sync_callback(row: dict) -> None:
        if row["bar_start"] == rows[3]["bar_start"] and row["symbol"] == "BTCUSDT":
            raise ValueError("bot bug")
        seen_sync.append(row)

    async def async_callback(row: dict) -> None:
        await asyncio.sleep(0)
        seen_async.append(row)

    async def body():
        feed = Feed(ScriptedSource([rows[:10], rows[10:45], rows[45:]]))
        sync_sink = feed.on_row(sync_callback)
        feed.on_row(async_callback)
        await feed.run()
        return feed, sync_sink

    feed, sync_sink = run(body())
    assert keys(seen_async) == keys(rows)
    assert keys(seen_sync) == keys(rows[:3] + rows[4:])
    assert isinstance(sync_sink, CallbackSink)
    assert feed.metrics.value("streamliq_sink_dropped_total", sink=sync_sink.name) == 1
    assert feed.metrics.value("streamliq_rows_total", freq="1m") == 60


def test_stream_yields_every_row_in_order_then_raises_the_source_error():
    rows = series("BTCUSDT", "1m", 500)

    async def body():
        got = []
        with pytest.raises(RuntimeError, match=r"^feed lost$"):
            async for row in streamliq.stream(ScriptedSource([rows[i:i + 7] for i in range(0, 500, 7)],
                                                             fail=RuntimeError("feed lost"))):
                got.append(row)
                if len(got) % 50 == 0:
                    await asyncio.sleep(0.001)  # a consumer slower than the source
        return got

    assert keys(run(body())) == keys(rows)


def test_leaving_the_stream_stops_the_source():
    class Endless:
        stopped = False

        async def run(self, publish) -> None:
            i = 0
            try:
                while True:
                    publish(series("BTCUSDT", "1m", 10, first=i))
                    i += 10
                    await asyncio.sleep(0)
            finally:
                self.stopped = True

        def health(self) -> dict:
            return {}

    source = Endless()

    async def body():
        count = 0
        rows = streamliq.stream(source)
        async for _ in rows:
            count += 1
            if count == 25:
                break
        await rows.aclose()

    run(body())
    assert source.stopped


def test_feed_keeps_serving_after_the_source_until_stopped():
    async def body():
        sink = ListSink("list")
        feed = Feed(ScriptedSource([series("BTCUSDT", "1m", 5)]), [sink])
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop, serve_after_source=True))
        await _until(lambda: len(sink.rows) == 5)
        await asyncio.sleep(0.05)
        assert not task.done() and not sink.closed
        assert feed.health() == {"source": {"kind": "scripted", "published": 5},
                                 "sinks": {"list": {"queue_depth": 0, "dropped": 0}}}
        stop.set()
        await task
        assert sink.closed

    run(body())


def test_stream_of_a_replay_equals_the_replay(tmp_path):
    write_tardis(make_events(seed=3, days=1, ticker_every_s=120, trades_per_hour=40), tmp_path)
    config = FactorConfig.build(freq="5m,1h")
    expected = list(Replay(tmp_path, config))
    metrics = Metrics()

    async def body():
        source = streamliq.ReplaySource(Replay(tmp_path, config), metrics)
        got = [row async for row in streamliq.stream(source, metrics=metrics)]
        return got, source

    got, source = run(body())
    assert len(got) == len(expected) > 500
    assert keys(got) == keys(expected)
    assert all(_same(a, b) for a, b in zip(got, expected, strict=True))
    assert source.health()["state"] == "done" and source.health()["progress"] == 1.0
    assert metrics.value("streamliq_messages_total", kind="replay_event") == source.replay.stats.events > 0
    assert metrics.value("streamliq_rows_total", freq="5m") == sum(r["freq"] == "5m" for r in expected)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values(),
                                                                                         strict=True))


async def _until(condition, step: float = 0.002) -> None:
    while not condition():
        await asyncio.sleep(step)


def test_a_replay_keeps_pace_with_a_slow_sink_and_loses_nothing(tmp_path):
    class SlowSink(ListSink):
        async def send(self, rows: list[dict]) -> None:
            await asyncio.sleep(0.1)
            self.rows += rows

    write_tardis(make_events(seed=8, days=1, ticker_every_s=600, trades_per_hour=10), tmp_path)
    config = FactorConfig.build(freq="1m")
    expected = list(Replay(tmp_path, config))

    async def body():
        sink = SlowSink("slow", queue_rows=1200)
        feed = Feed(streamliq.ReplaySource(Replay(tmp_path, config)), [sink])
        await feed.run()
        return sink, feed

    sink, feed = run(body())
    assert len(expected) > 2 * 1200
    assert keys(sink.rows) == keys(expected)
    assert feed.metrics.value("streamliq_sink_dropped_total", sink="slow") == 0


def test_a_client_subscribing_mid_replay_gets_every_later_row_and_is_never_cut_off(tmp_path):
    """With no subscriber the replay goes out in big chunks; once a client with a queue of 40 rows
    subscribes, the rows still to publish go in chunks of 20, at the client's pace."""
    class SlowSink(ListSink):  # paces the replay, so that the client subscribes while it runs
        async def send(self, rows: list[dict]) -> None:
            await asyncio.sleep(0.05)

    write_tardis(make_events(seed=8, days=1, ticker_every_s=600, trades_per_hour=10), tmp_path)
    config = FactorConfig.build(freq="1m")
    expected = [(r["symbol"], r["bar_start"]) for r in Replay(tmp_path, config)]

    async def body():
        metrics = Metrics()
        server = RowServer("127.0.0.1", 0, client_queue=40, metrics=metrics)
        feed = Feed(streamliq.ReplaySource(Replay(tmp_path, config), metrics), [server, SlowSink("slow", 1500)],
                    metrics=metrics)
        stop = asyncio.Event()
        await feed.start()
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{server.port}/ws")
            running = asyncio.create_task(feed.run(stop, serve_after_source=True))
            await _until(lambda: server.ring.seq > 0)
            await ws.send_json({"op": "subscribe"})
            assert (await ws.receive_json())["type"] == "subscribed"
            got = []
            while not got or got[-1] != expected[-1]:
                row = await ws.receive_json()
                got.append((row["symbol"], _us(row["bar_start"])))
            stop.set()
            await running
        return got, metrics

    got, metrics = run(body(), timeout=60)
    assert 0 < len(got) < len(expected)
    assert got == expected[len(expected) - len(got):]  # every row from some point on, in order
    assert metrics.value("streamliq_ws_slow_disconnects_total") == 0


def _us(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1_000_000)


def test_room_rows_is_what_one_chunk_per_room_would_allow():
    sink = ListSink("list", queue_rows=1000)  # chunks of 500: room while at most 500 rows wait
    fanout = Fanout([sink])

    async def body():
        first = await fanout.room_rows()
        rows = [{"freq": "1m", "bar_end": i, "late_events": 0, "gap": False} for i in range(300)]
        fanout.publish(rows)  # not started: the rows wait in the queue
        return first, await fanout.room_rows()

    assert run(body()) == (1000, 700)  # 500 of slack + one chunk; then 200 of slack + one chunk
