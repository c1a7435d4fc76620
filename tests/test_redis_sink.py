"""The Redis Streams sink against a real redis-server on a free local port (no fakes)."""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from conftest import make_events, write_tardis
from feedkit import COLUMNS, drained, run, series

from streamliq.cli import main
from streamliq.engine.config import INT_COLUMNS, FactorConfig
from streamliq.rows import format_time
from streamliq.sinks.fanout import Fanout
from streamliq.sinks.redis_streams import RedisSink
from streamliq.sinks.specs import parse_sink_spec
from streamliq.tardis_replay import Replay
from streamliq.telemetry import Metrics

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """A throwaway redis-server (append-only file in a temporary folder, so a restart keeps data)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_connect_timeout=1)

    def url(self, query: str = "") -> str:
        return f"redis://127.0.0.1:{self.port}/0{query}"


@pytest.fixture
def redis_server(tmp_path):
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs Debian's redis-server package")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def parse_entry(fields: dict[str, str]) -> dict:
    """The README's consumer decoding: '' is NaN, gap is true/false, counts are ints."""
    row: dict = {}
    for key, value in fields.items():
        if key in ("exchange", "symbol", "freq", "bar_start", "bar_end"):
            row[key] = value
        elif key == "gap":
            row[key] = value == "true"
        elif key in INT_COLUMNS:
            row[key] = int(value)
        else:
            row[key] = float(value) if value else math.nan
    return row


def as_stored(row: dict) -> dict:
    """A row with ISO bar times and NaN as a comparable marker (stored entries and engine rows alike)."""
    out = {k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    for key in ("bar_start", "bar_end"):
        if isinstance(out[key], int):
            out[key] = format_time(out[key])
    return out


def stream_rows(client: redis.Redis, key: str) -> list[tuple[str, dict]]:
    return [(entry_id, as_stored(parse_entry(fields))) for entry_id, fields in client.xrange(key)]


async def publish_all(sink: RedisSink, batches: list[list[dict]], metrics: Metrics) -> Fanout:
    fanout = Fanout([sink], metrics)
    await fanout.start()
    for batch in batches:
        fanout.publish(batch)
    await drained(fanout, timeout=20)
    return fanout


def test_every_row_lands_once_with_its_bar_start_as_id(redis_server):
    btc, eth = series("BTCUSDT", "1m", 40), series("ETHUSDT", "15m", 5)
    metrics = Metrics()

    async def body():
        sink = RedisSink(parse_sink_spec(redis_server.url()), metrics)
        fanout = await publish_all(sink, [btc[:25] + eth[:2], btc[25:] + eth[2:], btc[10:30] + eth[:1]], metrics)
        await fanout.close()
        return sink

    sink = run(body())
    client = redis_server.client()
    assert sorted(client.keys("streamliq:*")) == ["streamliq:binance-futures:BTCUSDT:1m",
                                                  "streamliq:binance-futures:ETHUSDT:15m"]
    for key, rows in (("streamliq:binance-futures:BTCUSDT:1m", btc), ("streamliq:binance-futures:ETHUSDT:15m", eth)):
        stored = stream_rows(client, key)
        assert [entry_id for entry_id, _ in stored] == [f"{r['bar_start'] // 1000}-0" for r in rows]
        assert [fields for _, fields in stored] == [as_stored(r) for r in rows]
        assert list(client.xrange(key, count=1)[0][1]) == COLUMNS
    assert (sink.written, sink.duplicates) == (45, 21)
    assert metrics.value("streamliq_sink_duplicates_total", sink=sink.name) == 21
    assert metrics.value("streamliq_sink_dropped_total", sink=sink.name) == 0


def test_maxlen_trims_each_stream_approximately(redis_server):
    rows = series("BTCUSDT", "1m", 3000)

    async def body():
        sink = RedisSink(parse_sink_spec(redis_server.url("?maxlen=500")))
        fanout = await publish_all(sink, [rows[i:i + 100] for i in range(0, 3000, 100)], sink.metrics)
        await fanout.close()

    run(body())
    client = redis_server.client()
    length = client.xlen("streamliq:binance-futures:BTCUSDT:1m")
    assert 500 <= length < 3000
    last_id, _ = client.xrevrange("streamliq:binance-futures:BTCUSDT:1m", count=1)[0]
    assert last_id == f"{rows[-1]['bar_start'] // 1000}-0"


def test_rows_wait_out_a_redis_restart_and_arrive_in_order_once(redis_server):
    rows = series("BTCUSDT", "1m", 300)
    metrics = Metrics()

    async def body():
        sink = RedisSink(parse_sink_spec(redis_server.url()), metrics, backoff_max=0.2)
        fanout = await publish_all(sink, [rows[:100]], metrics)
        redis_server.stop()
        fanout.publish(rows[100:150])
        fanout.publish(rows[90:200])  # partly repeated while Redis is down
        async with asyncio.timeout(10):
            while metrics.value("streamliq_sink_retries_total", sink=sink.name) < 2:
                await asyncio.sleep(0.02)
        redis_server.start()
        fanout.publish(rows[200:])
        await drained(fanout, timeout=20)
        await fanout.close()
        return sink

    sink = run(body(), timeout=60)
    stored = stream_rows(redis_server.client(), "streamliq:binance-futures:BTCUSDT:1m")
    assert [fields for _, fields in stored] == [as_stored(r) for r in rows]
    assert metrics.value("streamliq_sink_dropped_total", sink=sink.name) == 0
    assert sink.duplicates >= 60  # rows 90..149 were sent twice


def test_a_full_queue_during_an_outage_drops_the_oldest_rows(redis_server):
    rows = series("BTCUSDT", "1m", 25)
    metrics = Metrics()
    redis_server.stop()

    async def body():
        sink = RedisSink(parse_sink_spec(redis_server.url()), metrics, queue_rows=10, backoff_max=0.2)
        fanout = Fanout([sink], metrics)
        await fanout.start()
        fanout.publish(rows)
        async with asyncio.timeout(10):
            while metrics.value("streamliq_sink_retries_total", sink=sink.name) < 1:
                await asyncio.sleep(0.02)
        redis_server.start()
        await drained(fanout, timeout=20)
        await fanout.close()
        return sink

    sink = run(body(), timeout=60)
    stored = stream_rows(redis_server.client(), "streamliq:binance-futures:BTCUSDT:1m")
    assert [fields for _, fields in stored] == [as_stored(r) for r in rows[15:]]
    assert metrics.value("streamliq_sink_dropped_total", sink=sink.name) == 15


def test_serve_sends_a_replay_to_redis_once_even_when_run_twice(redis_server, tmp_path, capsys):
    folder = tmp_path / "data"
    write_tardis(make_events(seed=5, days=1, ticker_every_s=300, trades_per_hour=20), folder)
    argv = ["serve", "--data-dir", str(folder), "--freq", "15m,1h", "--serve", "off", "--exit-when-done",
            "--sink", redis_server.url()]
    assert main(argv) == 0
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"streamliq serve: sending rows to redis://127.0.0.1:{redis_server.port}/0; Ctrl-C to stop" in err
    expected = list(Replay(folder, FactorConfig.build(freq="15m,1h")))
    client = redis_server.client()
    for key in {(r["exchange"], r["symbol"], r["freq"]) for r in expected}:
        mine = [as_stored(r) for r in expected if (r["exchange"], r["symbol"], r["freq"]) == key]
        assert [fields for _, fields in stream_rows(client, "streamliq:" + ":".join(key))] == mine
    assert sum(client.xlen(k) for k in client.keys("streamliq:*")) == len(expected) > 100


def test_the_readme_consumer_reads_every_row_back(redis_server):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def follow(" in b)
    namespace: dict = {}
    exec(block, namespace)
    rows = series("ETHUSDT", "15m", 30)

    async def body():
        sink = RedisSink(parse_sink_spec(redis_server.url()))
        await (await publish_all(sink, [rows], sink.metrics)).close()

    run(body())
    follow = namespace["follow"](redis_server.client(), "streamliq:binance-futures:ETHUSDT:15m")
    got = [next(follow) for _ in range(30)]
    assert [entry_id for entry_id, _ in got] == [f"{r['bar_start'] // 1000}-0" for r in rows]
    assert [as_stored(row) for _, row in got] == [as_stored(r) for r in rows]
    resumed = namespace["follow"](redis_server.client(), "streamliq:binance-futures:ETHUSDT:15m", got[19][0])
    assert next(resumed)[0] == got[20][0]
