"""The live daemon on three venues at once, against the fakes of Binance, Bybit and OKX on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_binance import FakeBinance
from fake_bybit import FakeBybit
from fake_okx import FakeOkx
from test_live_daemon import keys, now_ms, run_live

from streamliq.live.recorded import RecordedReplay
from streamliq.live.records import read_records
from streamliq.live.settings import LiveSettings, resolve

BINANCE_STREAMS = ("btcusdt@forceOrder", "btcusdt@markPrice@1s", "ethusdt@forceOrder", "ethusdt@markPrice@1s")
BYBIT_STREAMS = ("allLiquidation.BTCUSDT", "tickers.BTCUSDT", "allLiquidation.ETHUSDT", "tickers.ETHUSDT")
OKX_STREAMS = ("liquidation-orders:SWAP", "mark-price:BTC-USDT-SWAP", "open-interest:ETH-USDT-SWAP",
               "index-tickers:BTC-USDT", "funding-rate:ETH-USDT-SWAP")
EXCHANGES = {"binance-futures", "bybit", "okex-swap"}


class Venues:
    """The three fakes, started together."""

    def __enter__(self) -> Venues:
        self.binance = FakeBinance(("BTCUSDT", "ETHUSDT")).start()
        self.bybit = FakeBybit(("BTCUSDT", "ETHUSDT")).start()
        self.okx = FakeOkx().start()
        return self

    def __exit__(self, *exc: object) -> None:
        for fake in (self.okx, self.bybit, self.binance):
            fake.stop()

    def urls(self, kind: str) -> str:
        return ",".join(f"{name}={getattr(getattr(self, name), kind)}" for name in ("binance", "bybit", "okx"))

    async def subscribed(self) -> None:
        for fake, streams in ((self.binance, BINANCE_STREAMS), (self.bybit, BYBIT_STREAMS), (self.okx, OKX_STREAMS)):
            await asyncio.to_thread(fake.wait_until_subscribed, *streams, timeout=10)

    async def trade_for(self, seconds: float, step: float = 0.1) -> int:
        """Liquidations and ticker updates on every venue for `seconds`; the events pushed."""
        end, i, events = time.monotonic() + seconds, 0, 0
        while time.monotonic() < end:
            i += 1
            t = now_ms()
            t -= t % 1000 == 999  # Bybit's Buy at t and Sell at t + 1 stay in one 1s bar
            for n, (coin, price) in enumerate((("BTC", 80_000.0), ("ETH", 2_000.0))):
                p = f"{price + i % 7:.1f}"
                if i % 2 == n % 2:
                    await asyncio.to_thread(self.binance.push_force_order, f"{coin}USDT", "SELL", p, "0.5", t)
                    await asyncio.to_thread(self.bybit.push_liquidations, f"{coin}USDT",
                                            [(t, "Buy", "0.2", p), (t + 1, "Sell", "0.1", p)], t + 2)
                    await asyncio.to_thread(self.okx.push_liquidations, f"{coin}-USDT-SWAP", [("buy", p, "3", t)])
                    events += 4
                await asyncio.to_thread(self.binance.push_mark_price, f"{coin}USDT", p, p, 0.0001, t + 3_600_000, t)
                await asyncio.to_thread(self.bybit.push_ticker, f"{coin}USDT", t, "delta", markPrice=p,
                                        openInterest="1000")
                await asyncio.to_thread(self.okx.push_channel, "mark-price", f"{coin}-USDT-SWAP", t, markPx=p)
                events += 3
            await asyncio.sleep(step)
        return events


@pytest.fixture
def venues():
    with Venues() as venues:
        yield venues


def settings_for(venues: Venues, tmp_path, **overrides) -> LiveSettings:
    values = {"venues": "binance,bybit,okx", "symbols": "BTC,ETH", "freq": "1s", "lateness": "300ms",
              "z_windows": "3", "pct_windows": "3", "mining_windows": "3", "bucket_hours": "0.01",
              "ws_url": venues.urls("ws_url"), "rest_url": venues.urls("rest_url"), "record": str(tmp_path / "rec"),
              "out": None, "oi_interval": "0", **overrides}
    return resolve(values, None)


def test_a_three_venue_session_equals_the_replay_of_its_recording(venues, tmp_path):
    settings = settings_for(venues, tmp_path, freq="1s,2s")

    async def script(daemon):
        await venues.subscribed()
        await venues.trade_for(3.0)

    daemon, rows = run_live(settings, script)
    assert {r["exchange"] for r in rows} == EXCHANGES
    assert {(r["exchange"], r["symbol"]) for r in rows} >= {("okex-swap", "BTC-USDT-SWAP"), ("bybit", "ETHUSDT")}
    assert len(set((r["exchange"], *k) for r, k in zip(rows, keys(rows), strict=True))) == len(rows)
    assert daemon.core.bad.total == 0, daemon.core.bad.counts
    okx = [r for r in rows if r["exchange"] == "okex-swap" and r["all_count"]]
    assert okx and all(r["all_qty"] == pytest.approx(0.03 * r["all_count"]) for r in okx
                       if r["symbol"] == "BTC-USDT-SWAP")  # 3 contracts of 0.01 BTC
    bybit = [r for r in rows if r["exchange"] == "bybit" and r["all_count"]]
    assert bybit and all(r["long_count"] == r["short_count"] for r in bybit)  # one Buy and one Sell per push
    assert daemon.core.normalizers["okx"].first_pushes_dropped == 1  # the backlog push after subscribing
    replayed = list(RecordedReplay(tmp_path / "rec", settings.factors))
    assert [(r["exchange"], *k) for r, k in zip(replayed, keys(replayed), strict=True)] == \
        [(r["exchange"], *k) for r, k in zip(rows, keys(rows), strict=True)]
    assert all(a == b or all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values(), strict=True))
               for a, b in zip(replayed, rows, strict=True))
    kinds = {r["k"] for r in read_records(tmp_path / "rec")}
    assert {"instruments", "ws", "down", "up", "start", "tick"} <= kinds


def _drop_bybit(venues: Venues, tmp_path, **overrides):
    settings = settings_for(venues, tmp_path, **overrides)

    async def script(daemon):
        await venues.subscribed()
        await venues.trade_for(2.2)
        await asyncio.to_thread(venues.bybit.drop_connections)
        await venues.subscribed()
        await venues.trade_for(2.2)

    daemon, rows = run_live(settings, script)
    records = list(read_records(tmp_path / "rec"))
    bybit = [r for r in records if r["k"] in ("down", "up") and r.get("v") == "bybit"]
    return daemon, rows, records, bybit


def test_a_dropped_bybit_connection_marks_gap_on_bybit_bars_only(venues, tmp_path):
    daemon, rows, records, bybit = _drop_bybit(venues, tmp_path)
    assert [r["k"] for r in bybit] == ["down", "up", "down", "up"]
    start, end = bybit[2]["since"], bybit[3]["t"]
    ups = [r["t"] for r in records if r["k"] == "up"]
    startup_end = sorted(ups)[len(daemon.connections) - 1]  # every connection up once
    later = [r for r in rows if r["bar_start"] >= startup_end]
    for row in later:
        overlaps = row["bar_start"] < end and row["bar_end"] > start
        assert row["gap"] == (row["exchange"] == "bybit" and overlaps), row
    assert any(r["gap"] for r in later if r["exchange"] == "bybit")
    assert not any(r["gap"] for r in later if r["exchange"] != "bybit")
    assert [c.stats.reconnects for c in daemon.connections if c.venue.name == "bybit"] == [1]


def test_a_dropped_bybit_connection_marks_gap_on_the_aggregate_bars(venues, tmp_path):
    _, rows, records, bybit = _drop_bybit(venues, tmp_path, aggregate=True)
    start, end = bybit[2]["since"], bybit[3]["t"]
    aggregate = [r for r in rows if r["exchange"] == "all"]
    assert {r["symbol"] for r in aggregate} == {"BTC", "ETH"}
    assert any(r["gap"] for r in aggregate if r["bar_start"] < end and r["bar_end"] > start)
    ups = sorted(r["t"] for r in records if r["k"] == "up")
    assert not any(r["gap"] for r in aggregate if r["bar_start"] >= ups[-1] + 1_000_000)
