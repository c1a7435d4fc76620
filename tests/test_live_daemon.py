"""The live daemon in-process against the fake Binance (tests/fake_binance.py) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import pytest
from fake_binance import FakeBinance

from streamliq.live.daemon import LiveDaemon
from streamliq.live.recorded import RecordedReplay
from streamliq.live.settings import LiveSettings, resolve

SYMBOLS = ("BTCUSDT", "ETHUSDT")
STREAMS = ("btcusdt@forceOrder", "btcusdt@markPrice@1s", "ethusdt@forceOrder", "ethusdt@markPrice@1s")


@pytest.fixture
def fake():
    with FakeBinance(SYMBOLS) as fake:
        yield fake


def live_settings(fake: FakeBinance, tmp_path, **overrides) -> LiveSettings:
    values = {"symbols": ",".join(SYMBOLS), "freq": "1s", "lateness": "300ms", "z_windows": "3",
              "pct_windows": "3", "mining_windows": "3", "bucket_hours": "0.01", "ws_url": fake.ws_url,
              "rest_url": fake.rest_url, "record": str(tmp_path / "rec"), "out": None, "oi_interval": "0.5s",
              **overrides}
    return resolve(values, None)


def run_live(settings: LiveSettings, script, rows: list[dict] | None = None) -> tuple[LiveDaemon, list[dict]]:
    """Run the daemon while `script(daemon)` (a coroutine function) plays; return the rows it emitted
    (appended to `rows` as they come, if given)."""
    rows = [] if rows is None else rows

    async def main() -> LiveDaemon:
        daemon = LiveDaemon(settings, handle_signals=False)
        task = asyncio.create_task(daemon.run(rows.extend))
        try:
            await script(daemon)
        finally:
            daemon.stop()
            await asyncio.wait_for(task, 10)
        return daemon

    return asyncio.run(main()), rows


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def trade_for(fake: FakeBinance, seconds: float, symbols=SYMBOLS, step: float = 0.1) -> int:
    """Push liquidations and mark prices of `symbols` for `seconds`, like a busy market; return
    the number of events pushed."""
    end = time.monotonic() + seconds
    i = events = 0
    while time.monotonic() < end:
        i += 1
        for n, symbol in enumerate(symbols):
            t = now_ms()
            if i % 3 == n % 3:
                await asyncio.to_thread(fake.push_force_order, symbol, "SELL" if i % 2 else "BUY",
                                        100 + i % 7 + n, 0.5 + (i % 5) / 10, t)
                events += 1
            await asyncio.to_thread(fake.push_mark_price, symbol, 100 + (i % 11) / 10 + n, 100.05 + n,
                                    0.0001, t + 3_600_000, t)
            events += 1
        await asyncio.sleep(step)
    return events


async def trade_until(fake: FakeBinance, predicate, what: str, timeout: float = 30.0) -> int:
    """Trade (as `trade_for`) until `predicate()` holds; return the number of events pushed."""
    deadline = time.monotonic() + timeout
    events = 0
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s trading until {what}"
        events += await trade_for(fake, 0.5)
    return events


async def subscribed(fake: FakeBinance, *streams: str) -> None:
    await asyncio.to_thread(fake.wait_until_subscribed, *(streams or STREAMS), timeout=30)


def keys(rows: list[dict]) -> list[tuple]:
    return [(r["symbol"], r["freq"], r["bar_start"]) for r in rows]


def wait_until(predicate, timeout: float = 20.0, what: str = "condition", poll: float = 0.02) -> None:
    """Poll `predicate()` until it is true (a loaded machine gets the whole `timeout`, a fast one
    returns at once); fail naming `what` when it never is."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(poll)


async def wait_for(predicate, timeout: float = 20.0, what: str = "condition", poll: float = 0.02) -> None:
    """`wait_until` on the event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(poll)


def test_live_rows_equal_the_replay_of_the_recording(fake, tmp_path):
    settings = live_settings(fake, tmp_path, freq="1s,2s")
    every = {(s, f) for s in SYMBOLS for f in ("1s", "2s")}
    rows: list[dict] = []

    async def script(daemon):
        await subscribed(fake)
        await trade_for(fake, 1.5)
        await trade_until(fake, lambda: any(r["open_interest"] == 100000.0 for r in rows)
                          and {(r["symbol"], r["freq"]) for r in rows if r["all_count"]} == every
                          and sum(r["all_count"] for r in rows) > 5,
                          "liquidations in bars of each symbol and frequency, and a polled open interest")

    daemon, rows = run_live(settings, script, rows)
    assert {(r["symbol"], r["freq"]) for r in rows} == every
    assert len(set(keys(rows))) == len(rows)
    assert sum(r["all_count"] for r in rows) > 5 and any(r["close"] == r["close"] for r in rows)
    assert any(r["open_interest"] == 100000.0 for r in rows)  # the REST poller fed open interest
    replayed = list(RecordedReplay(tmp_path / "rec", settings.factors))
    assert keys(replayed) == keys(rows)
    assert replayed == rows or all(_same(a, b) for a, b in zip(replayed, rows, strict=True))
    assert daemon.core.bad.total == 0


def _same(a: dict, b: dict) -> bool:
    return all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values(), strict=True))


def test_dropped_connection_reconnects_and_marks_gap_on_exactly_the_affected_bars(fake, tmp_path):
    settings = live_settings(fake, tmp_path)
    marks: dict[str, int] = {}

    async def script(daemon):
        await subscribed(fake)
        await trade_for(fake, 2.2)
        await asyncio.to_thread(fake.drop_connections)
        await subscribed(fake)
        await trade_for(fake, 2.5)

    daemon, rows = run_live(settings, script)
    records = [r for r in _records(tmp_path / "rec") if r["k"] in ("down", "up")]
    # startup outage, then the drop: down at the drop, up once re-subscribed
    assert [r["k"] for r in records] == ["down", "up", "down", "up"]
    assert daemon.connections[0].stats.reconnects == 1
    assert len(fake.connections()) == 2
    start, end = records[2]["since"], records[3]["t"]
    first_up = records[1]["t"]
    for row in rows:
        overlaps = row["bar_start"] < end and row["bar_end"] > start
        before_start = row["bar_start"] < first_up
        assert row["gap"] == (overlaps or before_start), (row["bar_start"], start, end, marks)
    assert sum(r["gap"] for r in rows) >= 2 and not all(r["gap"] for r in rows)


def test_garbage_frames_unknown_symbols_and_http_429_are_survived(fake, tmp_path):
    settings = live_settings(fake, tmp_path, oi_interval="0.2s")

    async def script(daemon):
        await subscribed(fake)
        await asyncio.to_thread(fake.fail_next, 1, 429, 1, "/fapi/v1/openInterest")
        await asyncio.to_thread(fake.push_raw, None, "garbage{")
        await asyncio.to_thread(fake.push_raw, None, '{"stream":"x","data":{"e":"somethingNew"}}')
        await asyncio.to_thread(fake.push_raw, None, '{"stream":"dogeusdt@forceOrder","data":'
                                '{"e":"forceOrder","E":1,"o":{"s":"DOGEUSDT","S":"SELL","p":"1","z":"1",'
                                '"X":"FILLED","T":1}}}')
        await trade_for(fake, 2.5)

        def asked_again() -> bool:
            requests = fake.requests("/fapi/v1/openInterest")
            refused = [r for r in requests if r.status == 429]
            return bool(refused) and any(r.at > refused[0].at for r in requests)

        await trade_until(fake, asked_again, "the refused request asked again")

    daemon, rows = run_live(settings, script)
    bad = dict(daemon.core.bad.counts)
    assert bad == {"frame is not JSON": 1, "unknown event type 'somethingNew'": 1, "symbol not subscribed": 1}
    assert rows and sum(r["all_count"] for r in rows) > 3
    requests = fake.requests("/fapi/v1/openInterest")
    refused = [r for r in requests if r.status == 429]
    assert len(refused) == 1
    after = [r for r in requests if r.at > refused[0].at]
    assert after and after[0].at - refused[0].at >= 1.0  # Retry-After honoured
    assert daemon.rest.stats.refused == 1


def test_rotation_before_the_cut_off_is_make_before_break(fake, tmp_path):
    settings = live_settings(fake, tmp_path, rotate_after="1.2s", oi_interval="0")
    pushed = []

    async def script(daemon):
        await subscribed(fake)
        pushed.append(await trade_until(fake, lambda: daemon.connections[0].stats.rotations >= 2, "two rotations"))
        pushed[0] += await trade_for(fake, 0.5)
        await wait_for(lambda: daemon.core.engine.events + len(daemon.core.buffer) == pushed[0],
                       what="every pushed event in the core")

    daemon, rows = run_live(settings, script)
    assert daemon.core.engine.events == pushed[0]  # every event once, though sockets overlapped
    assert daemon.core.duplicates > 0
    assert daemon.connections[0].stats.rotations >= 2
    assert daemon.connections[0].stats.reconnects == 0
    first_up = next(r["t"] for r in _records(tmp_path / "rec") if r["k"] == "up")
    assert [r["k"] for r in _records(tmp_path / "rec") if r["k"] in ("down", "up")] == ["down", "up"]
    assert not any(r["gap"] for r in rows if r["bar_start"] >= first_up)
    replayed = list(RecordedReplay(tmp_path / "rec", settings.factors))
    assert keys(replayed) == keys(rows)


def _records(folder):
    from streamliq.live.records import read_records
    return list(read_records(folder))


class Market:
    """Pushes liquidations and mark prices from a background thread until stopped."""

    def __init__(self, fake: FakeBinance) -> None:
        import threading
        self.fake = fake
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Market:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    def _run(self) -> None:
        i = 0
        while not self.stopped.wait(0.1):
            i += 1
            for n, symbol in enumerate(SYMBOLS):
                t = now_ms()
                if i % 3 == n:
                    self.fake.push_force_order(symbol, "SELL" if i % 2 else "BUY", 100 + i % 7, 0.5 + i % 5, t)
                self.fake.push_mark_price(symbol, 100 + (i % 11) / 10, 100.05, 0.0001, t + 3_600_000, t)


def _start_daemon(fake: FakeBinance, tmp_path, extra: list[str]):
    import subprocess
    import sys
    args = [sys.executable, "-m", "streamliq.cli", "run", "--symbols", ",".join(SYMBOLS), "--freq", "1s",
            "--lateness", "300ms", "--z-windows", "3", "--pct-windows", "3", "--mining-windows", "3",
            "--ws-url", fake.ws_url, "--rest-url", fake.rest_url, "--oi-interval", "0.5s",
            "--state", str(tmp_path / "state"), "--record", str(tmp_path / "rec"),
            "--out", str(tmp_path / "out.jsonl"), *extra]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    return process


def _written(path) -> list[dict]:
    """The complete rows of a JSON lines output that a daemon may be appending to."""
    import json
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def _bars_of_each_symbol(rows: list[dict]) -> int:
    return min(sum(r["symbol"] == symbol for r in rows) for symbol in SYMBOLS)


def _all_closed(fake: FakeBinance) -> bool:
    return not any(c.open for c in fake.connections())


def _terminate(process) -> tuple[float, str]:
    import signal
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    return time.monotonic() - started, stderr


def test_sigterm_then_restart_writes_every_row_once_and_the_recording_reproduces_them(fake, tmp_path):
    import json

    from streamliq.cli import main
    out = tmp_path / "out.jsonl"
    with Market(fake):
        first = _start_daemon(fake, tmp_path, [])
        fake.wait_until_subscribed(*STREAMS, timeout=30)
        wait_until(lambda: _bars_of_each_symbol(_written(out)) >= 3, what="three bars of each symbol")
        seconds, stderr = _terminate(first)
        assert first.returncode == 0, stderr
        assert seconds < 5, seconds
        assert "event=started" in stderr and "streamliq run:" in stderr
        written = len(_written(out))
        wait_until(lambda: _all_closed(fake), what="the first daemon's connections to close")
        time.sleep(1.5)  # the downtime under test (not a wait for anything): its bars come back empty, as gaps
        second = _start_daemon(fake, tmp_path, [])
        fake.wait_until_subscribed(*STREAMS, timeout=30)
        wait_until(lambda: _bars_of_each_symbol([r for r in _written(out)[written:] if not r["gap"]]) >= 3,
                   what="three bars of each symbol after the restart")
        seconds, stderr = _terminate(second)
        assert second.returncode == 0 and seconds < 5, stderr
        assert "event=restored" in stderr
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) >= 2 * 6
    assert len({(r["symbol"], r["bar_start"]) for r in rows}) == len(rows)  # nothing written twice
    for symbol in SYMBOLS:
        starts = sorted(r["bar_start"] for r in rows if r["symbol"] == symbol)
        assert len(starts) >= 6
        seconds_of = [int(time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))) for s in starts]
        assert seconds_of == list(range(seconds_of[0], seconds_of[0] + len(starts)))  # nothing skipped
    downtime = [r for r in rows if r["gap"] and r["n_events"] == 0]
    assert len(downtime) >= 2  # the bars that fell in the downtime: emitted, empty, gap = true
    assert main(["replay", "--recorded", str(tmp_path / "rec"), "--freq", "1s", "--lateness", "300ms",
                 "--z-windows", "3", "--pct-windows", "3", "--mining-windows", "3", "--quiet",
                 "--out", str(tmp_path / "replayed.jsonl")]) == 0
    assert (tmp_path / "replayed.jsonl").read_text().splitlines() == lines  # byte for byte


def test_all_symbols_uses_the_all_market_streams_and_polls_exchange_info_symbols(fake, tmp_path):
    settings = live_settings(fake, tmp_path, symbols=None, all_symbols=True)

    rows: list[dict] = []

    async def script(daemon):
        await subscribed(fake, "!forceOrder@arr", "!markPrice@arr@1s")
        await trade_for(fake, 2.0)
        await trade_until(fake, lambda: {r["symbol"] for r in rows} == set(SYMBOLS) and {
            r.query["symbol"] for r in fake.requests("/fapi/v1/openInterest")} == set(SYMBOLS),
            "rows and open interest of every symbol")

    daemon, rows = run_live(settings, script, rows)
    assert [c.streams for c in daemon.connections] == [["!forceOrder@arr", "!markPrice@arr@1s"]]
    assert {r["symbol"] for r in rows} == set(SYMBOLS)
    assert fake.requests("/fapi/v1/exchangeInfo")
    assert {r.query["symbol"] for r in fake.requests("/fapi/v1/openInterest")} == set(SYMBOLS)


def test_after_a_hard_kill_the_restart_skips_rows_already_written(fake, tmp_path):
    import json
    import signal
    out = tmp_path / "out.jsonl"
    with Market(fake):
        first = _start_daemon(fake, tmp_path, ["--checkpoint-every", "1s"])
        fake.wait_until_subscribed(*STREAMS, timeout=30)
        wait_until(lambda: (tmp_path / "state").exists(), what="a checkpoint")
        checkpointed = (tmp_path / "state").stat().st_mtime_ns
        wait_until(lambda: (tmp_path / "state").stat().st_mtime_ns != checkpointed
                   and _bars_of_each_symbol(_written(out)) >= 2, what="a second checkpoint and rows after it")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        written_before = len(out.read_text().splitlines())
        wait_until(lambda: _all_closed(fake), what="the killed daemon's connections to close")
        second = _start_daemon(fake, tmp_path, ["--checkpoint-every", "1s"])
        fake.wait_until_subscribed(*STREAMS, timeout=30)
        wait_until(lambda: len(_written(out)) >= written_before + 2 * len(SYMBOLS), what="rows after the restart")
        _, stderr = _terminate(second)
        assert second.returncode == 0, stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) > written_before > 0
    assert len({(r["symbol"], r["bar_start"]) for r in rows}) == len(rows)


def test_many_streams_are_spread_and_subscribed_under_the_message_limit(tmp_path):
    symbols = [f"S{i:03d}USDT" for i in range(150)]
    with FakeBinance(symbols, max_streams=200) as fake:
        settings = resolve({"symbols": ",".join(symbols), "channels": "liquidations,ticker,trades", "freq": "1s",
                            "ws_url": fake.ws_url, "rest_url": fake.rest_url, "oi_interval": "0", "out": None},
                           None)

        async def script(daemon):
            await asyncio.to_thread(fake.wait_until_subscribed, *(f"{s.lower()}@aggTrade" for s in symbols),
                                    timeout=30)

        run_live(settings, script)
        connections = fake.connections()
    assert [len(c.streams) for c in connections] == [198, 198, 54]
    assert all(c.path.startswith("/market/stream") and c.close_code in (None, 1000) for c in connections)
    for c in connections:
        times = [t for t, _ in c.received]
        assert all(b - a >= 0.2 for a, b in pairwise(times))  # paced SUBSCRIBE requests


def test_metrics_channel_polls_positioning_statistics_without_look_ahead(fake, tmp_path, monkeypatch):
    from fake_binance import long_short_row, open_interest_hist_row, taker_row

    from streamliq.live import pollers
    settings = live_settings(fake, tmp_path, channels="liquidations,ticker,metrics", freq="1s")
    period_ms = 300_000
    gate = asyncio.Event()  # the poller's first round waits for the series: no start-up deadline
    polling = pollers.MetricsPoller.run

    async def gated(self) -> None:
        await gate.wait()
        await polling(self)

    monkeypatch.setattr(pollers.MetricsPoller, "run", gated)
    monkeypatch.setattr(pollers, "STATS_REQUESTS_PER_S", 50.0)  # a round of 0.2 s (+1 s for the 429), not 4 s
    rows: list[dict] = []
    marks: dict[str, int] = {}

    async def script(daemon):
        await subscribed(fake)
        pushing = asyncio.create_task(trade_for(fake, 60.0))
        await wait_for(lambda: any(r["symbol"] == "BTCUSDT" for r in rows), what="the first BTCUSDT row")
        # the newest row's period ends 5 s from now (rows are flowing): its value is public then, and
        # the poll (released now) has 5 s to bring it before its bar closes
        published = marks["published"] = now_ms() + 5_000
        stamp = published - period_ms
        for endpoint in ("topLongShortPositionRatio", "topLongShortAccountRatio", "globalLongShortAccountRatio"):
            fake.set_series(endpoint, "BTCUSDT", [long_short_row("BTCUSDT", 0.6, stamp - period_ms),
                                                  long_short_row("BTCUSDT", 0.75, stamp)])
        fake.set_series("takerlongshortRatio", "BTCUSDT", [taker_row(10.0, 5.0, stamp - period_ms),
                                                           taker_row(30.0, 10.0, stamp)])
        fake.set_series("openInterestHist", "BTCUSDT", [open_interest_hist_row("BTCUSDT", 123.0, 4.5e6, stamp)])
        fake.fail_next(1, 429, 1, "/futures/data/takerlongshortRatio")
        gate.set()
        await wait_for(lambda: any(r["symbol"] == "BTCUSDT" and r["bar_start"] >= (published + 1_000) * 1000
                                   for r in rows), timeout=60, what="a BTCUSDT bar after the publication")
        pushing.cancel()

    daemon, rows = run_live(settings, script, rows)
    published = marks["published"]
    btc = [r for r in rows if r["symbol"] == "BTCUSDT"]
    before = [r for r in btc if r["bar_end"] <= published * 1000]
    after = [r for r in btc if r["bar_start"] >= published * 1000]
    assert before and after
    assert all(r["top_pos_ls_ratio"] != r["top_pos_ls_ratio"] for r in before)  # NaN: nothing public yet
    assert {r["top_pos_ls_ratio"] for r in after} == {0.75 / 0.25}
    assert {r["metric_open_interest"] for r in after} == {123.0}
    assert {r["taker_buy_sell_ratio"] for r in after} == {3.0}
    holding = [r for r in btc if r["bar_start"] <= published * 1000 < r["bar_end"]]
    assert [(r["taker_buy_vol"], r["taker_sell_vol"]) for r in holding] == [(30.0, 10.0)]
    assert daemon.rest.stats.refused == 1  # the 429 was waited out, then the row arrived
    replayed = list(RecordedReplay(tmp_path / "rec", settings.factors))
    assert keys(replayed) == keys(rows)


def test_run_serves_rows_to_a_websocket_bot_with_health_and_metrics(fake, tmp_path):
    import json
    import socket
    import urllib.request

    from websockets.sync.client import connect
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Market(fake):
        daemon = _start_daemon(fake, tmp_path, ["--serve", f"127.0.0.1:{port}", "--token", "t0k",
                                                "--sink", f"jsonl:{tmp_path / 'sink.jsonl'}"])
        fake.wait_until_subscribed(*STREAMS, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                ws = connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"Authorization": "Bearer t0k"})
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with ws:
            ws.send(json.dumps({"op": "subscribe", "symbols": ["BTCUSDT"], "freqs": ["1s"]}))
            assert json.loads(ws.recv(timeout=30))["type"] == "subscribed"
            received = [json.loads(ws.recv(timeout=30)) for _ in range(2)]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Authorization": "Bearer t0k"})
        health = json.loads(urllib.request.urlopen(request, timeout=30).read())
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer t0k"})
        metrics = urllib.request.urlopen(request, timeout=30).read().decode()
        seconds, stderr = _terminate(daemon)
        assert daemon.returncode == 0 and seconds < 5, stderr
    assert [(r["symbol"], r["freq"]) for r in received] == [("BTCUSDT", "1s")] * 2
    assert received[1]["bar_start"] > received[0]["bar_start"]
    assert health["source"]["connections"]["c0"]["state"] == "up"
    assert 'streamliq_messages_total{kind="websocket"}' in metrics
    assert "streamliq_bar_close_delay_seconds_bucket" in metrics
    out = (tmp_path / "out.jsonl").read_text().splitlines()
    sink = (tmp_path / "sink.jsonl").read_text().splitlines()
    assert sink == out  # the --sink got exactly the rows of the durable output


def test_in_process_stream_of_the_live_daemon(fake, tmp_path):
    import contextlib

    import streamliq
    settings = live_settings(fake, tmp_path, state=str(tmp_path / "state"))

    async def main() -> tuple[list[dict], LiveDaemon]:
        daemon = LiveDaemon(settings, handle_signals=False)
        pushing = asyncio.create_task(trade_for(fake, 10.0))
        rows = []
        async with contextlib.aclosing(streamliq.stream(daemon)) as stream:
            async for row in stream:
                rows.append(row)
                if len({r["bar_start"] for r in rows}) == 3:
                    break
        pushing.cancel()
        return rows, daemon

    rows, daemon = asyncio.run(main())
    assert daemon.stats.rows >= len(rows)
    assert {r["symbol"] for r in rows} <= set(SYMBOLS) and len(rows) >= 3
    assert (tmp_path / "state").exists()  # leaving the loop stopped the daemon, which saved its state


def test_a_task_that_dies_stops_the_daemon_loudly_after_a_checkpoint(fake, tmp_path, monkeypatch, caplog):
    from streamliq.live import pollers

    async def broken(self) -> None:
        raise RuntimeError("poller bug")

    monkeypatch.setattr(pollers.OpenInterestPoller, "run", broken)
    settings = live_settings(fake, tmp_path, state=str(tmp_path / "state"))

    async def main() -> None:
        await asyncio.wait_for(LiveDaemon(settings, handle_signals=False).run(), 10)

    with pytest.raises(RuntimeError, match="poller bug"):
        asyncio.run(main())
    assert "event=task_failed task=open-interest" in caplog.text
    assert (tmp_path / "state").exists()


def late_rows_written(path) -> set[str]:
    """The frequencies of which a row counting a late event is in the JSON lines file (its arrival
    bar closes some time after the event is counted)."""
    import json

    complete = path.read_text().split("\n")[:-1] if path.exists() else []  # not a line being written
    return {row["freq"] for row in map(json.loads, complete) if row["late_events"]}


def test_served_metrics_count_every_row_written_once(fake, tmp_path):
    """What `streamliq run --serve --out FILE` exports at /metrics equals what it wrote to FILE."""
    import json

    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    from streamliq.feed import Feed
    from streamliq.sinks.append import AppendingFileSink
    from streamliq.sinks.server import RowServer

    settings = live_settings(fake, tmp_path, freq="1s,2s", oi_interval="0")
    out = tmp_path / "out.jsonl"

    async def main() -> tuple[LiveDaemon, str]:
        daemon = LiveDaemon(settings, AppendingFileSink(out, settings.factors.columns()), handle_signals=False)
        feed = Feed(daemon, metrics=daemon.metrics)  # as `streamliq run --serve` wires them
        server = feed.add_sink(RowServer("127.0.0.1", 0, metrics=daemon.metrics, health=feed.health))
        stop = asyncio.Event()
        feeding = asyncio.create_task(feed.run(stop, serve_after_source=True))
        await subscribed(fake)
        await trade_for(fake, 1.5)
        await asyncio.to_thread(fake.push_raw, None, "garbage{")
        await asyncio.to_thread(fake.push_force_order, "BTCUSDT", "SELL", 100, 1.0, now_ms() - 3_000)  # late
        await asyncio.to_thread(fake.drop_connections)
        await subscribed(fake)
        await trade_for(fake, 1.5)
        await wait_for(lambda: late_rows_written(out) == {"1s", "2s"}, what="the rows carrying the late event")
        source = next(t for t in asyncio.all_tasks() if t.get_name() == "row source")
        daemon.stop()
        await source  # the daemon wrote its last rows; the server still serves
        async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as response:
            text = await response.text()
        stop.set()
        await feeding
        return daemon, text

    daemon, text = asyncio.run(main())
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == daemon.stats.rows > 0
    for freq in ("1s", "2s"):
        mine = [r for r in rows if r["freq"] == freq]
        label = (("freq", freq),)
        assert samples[("streamliq_rows_total", label)] == len(mine)
        assert samples[("streamliq_late_events_total", label)] == sum(r["late_events"] for r in mine) >= 1
        assert samples[("streamliq_gap_bars_total", label)] == sum(r["gap"] for r in mine) >= 1
    assert samples[("streamliq_bar_close_delay_seconds_count", ())] == len(rows)
    frames = sum(r["k"] == "ws" for r in _records(tmp_path / "rec"))
    assert samples[("streamliq_messages_total", (("kind", "websocket"),))] == frames
    assert samples[("streamliq_bad_input_total", (("kind", "frame is not JSON"),))] == 1
    assert samples[("streamliq_reconnects_total", (("connection", "c0"),))] == 1
