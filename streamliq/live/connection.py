"""One websocket of a venue kept alive: connect, subscribe, receive, reconnect, rotate.

Everything venue-specific comes from the venue (`streamliq/venues/`): the URL, the subscribe
requests (at most `args_per_request` streams each, `request_gap_s` apart, each acknowledged before
the next), the replies that acknowledge them, and the keep-alive: websocket ping frames (the
`websockets` keepalive, Binance) or an application ping (Bybit's JSON `ping` every 20 s, OKX's text
`ping` after 20 s of silence) whose missing answer closes the connection. A quiet liquidation
stream is normal and never triggers a reconnect by itself. A failed connection is reopened with
capped exponential backoff and jitter, attempts to one venue spaced by its `connect_gap_s`.
Before the venue's cut-off (Binance: 24 h) the connection is rotated make-before-break: the
successor is opened and subscribed while the old one still delivers, then the old one is closed;
the core drops the frames both delivered.

Every frame (but keep-alive answers) and every outage is handed to `emit` as a record (see
`records.py`), tagged with the venue's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ..venues.base import Control, Stream, Venue
from ..venues.registry import DEFAULT
from ..venues.registry import venue as registered
from .backoff import Backoff

log = logging.getLogger("streamliq.live")
ACK_TIMEOUT_S = 10.0


class ConnectPacer:
    """Spaces connection attempts to one venue at least `gap_s` apart (OKX: 3 per second)."""

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.gap_s
        if slot > now:
            await asyncio.sleep(slot - now)


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
    """A logical connection to `url` carrying `streams` (of `symbols`, or None for all-market streams)."""

    def __init__(self, name: str, url: str, streams: list[Stream], symbols: frozenset[str] | None,
                 emit: Callable[[dict], None], clock: Callable[[], int], rotate_after: float = 23 * 3600,
                 backoff: Backoff | None = None, venue: Venue | None = None, pacer: ConnectPacer | None = None) -> None:
        self.name = name
        self.url = url
        self.venue = venue = venue or registered(DEFAULT)
        self.pacer = pacer or ConnectPacer(venue.limits.connect_gap_s)
        self.streams = streams
        self.symbols = symbols
        self.emit = emit
        self.clock = clock
        self.rotate_after = rotate_after
        self.backoff = backoff or Backoff()
        self.stats = ConnectionStats()
        self._generation = 0
        self._next_id = 0
        self._socket_names: dict[ClientConnection, str] = {}
        self._received: dict[ClientConnection, float] = {}  # socket -> monotonic time of its last frame

    def down(self, since: int) -> None:
        """Record that this connection's symbols are unseen from `since` (µs) until it is up."""
        self.stats.state = "down"
        self.emit({"t": self.clock(), "k": "down", "c": self.name, "v": self.venue.name,
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
            ping = self.venue.keepalive.ws_ping_s
            try:
                await self.pacer.wait()
                ws = await connect(self.url, ping_interval=ping, ping_timeout=ping, close_timeout=1,
                                   max_size=1 << 24, open_timeout=10)
                self._generation += 1
                self._socket_names[ws] = f"{self.name}.{self._generation}"
                self._received[ws] = time.monotonic()
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
        self.emit({"t": self.clock(), "k": "up", "c": self.name, "v": self.venue.name})
        log.info("event=subscribed conn=%s streams=%d url=%s", self.name, len(self.streams), self.url)

    async def _close(self, ws: ClientConnection) -> None:
        await ws.close()
        self._socket_names.pop(ws, None)
        self._received.pop(ws, None)

    async def _subscribe(self, ws: ClientConnection) -> None:
        """Subscribe every stream, paced; frames arriving meanwhile are delivered as usual."""
        venue = self.venue
        for start in range(0, len(self.streams), venue.limits.args_per_request):
            self._next_id += 1
            request_id = self._next_id
            text, acks = venue.subscribe_request(self.streams[start:start + venue.limits.args_per_request], request_id)
            await ws.send(text)
            deadline = time.monotonic() + ACK_TIMEOUT_S
            while acks:
                frame = await asyncio.wait_for(ws.recv(), timeout=max(0.0, deadline - time.monotonic()))
                reply = self._deliver(ws, frame)
                if reply is not None and reply.request_id == request_id:
                    if not reply.ok:
                        raise _Refused(f"subscribe refused: {reply.error}")
                    acks -= 1
            await asyncio.sleep(venue.limits.request_gap_s)

    async def _pump(self, ws: ClientConnection) -> None:
        """Deliver frames until the connection closes (for any reason)."""
        keeper = asyncio.create_task(self._keep_alive(ws)) if self.venue.keepalive.text else None
        try:
            async for text in ws:
                self._deliver(ws, text)
        except ConnectionClosed as exc:
            self.stats.last_error = f"connection closed: {exc}"
            log.warning("event=disconnected conn=%s reason=%r", self.name, str(exc))
            return
        finally:
            if keeper is not None:
                await _cancel(keeper)
        self.stats.last_error = "connection closed by the server"
        log.warning("event=disconnected conn=%s reason='closed by the server'", self.name)

    async def _keep_alive(self, ws: ClientConnection) -> None:
        """Send the venue's ping text (every `every_s`, or after `every_s` of silence); a socket
        that then stays silent for `timeout_s` is closed, which ends its pump: a reconnect."""
        keepalive = self.venue.keepalive
        while True:
            wait = keepalive.every_s
            if keepalive.idle_only:
                wait -= time.monotonic() - self._received.get(ws, 0.0)
            if wait > 0:
                await asyncio.sleep(wait)
                if keepalive.idle_only:
                    continue  # look at the silence again: a frame may have come meanwhile
            sent = time.monotonic()
            await ws.send(keepalive.text)
            await asyncio.sleep(keepalive.timeout_s)
            if self._received.get(ws, 0.0) < sent:
                self.stats.last_error = f"no answer to the keep-alive ping in {keepalive.timeout_s:g} s"
                log.warning("event=keepalive_timeout conn=%s", self.name)
                await ws.close(1011, "keep-alive timeout")
                return
            if not keepalive.idle_only:
                await asyncio.sleep(max(0.0, keepalive.every_s - keepalive.timeout_s))

    def _deliver(self, ws: ClientConnection, text: str | bytes) -> Control | None:
        """Emit a frame record; return the parsed reply when it answers a request of ours.

        Frames are recorded under the socket's own name (`c0.3`), so the core can tell the two
        sockets of a rotation apart and drop what both delivered. Keep-alive answers are not
        recorded: they carry no market data."""
        binary = isinstance(text, bytes)
        if binary:
            text = text.decode("utf-8", errors="replace")
        self._received[ws] = time.monotonic()
        if not binary and self.venue.is_pong(text):
            return None
        self.stats.frames += 1
        self.stats.last_frame = time.time()
        record = {"t": self.clock(), "k": "ws", "c": self._socket_names[ws], "v": self.venue.name, "m": text}
        if binary:  # the venue's normalizer decides (the venues send JSON text: bad input)
            record["b"] = True
            self.emit(record)
            return None
        self.emit(record)
        return self.venue.control(text)


async def _cancel(*tasks: asyncio.Task) -> None:
    """Cancel unfinished tasks and wait for them to end."""
    for task in tasks:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Refused(Exception):
    """The server answered a subscribe request with an error."""
