"""One Binance combined-stream websocket kept alive: connect, subscribe, receive, reconnect, rotate.

The connection talks to `<ws_url>/market/stream` (Binance routes liquidations, mark prices and
aggregate trades under `/market`; an un-routed URL acknowledges subscriptions and then delivers
nothing). Streams are added with SUBSCRIBE requests of at most `NAMES_PER_REQUEST` names, paced
`SUBSCRIBE_GAP_S` apart to stay well under the limit of 10 incoming messages per second.

Liveness is the websocket's own ping/pong (the `websockets` keepalive) and its errors: a quiet
liquidation stream is normal and never triggers a reconnect. A failed connection is reopened with
capped exponential backoff and jitter. Before Binance's 24 h cut-off the connection is rotated
make-before-break: the successor is opened and subscribed while the old one still delivers, then
the old one is closed; the core drops the frames both delivered.

Every frame and every outage is handed to `emit` as a record (see `records.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .backoff import Backoff

log = logging.getLogger("streamliq.live")
NAMES_PER_REQUEST = 100
SUBSCRIBE_GAP_S = 0.25
ACK_TIMEOUT_S = 10.0


@dataclass
class ConnectionStats:
    """What one logical connection did, for the summary and /health."""

    state: str = "connecting"
    connects: int = 0
    reconnects: int = 0
    rotations: int = 0
    frames: int = 0
    last_frame: float | None = None  # wall time
    last_error: str | None = None
    since: float = field(default_factory=time.time)


class StreamConnection:
    """A logical connection carrying `streams` (of `symbols`, or None for all-market streams)."""

    def __init__(self, name: str, url: str, streams: list[str], symbols: frozenset[str] | None,
                 emit: Callable[[dict], None], clock: Callable[[], int], rotate_after: float = 23 * 3600,
                 backoff: Backoff | None = None, ping_interval: float = 20.0) -> None:
        self.name = name
        self.url = url.rstrip("/") + "/market/stream"
        self.streams = streams
        self.symbols = symbols
        self.emit = emit
        self.clock = clock
        self.rotate_after = rotate_after
        self.backoff = backoff or Backoff()
        self.ping_interval = ping_interval
        self.stats = ConnectionStats()
        self._generation = 0
        self._next_id = 0
        self._socket_names: dict[ClientConnection, str] = {}

    def down(self, since: int) -> None:
        """Record that this connection's symbols are unseen from `since` (µs) until it is up."""
        self.stats.state = "down"
        self.emit({"t": self.clock(), "k": "down", "c": self.name,
                   "s": None if self.symbols is None else sorted(self.symbols), "since": since})

    async def run(self, down_since: int) -> None:
        """Keep the connection up until cancelled. Starts as down since `down_since`."""
        self.down(down_since)
        ws = await self._open()
        try:
            while True:
                ws = await self._serve(ws)
        finally:
            await self._close(ws)

    async def _serve(self, ws: ClientConnection) -> ClientConnection:
        """Deliver `ws`'s frames until it fails or is due for rotation; return its successor."""
        pump = asyncio.create_task(self._pump(ws))
        rotate = asyncio.create_task(asyncio.sleep(self.rotate_after))
        try:
            done, _ = await asyncio.wait({pump, rotate}, return_when=asyncio.FIRST_COMPLETED)
            if pump in done:
                self.stats.reconnects += 1
                self.down(self.clock())
                await self._close(ws)
                return await self._open()
            return await self._rotate(ws, pump)
        finally:
            await _cancel(rotate, pump)

    async def _rotate(self, old: ClientConnection, old_pump: asyncio.Task) -> ClientConnection:
        """Open and subscribe the successor while `old` still delivers, then close `old`."""
        log.info("event=rotate conn=%s age_s=%.0f", self.name, self.rotate_after)
        opening = asyncio.create_task(self._open(announce=False))
        try:
            done, _ = await asyncio.wait({opening, old_pump}, return_when=asyncio.FIRST_COMPLETED)
            if opening not in done:  # the old connection died first: an ordinary outage
                self.stats.reconnects += 1
                self.down(self.clock())
                await self._close(old)
                new = await opening
                self._up()
                return new
        finally:
            await _cancel(opening)
        self.stats.rotations += 1
        await _cancel(old_pump)
        await self._close(old)
        return opening.result()

    async def _open(self, announce: bool = True) -> ClientConnection:
        """Connect and subscribe, retrying with backoff until it works."""
        while True:
            ws = None
            try:
                ws = await connect(self.url, ping_interval=self.ping_interval, ping_timeout=self.ping_interval,
                                   close_timeout=1, max_size=1 << 24, open_timeout=10)
                self._generation += 1
                self._socket_names[ws] = f"{self.name}.{self._generation}"
                await self._subscribe(ws)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed, _Refused) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                delay = self.backoff.next()
                log.warning("event=connect_failed conn=%s error=%r retry_in_s=%.2f", self.name,
                            self.stats.last_error, delay)
                if ws is not None:
                    await self._close(ws)
                await asyncio.sleep(delay)
                continue
            self.backoff.reset()
            self.stats.connects += 1
            if announce:
                self._up()
            return ws

    def _up(self) -> None:
        self.stats.state = "up"
        self.stats.since = time.time()
        self.emit({"t": self.clock(), "k": "up", "c": self.name})
        log.info("event=subscribed conn=%s streams=%d url=%s", self.name, len(self.streams), self.url)

    async def _close(self, ws: ClientConnection) -> None:
        await ws.close()
        self._socket_names.pop(ws, None)

    async def _subscribe(self, ws: ClientConnection) -> None:
        """SUBSCRIBE every stream, paced; frames arriving meanwhile are delivered as usual."""
        for start in range(0, len(self.streams), NAMES_PER_REQUEST):
            self._next_id += 1
            request_id = self._next_id
            names = self.streams[start:start + NAMES_PER_REQUEST]
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": request_id}))
            deadline = time.monotonic() + ACK_TIMEOUT_S
            while True:
                text = await asyncio.wait_for(ws.recv(), timeout=max(0.0, deadline - time.monotonic()))
                reply = self._deliver(ws, text)
                if isinstance(reply, dict) and reply.get("id") == request_id:
                    if "code" in reply:
                        raise _Refused(f"SUBSCRIBE refused: {reply.get('code')} {reply.get('msg')}")
                    break
            await asyncio.sleep(SUBSCRIBE_GAP_S)

    async def _pump(self, ws: ClientConnection) -> None:
        """Deliver frames until the connection closes (for any reason)."""
        try:
            async for text in ws:
                self._deliver(ws, text)
        except ConnectionClosed as exc:
            self.stats.last_error = f"connection closed: {exc}"
            log.warning("event=disconnected conn=%s reason=%r", self.name, str(exc))
            return
        self.stats.last_error = "connection closed by the server"
        log.warning("event=disconnected conn=%s reason='closed by the server'", self.name)

    def _deliver(self, ws: ClientConnection, text: str | bytes) -> dict | None:
        """Emit a frame record; return the parsed message when it is a control reply.

        Frames are recorded under the socket's own name (`c0.3`), so the core can tell the two
        sockets of a rotation apart and drop what both delivered."""
        record = {"t": self.clock(), "k": "ws", "c": self._socket_names[ws], "m": text}
        if isinstance(text, bytes):  # Binance sends text frames only: the core counts these as bad input
            text = record["m"] = text.decode("utf-8", errors="replace")
            record["b"] = True
        self.stats.frames += 1
        self.stats.last_frame = time.time()
        self.emit(record)
        if text.startswith('{"result"') or text.startswith('{"id"') or '"code"' in text[:40]:
            with contextlib.suppress(ValueError):
                return json.loads(text)
        return None


async def _cancel(*tasks: asyncio.Task) -> None:
    """Cancel unfinished tasks and wait for them to end."""
    for task in tasks:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Refused(Exception):
    """The server answered a SUBSCRIBE with an error."""
