"""Redis Streams sink: one stream per (exchange, symbol, freq), one entry per closed bar.

    XADD streamliq:{exchange}:{symbol}:{freq} MAXLEN ~ N {bar_start_ms}-0 field value ...

The entry ID comes from `bar_start` (milliseconds), so Redis itself refuses a row it already
holds ("ID equal or smaller than the target stream top item"): a replay sent twice, or a
batch retried after a lost reply, is counted as duplicates, never stored twice. Field values
are strings: numbers as Python prints them (`repr`, exact round trip), missing values (NaN)
as the empty string, `gap` as `true`/`false`, bar times as ISO 8601 UTC.

When Redis is unreachable, `send` retries with exponential backoff while newer rows wait in
the sink's bounded fan-out queue (oldest dropped when full, counted); once Redis is back they
are written in order.
"""

from __future__ import annotations

import asyncio
import logging
import math

from ..errors import InputError
from ..rows import TIME_COLUMNS, format_time
from ..telemetry import Metrics
from .chunk import RowChunk
from .fanout import Sink
from .specs import SinkSpec

log = logging.getLogger("streamliq.sinks")

DUPLICATE_ERROR = "equal or smaller than the target stream top item"
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0


def stream_key(row: dict) -> str:
    return f"streamliq:{row['exchange']}:{row['symbol']}:{row['freq']}"


def entry_id(row: dict) -> str:
    return f"{row['bar_start'] // 1000}-0"


def redis_fields(row: dict) -> dict[str, str]:
    """A row as stream entry fields (see the module docstring for the encoding)."""
    out = {}
    for key, value in row.items():
        if key in TIME_COLUMNS:
            out[key] = format_time(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, float):
            out[key] = float.__repr__(value) if math.isfinite(value) else ""  # numpy floats print plainly too
        else:
            out[key] = str(value)
    return out


class RedisSink(Sink):
    """XADDs every row to its stream, idempotently; waits out Redis outages."""

    drop_oldest = True

    def __init__(self, spec: SinkSpec, metrics: Metrics | None = None, queue_rows: int = 100_000,
                 backoff_max: float = BACKOFF_MAX) -> None:
        self.spec = spec
        self.name = spec.text
        self.metrics = metrics or Metrics()
        self.queue_rows = queue_rows
        self.backoff_max = backoff_max
        self.written = 0
        self.duplicates = 0
        self.client = None
        self._down = False

    async def start(self) -> None:
        try:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise InputError(f"sink {self.name}: needs the redis package: pip install 'streamliq[redis]'") from None
        # No retries inside redis-py: `send` owns the retry loop, so the outage is counted and logged here.
        self.client = Redis(host=self.spec.host, port=self.spec.port, db=self.spec.db, retry=Retry(NoBackoff(), 0),
                            socket_connect_timeout=2.0, socket_timeout=5.0)

    async def send(self, rows: RowChunk) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        delay = BACKOFF_FIRST
        while True:
            try:
                await self._write(rows)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.metrics.sink_retries.labels(sink=self.name).inc()
                if not self._down:
                    self._down = True
                    log.warning("sink %s: Redis unreachable (%s); keeping rows and retrying", self.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            if self._down:
                self._down = False
                log.warning("sink %s: Redis reachable again", self.name)
            return

    async def _write(self, rows: list[dict]) -> None:
        from redis.exceptions import ResponseError

        pipe = self.client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(stream_key(row), redis_fields(row), id=entry_id(row), maxlen=self.spec.maxlen, approximate=True)
        results = await pipe.execute(raise_on_error=False)
        for row, result in zip(rows, results, strict=True):
            if not isinstance(result, ResponseError):
                self.written += 1
            elif DUPLICATE_ERROR in str(result):
                self.duplicates += 1
                self.metrics.sink_duplicates.labels(sink=self.name).inc()
            else:
                self.report_drop(1, "Redis refused the row", f"{stream_key(row)} {entry_id(row)}: {result}")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
