"""Helpers for the feed tests: engine-shaped rows, a scripted row source, a local server."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable

from streamliq.engine.config import INT_COLUMNS, FactorConfig
from streamliq.sinks.fanout import Fanout
from streamliq.sinks.server import RowServer
from streamliq.telemetry import Metrics

T0 = 1_759_276_800_000_000  # 2025-10-01 00:00:00 UTC in µs
MINUTE = 60_000_000
COLUMNS = FactorConfig().columns()
STEP = {"1m": MINUTE, "15m": 15 * MINUTE, "1h": 60 * MINUTE}


def make_row(symbol: str, freq: str, i: int, exchange: str = "binance-futures") -> dict:
    """Row number `i` of one series, with every FACTORS.md column (some NaN, some late events)."""
    row: dict = {}
    for n, name in enumerate(COLUMNS):
        if name in INT_COLUMNS:
            row[name] = (i + n) % 5
        else:
            row[name] = math.nan if (i + n) % 7 == 0 else (i + 1) * 0.5 + n / 3
    start = T0 + i * STEP[freq]
    row.update(exchange=exchange, symbol=symbol, freq=freq, bar_start=start, bar_end=start + STEP[freq],
               gap=i % 11 == 3, late_events=1 if i % 13 == 5 else 0)
    return row


def series(symbol: str, freq: str, count: int, first: int = 0) -> list[dict]:
    return [make_row(symbol, freq, i) for i in range(first, first + count)]


class ScriptedSource:
    """A RowSource that publishes the given batches, yielding to the loop between them."""

    def __init__(self, batches: list[list[dict]], fail: Exception | None = None) -> None:
        self.batches = batches
        self.fail = fail
        self.published = 0

    async def run(self, publish: Callable[[list[dict]], None]) -> None:
        for batch in self.batches:
            publish(batch)
            self.published += len(batch)
            await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail

    def health(self) -> dict:
        return {"kind": "scripted", "published": self.published}


async def drained(fanout: Fanout, timeout: float = 5.0) -> None:
    """Wait until every sink took every queued row."""
    async with asyncio.timeout(timeout):
        while any(q.depth for q in fanout.queues):
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def serving(**kwargs) -> AsyncIterator[tuple[RowServer, Fanout]]:
    """A RowServer on a free port of 127.0.0.1 behind a fan-out."""
    metrics = kwargs.pop("metrics", None) or Metrics()
    server = RowServer("127.0.0.1", 0, metrics=metrics, **kwargs)
    fanout = Fanout([server], metrics)
    await fanout.start()
    try:
        yield server, fanout
    finally:
        await fanout.close(2.0)


def run(coro, timeout: float = 20.0):
    """Run a coroutine test body with a hard time limit."""
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(bounded())
