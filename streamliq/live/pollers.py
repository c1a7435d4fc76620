"""REST pollers: open interest per symbol, spread evenly over the polling interval.

Open interest has no websocket stream on Binance USD-M; `GET /fapi/v1/openInterest` costs
weight 1 per symbol. The poller asks every symbol once per interval (default 5 s), but never
faster than `MAX_REQUESTS_PER_S` over all symbols, which keeps it under half of the IP's
2400-per-minute weight budget however many symbols are followed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from .rest import RestClient

log = logging.getLogger("streamliq.live")
MAX_REQUESTS_PER_S = 20.0
OPEN_INTEREST_PATH = "/fapi/v1/openInterest"
EXCHANGE_INFO_PATH = "/fapi/v1/exchangeInfo"


class OpenInterestPoller:
    """Polls open interest for `symbols` and emits each answer as an `oi` record."""

    def __init__(self, client: RestClient, symbols: list[str], interval_s: float,
                 emit: Callable[[dict], None], clock: Callable[[], int]) -> None:
        self.client = client
        self.symbols = list(symbols)
        self.interval_s = interval_s
        self.emit = emit
        self.clock = clock
        self.dropped: list[str] = []

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
        answer = await self.client.get(OPEN_INTEREST_PATH, {"symbol": symbol})
        if answer is None:
            return
        status, body = answer
        if status == 200:
            self.emit({"t": self.clock(), "k": "oi", "m": body})
        elif status == 400 and '"code":-1121' in body.replace(" ", ""):
            self.symbols.remove(symbol)
            self.dropped.append(symbol)
            log.warning("event=oi_symbol_dropped symbol=%s reason='Invalid symbol'", symbol)
        else:
            log.warning("event=oi_error symbol=%s status=%d body=%r", symbol, status, body[:200])


async def usdm_perpetuals(client: RestClient) -> list[str]:
    """Every trading USD-M perpetual from exchangeInfo (retried until the exchange answers)."""
    while True:
        answer = await client.get(EXCHANGE_INFO_PATH)
        if answer is not None and answer[0] == 200:
            try:
                info = json.loads(answer[1])
                return sorted(s["symbol"] for s in info["symbols"]
                              if s.get("contractType") == "PERPETUAL" and s.get("status") == "TRADING")
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("event=exchange_info_unreadable error=%r", str(exc))
        await asyncio.sleep(5.0)
