"""In-process sinks: a Python callback per row, and the queue behind `streamliq.stream()`."""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable

from .chunk import RowChunk
from .fanout import Sink

RowCallback = Callable[[dict], None] | Callable[[dict], Awaitable[None]]


class CallbackSink(Sink):
    """Calls `callback(row)` for each row, in order; a coroutine function is awaited.

    A callback that raises loses only that row (counted and logged once per exception type).
    """

    def __init__(self, callback: RowCallback, name: str | None = None, queue_rows: int = 100_000) -> None:
        self.callback = callback
        self.name = name or f"callback:{getattr(callback, '__qualname__', 'callback')}"
        self.queue_rows = queue_rows
        self.is_async = inspect.iscoroutinefunction(callback)

    async def send(self, rows: RowChunk) -> None:
        for row in rows:
            try:
                if self.is_async:
                    await self.callback(row)
                else:
                    self.callback(row)
            except Exception as exc:
                self.report_drop(1, f"callback raised {type(exc).__name__}", str(exc) or repr(exc))


class IteratorSink(Sink):
    """Hands batches to one async consumer (`next_batch`); `send` waits while it is behind.

    While the consumer is busy, rows wait in this sink's fan-out queue, which drops the oldest
    when full: a consumer that falls more than `queue_rows` behind loses rows (counted).
    """

    name = "stream"
    READY_BATCHES = 2

    def __init__(self, queue_rows: int = 100_000) -> None:
        self.queue_rows = queue_rows
        self.batches: deque[list[dict]] = deque()
        self.finished = False
        self._ready = asyncio.Event()
        self._space = asyncio.Event()

    async def send(self, rows: RowChunk) -> None:
        while len(self.batches) >= self.READY_BATCHES:
            self._space.clear()
            await self._space.wait()
        self.batches.append(rows.dicts())
        self._ready.set()

    async def close(self) -> None:
        self.end()

    def end(self) -> None:
        """No more batches will come: the consumer stops after the ones it has not taken."""
        self.finished = True
        self._ready.set()

    async def next_batch(self) -> list[dict] | None:
        """The next batch, or None once the feed has finished and everything was taken."""
        while not self.batches:
            if self.finished:
                return None
            self._ready.clear()
            await self._ready.wait()
        batch = self.batches.popleft()
        self._space.set()
        return batch
