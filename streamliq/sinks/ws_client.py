"""One WebSocket subscriber: its filter, its bounded outgoing queue and its writer loop.

The server pushes ready-made frames synchronously (`offer`); the client's own task writes
them out, all frames queued at that moment in one write (one system call rather than one per
row: that is what lets one process feed dozens of bots), then waits for the socket to drain.
A client that stops reading lets its queue fill; the next row then cuts it off (code 1008,
"slow consumer: ..."), so the server never waits on it and never buffers without bound.
Control messages (acks, errors), backfill rows and rows published before the client subscribed
(still on their way to the server when it did) do not count against the live-row limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from .chunk import next_serial
from .ring import Key, RowFilter, text_frame

SLOW_CONSUMER_CODE = 1008  # policy violation
GOING_AWAY_CODE = 1001
WRITE_CHUNK_BYTES = 256 * 1024


class WsClient:
    """A connected subscriber; `where` is None until it subscribes."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, max_queue: int,
                 close_timeout: float) -> None:
        self.ws = ws
        self.transport = request.transport
        self.stream = request.writer
        self.max_queue = max_queue
        self.close_timeout = close_timeout
        self.where: RowFilter | None = None
        self.since = 0  # chunks with a larger serial were published after the subscription
        self.queue: deque[tuple[bytes, bool]] = deque()  # (frame, counts against the live limit)
        self.live_queued = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self._wake = asyncio.Event()
        self.writer: asyncio.Task | None = None

    def wants(self, key: Key) -> bool:
        return self.where is not None and self.close_code is None and self.where.matches(key)

    def offer(self, frame: bytes, serial: int) -> bool:
        """Queue one row of the chunk `serial`; False (and the client is being cut off) when it is
        live and the queue is full."""
        live = serial > self.since
        if live and self.live_queued >= self.max_queue:
            self.cut(SLOW_CONSUMER_CODE, f"slow consumer: queue full ({self.max_queue} rows)")
            return False
        self.queue.append((frame, live))
        self.live_queued += live
        self._wake.set()
        return True

    def control(self, message: dict) -> None:
        """Queue a control message (ack, error), delivered in order with the rows."""
        self.queue.append((text_frame(json.dumps(message, separators=(",", ":"))), False))
        self._wake.set()

    def subscribe(self, where: RowFilter, backfill: list[bytes]) -> None:
        """Replace the subscription: an ack, then the backfill rows, then live rows."""
        self.where = where
        self.since = next_serial()
        self.control({"type": "subscribed", **where.describe(), "backfill": len(backfill)})
        self.queue.extend((frame, False) for frame in backfill)
        self._wake.set()

    def cut(self, code: int, reason: str) -> None:
        """Stop sending: drop the queue and let `serve` close the connection with `code`."""
        if self.close_code is not None:
            return
        self.close_code, self.close_reason = code, reason
        self.queue.clear()
        self.live_queued = 0
        if self.writer is not None:
            self.writer.cancel()  # it may be stuck waiting for the socket to drain

    async def write_loop(self) -> None:
        while True:
            while self.queue:
                if self.transport is None or self.transport.is_closing():
                    return
                self.transport.write(self._take(WRITE_CHUNK_BYTES))
                await self.stream.drain()  # waits only while the socket's buffer is above its high-water mark
            self._wake.clear()
            await self._wake.wait()

    def _take(self, limit: int) -> bytes:
        """Queued frames, joined, up to about `limit` bytes."""
        frames, size = [], 0
        while self.queue and size < limit:
            frame, live = self.queue.popleft()
            self.live_queued -= live
            frames.append(frame)
            size += len(frame)
        return b"".join(frames)

    async def serve(self, read_loop: Coroutine[Any, Any, None]) -> None:
        """Run the writer and `read_loop` until either ends or the client is cut off; then close."""
        self.writer = asyncio.create_task(self.write_loop())
        reader = asyncio.create_task(read_loop)
        try:
            await asyncio.wait({self.writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (self.writer, reader):
                task.cancel()
            await asyncio.gather(self.writer, reader, return_exceptions=True)
            await self._close()

    async def _close(self) -> None:
        if self.ws.closed:
            return
        code = self.close_code or GOING_AWAY_CODE
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=self.close_reason.encode()), self.close_timeout)
        except (TimeoutError, ConnectionError):
            if self.transport is not None:  # the peer never took the close frame: drop the connection
                with contextlib.suppress(Exception):
                    self.transport.abort()
