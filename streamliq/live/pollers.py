"""REST pollers, spread evenly in time and capped below the venue's limits.

- Instruments (every venue): the venue's instruments endpoint, read at start and once a day; each
  answer becomes an `instruments` record, so the contract specs it gives are recorded with the
  frames they convert and `replay --recorded` uses the same ones.

- Open interest has no websocket stream on Binance USD-M; `GET /fapi/v1/openInterest` costs
  weight 1 per symbol. The poller asks every symbol once per interval (default 5 s), but never
  faster than `MAX_REQUESTS_PER_S` over all symbols, which keeps it under half of the IP's
  2400-per-minute weight budget however many symbols are followed.
- Positioning statistics (`/futures/data/*`, FACTORS.md section 7) are published once per period
  (5 minutes by default). The poller asks every endpoint and symbol right after each period ends
  (plus `PUBLISH_DELAY_S`), at most `STATS_REQUESTS_PER_S` (80% of the 1000 requests / 5 min IP
  limit); when a round takes longer than a period, `limit` asks for enough rows to cover it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..venues.base import Venue
from ..venues.registry import DEFAULT, venue
from .backoff import Backoff
from .rest import RestClient

log = logging.getLogger("streamliq.live")
STATS_REQUESTS_PER_S = 800 / 300
PUBLISH_DELAY_S = 10.0
RETRIES = 3
STATS_ENDPOINTS = ("topLongShortPositionRatio", "topLongShortAccountRatio", "globalLongShortAccountRatio",
                   "takerlongshortRatio", "openInterestHist")
MAX_REQUESTS_PER_S = 20.0


@dataclass
class InstrumentsPoller:
    """Reads a venue's instruments endpoint: `fetch()` once (retried until it gives specs), or
    `run(emit, ...)` to emit the answers now and then every `every_s`."""

    client: RestClient
    venue: Venue
    clock: Callable[[], int]

    async def fetch(self) -> list[dict]:
        """One `instruments` record per query of the venue, each a readable answer."""
        records = []
        backoff = Backoff(base=1.0, cap=30.0)
        for query in self.venue.instruments_queries:
            while True:
                answer = await self.client.get(self.venue.instruments_path, dict(query))
                if answer is not None and answer[0] == 200:
                    try:
                        self.venue.parse_instruments(answer[1])
                    except (ValueError, KeyError, TypeError, AttributeError) as exc:
                        log.warning("event=instruments_unreadable venue=%s error=%r", self.venue.name, str(exc))
                    else:
                        records.append({"t": self.clock(), "k": "instruments", "v": self.venue.name,
                                        "m": answer[1]})
                        break
                elif answer is not None:
                    log.warning("event=instruments_error venue=%s status=%d body=%r", self.venue.name, answer[0],
                                answer[1][:200])
                await asyncio.sleep(backoff.next())
        return records

    async def run(self, emit: Callable[[dict], None], first_delay_s: float, every_s: float) -> None:
        await asyncio.sleep(first_delay_s)
        while True:
            for record in await self.fetch():
                emit(record)
            await asyncio.sleep(every_s)


@dataclass
class OpenInterestPoller:
    """Polls open interest for `symbols` and emits each answer as an `oi` record."""

    client: RestClient
    symbols: list[str]
    interval_s: float
    emit: Callable[[dict], None]  # records go to the daemon
    clock: Callable[[], int]  # the daemon's monotonic µs clock
    dropped: list[str] = field(default_factory=list)  # symbols the exchange called invalid
    venue: Venue = field(default_factory=lambda: venue(DEFAULT))

    def effective_interval(self) -> float:
        """The time between two polls of one symbol, after the rate cap."""
        return max(self.interval_s, len(self.symbols) / MAX_REQUESTS_PER_S)

    async def run(self) -> None:
        if self.effective_interval() > self.interval_s:
            log.warning("event=oi_interval_raised symbols=%d interval_s=%.1f", len(self.symbols),
                        self.effective_interval())
        loop = asyncio.get_running_loop()
        while self.symbols:
            cycle_start = loop.time()
            spacing = self.effective_interval() / len(self.symbols)
            for i, symbol in enumerate(list(self.symbols)):
                await self._poll(symbol)
                await asyncio.sleep(max(0.0, cycle_start + (i + 1) * spacing - loop.time()))

    async def _poll(self, symbol: str) -> None:
        answer = await self.client.get(self.venue.open_interest_path, {"symbol": symbol})
        if answer is None:
            return
        status, body = answer
        if status == 200:
            self.emit({"t": self.clock(), "k": "oi", "v": self.venue.name, "m": body})
        elif status == 400 and '"code":-1121' in body.replace(" ", ""):
            self.symbols.remove(symbol)
            self.dropped.append(symbol)
            log.warning("event=oi_symbol_dropped symbol=%s reason='Invalid symbol'", symbol)
        else:
            log.warning("event=oi_error symbol=%s status=%d body=%r", symbol, status, body[:200])


@dataclass
class MetricsPoller:
    """Polls the positioning statistics of `symbols` each period; emits `metrics` records."""

    client: RestClient
    symbols: list[str]
    period: str  # the `period` parameter, e.g. 5m
    period_s: float
    emit: Callable[[dict], None]
    clock: Callable[[], int]
    venue: Venue = field(default_factory=lambda: venue(DEFAULT))

    def round_seconds(self) -> float:
        """How long one round over every endpoint and symbol takes at the capped rate."""
        return len(self.symbols) * len(STATS_ENDPOINTS) / STATS_REQUESTS_PER_S

    async def run(self) -> None:
        rows = max(2, math.ceil(self.round_seconds() / self.period_s) + 1)
        if rows > 2:
            log.warning("event=metrics_round_slow symbols=%d round_s=%.0f period=%s", len(self.symbols),
                        self.round_seconds(), self.period)
        while True:
            await self._round(rows)
            now = time.time()
            next_round = (now // self.period_s + 1) * self.period_s + PUBLISH_DELAY_S
            await asyncio.sleep(max(0.0, next_round - now))

    async def _round(self, limit: int) -> None:
        spacing = 1.0 / STATS_REQUESTS_PER_S
        for symbol in self.symbols:
            for endpoint in STATS_ENDPOINTS:
                params = {"symbol": symbol, "period": self.period, "limit": str(limit)}
                for _ in range(RETRIES):  # a refused request waits out the pause, then asks again
                    answer = await self.client.get(self.venue.metrics_path.format(endpoint=endpoint), params)
                    if answer is not None:
                        break
                if answer is not None and answer[0] == 200:
                    self.emit({"t": self.clock(), "k": "metrics", "v": self.venue.name, "e": endpoint, "s": symbol,
                               "p": self.period, "m": answer[1]})
                elif answer is not None:
                    log.warning("event=metrics_error endpoint=%s symbol=%s status=%d body=%r", endpoint, symbol,
                                answer[0], answer[1][:200])
                await asyncio.sleep(spacing)


async def all_perpetuals(client: RestClient, source: Venue) -> list[str]:
    """Every trading perpetual of the venue's instruments endpoint (retried until it answers)."""
    records = await InstrumentsPoller(client, source, lambda: 0).fetch()
    return sorted({spec.symbol for record in records for spec in source.parse_instruments(record["m"])})
