"""Binance REST with manners: honour 429/418 and Retry-After, watch the weight header, back off.

`RestClient.get` never raises for the exchange's behaviour: a refused or failed request returns
None after arranging the wait, and every request to the host waits until that pause is over.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import aiohttp

from .backoff import Backoff

log = logging.getLogger("streamliq.live")
WEIGHT_LIMIT_1M = 2400  # the IP's request-weight budget per UTC minute
WEIGHT_PAUSE_SHARE = 0.8  # at this share of the budget, wait for the next minute
DEFAULT_RETRY_AFTER_S = {429: 60.0, 418: 120.0}


@dataclass
class RestStats:
    requests: int = 0
    refused: int = 0  # 429 and 418 answers
    failures: int = 0  # network errors, timeouts, 5xx
    used_weight: int = 0  # the last X-MBX-USED-WEIGHT-1M seen


class RestClient:
    """GET requests against one REST host, shared by every poller of that host."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout_s: float = 10.0) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.stats = RestStats()
        self.backoff = Backoff(base=1.0, cap=60.0)
        self._paused_until = 0.0  # time.monotonic()

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, str] | None:
        """(status, body) of a GET, or None when it was refused or failed (the wait is arranged)."""
        await self._wait()
        self.stats.requests += 1
        try:
            async with self.session.get(self.base_url + path, params=params, timeout=self.timeout) as resp:
                body = await resp.text()
                self._note_weight(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
                if resp.status in (429, 418):
                    self.stats.refused += 1
                    self._pause(_retry_after(resp.headers.get("Retry-After"), resp.status),
                                f"HTTP {resp.status} on {path}")
                    return None
                if resp.status >= 500:
                    self._fail(f"HTTP {resp.status} on {path}")
                    return None
                self.backoff.reset()
                return resp.status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._fail(f"{type(exc).__name__} on {path}: {exc}")
            return None

    async def _wait(self) -> None:
        while (delay := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def _pause(self, seconds: float, why: str) -> None:
        seconds += random.uniform(0.0, 0.5)
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        log.warning("event=rest_pause host=%s reason=%r pause_s=%.1f", self.base_url, why, seconds)

    def _fail(self, why: str) -> None:
        self.stats.failures += 1
        self._pause(self.backoff.next(), why)

    def _note_weight(self, header: str | None) -> None:
        if header is None or not header.isdigit():
            return
        self.stats.used_weight = int(header)
        if self.stats.used_weight >= WEIGHT_LIMIT_1M * WEIGHT_PAUSE_SHARE:
            self._pause(60.0 - time.time() % 60.0, f"used weight {header} of {WEIGHT_LIMIT_1M}")


def _retry_after(header: str | None, status: int) -> float:
    try:
        return max(0.0, float(header))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S[status]
