"""What every fake exchange shares: a WebSocket server and a REST server on free 127.0.0.1 ports,
run by an asyncio loop in a background thread, with thread-safe controls.

A venue's fake (`fake_binance.py`, `fake_bybit.py`, `fake_okx.py`) subclasses `FakeVenue` and says
what is venue-specific: how a connection is accepted (`_accept`), how a client message is answered
(`_replies`), what a frame looks like on a connection (`_payload`) and the REST answers
(`_answer`). The base keeps the connection records, the per-connection message-rate limit, the
stream subscriptions pushes are delivered to, dropping and refusing connections, scripted REST
failures and the request log.

Every control method is thread-safe: it runs on the fake's loop and returns once done (a push
returns when the frames are written). From asyncio code, call them as
`await asyncio.to_thread(fake.push, ...)` so your own loop keeps running meanwhile. Times in
`connections()`, `connection_attempts()` and `requests()` are `time.monotonic()` seconds, the same
clock in every process of the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

SLICE, BUFFER_HIGH = 1000, 4 << 20  # push_many: frames per loop turn, write-buffer bytes to wait on


@dataclass(frozen=True, slots=True)
class Frame:
    """One event serialized once: the bare text for raw-mode connections, the wrapped one for
    Binance's combined mode (the same bytes on venues without modes). `stream` is the
    subscription the frame is delivered to."""

    stream: str
    raw: bytes
    combined: bytes


def plain_frame(stream: str, message: Any) -> Frame:
    """A frame delivered as the same JSON text on every connection subscribed to `stream`."""
    text = compact(message).encode()
    return Frame(stream, text, text)


def compact(data: Any) -> str:
    """JSON without spaces, as the venues send it."""
    return json.dumps(data, separators=(",", ":"))


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=compact)


@dataclass(frozen=True)
class ConnectionInfo:
    """A snapshot of one WebSocket connection (open or closed)."""

    id: int
    path: str  # as requested, with the query string
    streams: tuple[str, ...]  # subscriptions, in subscription order
    combined: bool
    routed: bool  # on a path that gets market data
    connected_at: float
    closed_at: float | None
    close_code: int | None
    received: tuple[tuple[float, str], ...]  # (monotonic time, text) of every client message

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class RequestRecord:
    """One REST request as the fake answered it."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass(frozen=True)
class Failure:
    status: int
    retry_after: int | None
    path: str | None
    body: str | None


class StreamLimit(Exception):
    """A subscription would exceed the per-connection stream limit."""


class Conn:
    """Mutable server-side state of one WebSocket connection."""

    def __init__(self, ws: ServerConnection, conn_id: int, routed: bool, combined: bool) -> None:
        self.ws, self.id, self.routed, self.combined = ws, conn_id, routed, combined
        self.streams: dict[str, None] = {}  # an ordered set
        self.connected_at = time.monotonic()
        self.closed_at: float | None = None
        self.received: list[tuple[float, str]] = []
        self.recent: deque[float] = deque()
        self.done = asyncio.Event()

    def snapshot(self) -> ConnectionInfo:
        return ConnectionInfo(self.id, self.ws.request.path, tuple(self.streams), self.combined, self.routed,
                              self.connected_at, self.closed_at, self.ws.close_code if self.closed_at else None,
                              tuple(self.received))


class FakeVenue:
    """Both fake servers of one venue; subclasses fill in the venue (see the module docstring)."""

    name = "venue"

    def __init__(self, *, max_streams: int, max_messages_per_second: int, ping_interval: float | None,
                 pong_timeout: float, max_connection_age: float | None, compression: str | None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.max_streams, self.max_messages_per_second = max_streams, max_messages_per_second
        self.max_connection_age = max_connection_age
        self._ping_interval, self._pong_timeout, self._compression = ping_interval, pong_timeout, compression
        self._wall_clock = wall_clock
        self._conns: list[Conn] = []
        self._subscribers: dict[str, set[Conn]] = {}
        self._conn_ids = itertools.count(1)
        self._attempts: list[float] = []
        self._refuse_until, self._refuse_status = 0.0, 503
        self._failures: deque[Failure] = deque()
        self._requests: list[RequestRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ws_server: Server | None = None
        self._runner: web.AppRunner | None = None
        self.ws_url = self.rest_url = ""

    # ---- what a venue says

    def _accept(self, ws: ServerConnection) -> Conn:
        """A new connection's state (and its subscriptions from the URL, if the venue has them)."""
        return Conn(ws, next(self._conn_ids), True, False)

    def _replies(self, conn: Conn, text: str) -> list[str]:
        """The answers to one client message, in order (StreamLimit to close the connection)."""
        raise NotImplementedError

    def _payload(self, conn: Conn, frame: Frame) -> bytes:
        return frame.raw

    def _deliverable(self, conn: Conn, stream: str) -> bool:
        return conn.routed

    def _answer(self, path: str, query: dict[str, str], now: float) -> web.Response:
        return web.Response(status=404, text="Not Found")

    def _limit(self, path: str, now: float) -> web.Response | None:
        """A refusal by the venue's request limits, or None."""
        return None

    def _annotate(self, response: web.Response) -> None:
        """Add the venue's headers to a REST response."""

    def _failure_response(self, failure: Failure) -> web.Response:
        headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
        return web.Response(status=failure.status, text=failure.body or "error", headers=headers)

    # ---- lifecycle

    def start(self) -> FakeVenue:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        try:
            self._run(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        try:
            self._run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FakeVenue:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._ws_server = await serve(self._handle_ws, "127.0.0.1", 0, process_request=self._admit,
                                      ping_interval=self._ping_interval, ping_timeout=self._pong_timeout,
                                      close_timeout=0.2, compression=self._compression)
        self.ws_url = f"ws://127.0.0.1:{self._ws_server.sockets[0].getsockname()[1]}"
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.rest_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _stop(self) -> None:
        if self._ws_server is not None:
            self._ws_server.close()
            closed = asyncio.ensure_future(self._ws_server.wait_closed())
            if not (await asyncio.wait({closed}, timeout=0.3))[0]:
                # A client that stopped reading (or whose loop died) never finishes the closing handshake.
                for conn in self._conns:
                    conn.ws.transport.abort()
                await closed
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coro: Any, timeout: float = 60.0) -> Any:
        """Run a coroutine on the fake's loop from any other thread and return its result."""
        if self._loop is None or threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(f"the fake {self.name} is not running, or was called from its own loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def invoke() -> Any:
            return fn(*args)
        return self._run(invoke())

    # ---- WebSocket server

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        self._attempts.append(time.monotonic())
        if time.monotonic() < self._refuse_until:
            return connection.respond(self._refuse_status, "Service Unavailable\n")
        return None

    async def _handle_ws(self, ws: ServerConnection) -> None:
        conn = None
        try:
            conn = self._accept(ws)
            self._conns.append(conn)
            async with asyncio.timeout(self.max_connection_age):
                async for message in ws:
                    if not await self._on_message(conn, message):
                        break
        except StreamLimit:
            await ws.close(1008, "Too many streams")
        except TimeoutError:
            await ws.close(1001, "Connection age limit")
        except ConnectionClosed:
            pass
        finally:
            if conn is not None:
                for stream in conn.streams:
                    self._subscribers.get(stream, set()).discard(conn)
                conn.closed_at = time.monotonic()
                conn.done.set()

    async def _on_message(self, conn: Conn, message: str | bytes) -> bool:
        """Answer one client message; False when the connection was closed for breaking a limit."""
        now = time.monotonic()
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        conn.received.append((now, text))
        conn.recent.append(now)
        while now - conn.recent[0] >= 1.0:
            conn.recent.popleft()
        if len(conn.recent) > self.max_messages_per_second:
            await conn.ws.close(1008, "Too many requests")
            return False
        try:
            replies = self._replies(conn, text)
        except StreamLimit:
            await conn.ws.close(1008, "Too many streams")
            return False
        for reply in replies:
            await conn.ws.send(reply)
        return True

    def _subscribe(self, conn: Conn, names: list[str]) -> None:
        new = [name for name in dict.fromkeys(names) if name not in conn.streams]
        if len(conn.streams) + len(new) > self.max_streams:
            raise StreamLimit
        for name in new:
            conn.streams[name] = None
            if self._deliverable(conn, name):
                self._subscribers.setdefault(name, set()).add(conn)

    def _unsubscribe(self, conn: Conn, names: list[str]) -> None:
        for name in names:
            conn.streams.pop(name, None)
            self._subscribers.get(name, set()).discard(conn)

    def _open(self, conn_filter: Callable[[ConnectionInfo], bool] | None) -> list[Conn]:
        return [conn for conn in self._conns if conn.closed_at is None and conn.ws.state is State.OPEN
                and (conn_filter is None or conn_filter(conn.snapshot()))]

    def _send_now(self, frames: Sequence[Frame]) -> int:
        """Queue the frames on their subscribers' protocols, then write each connection once (as
        `websockets.broadcast` does, without its per-call overhead)."""
        touched: dict[Conn, None] = {}
        delivered = 0
        for frame in frames:
            for conn in self._subscribers.get(frame.stream, ()):
                if conn.ws.state is State.OPEN:
                    conn.ws.protocol.send_text(self._payload(conn, frame))
                    touched[conn] = None
                    delivered += 1
        for conn in touched:
            conn.ws.send_data()
        return delivered

    async def _send(self, frames: list[Frame], per_second: float | None) -> int:
        """Send in slices: paced ones of ~10 ms, or unpaced ones of SLICE frames that wait while a
        subscriber's write buffer is over BUFFER_HIGH bytes (a slow reader bounds memory, not speed)."""
        loop, delivered = asyncio.get_running_loop(), 0
        start, step = loop.time(), SLICE if per_second is None else max(1, int(per_second / 100))
        for i in range(0, len(frames), step):
            batch = frames[i:i + step]
            if per_second is not None:  # no frame leaves before its time: frame k at start + k / per_second
                await asyncio.sleep(max(0.0, start + (i + len(batch) - 1) / per_second - loop.time()))
            while any(conn.ws.transport.get_write_buffer_size() > BUFFER_HIGH for conn in self._open(None)):
                await asyncio.sleep(0.001)
            delivered += self._send_now(batch)
        return delivered

    async def _drop(self, clean: bool, code: int, reason: str,
                    conn_filter: Callable[[ConnectionInfo], bool] | None) -> int:
        targets = self._open(conn_filter)
        for conn in targets:
            if not clean:
                conn.ws.transport.abort()
        if clean:
            await asyncio.gather(*(conn.ws.close(code, reason) for conn in targets))
        await asyncio.wait_for(asyncio.gather(*(conn.done.wait() for conn in targets)), 2.0)
        return len(targets)

    # ---- WebSocket control (thread-safe)

    def push_frames(self, frames: Iterable[Frame], per_second: float | None = None) -> int:
        """Deliver encoded frames in order to their streams' subscribers: all in one loop turn, or
        paced at `per_second` frames a second. Returns the number of frames sent."""
        frames = list(frames)
        timeout = 60.0 if per_second is None else 60.0 + len(frames) / per_second
        return self._run(self._send(frames, per_second), timeout)

    def push(self, stream: str, message: Any) -> int:
        """Deliver one JSON message to the subscribers of `stream`; returns the number of frames sent."""
        return self.push_frames([plain_frame(stream, message)])

    def push_raw(self, conn_filter: Callable[[ConnectionInfo], bool] | None, text: str) -> int:
        """Send arbitrary text to every open connection accepted by `conn_filter` (None: all of them)."""
        def send() -> int:
            targets = self._open(conn_filter)
            broadcast([conn.ws for conn in targets], text)
            return len(targets)
        return self._call(send)

    def drop_connections(self, *, clean: bool = False, code: int = 1000, reason: str = "",
                         conn_filter: Callable[[ConnectionInfo], bool] | None = None) -> int:
        """Close open connections: abruptly (TCP closed, no close frame) or cleanly with `code`.
        Returns once the server has finished with them."""
        return self._run(self._drop(clean, code, reason, conn_filter))

    def refuse_connections(self, seconds: float, status: int = 503) -> None:
        """Answer WebSocket handshakes with HTTP `status` for the next `seconds`."""
        def refuse() -> None:
            self._refuse_until, self._refuse_status = time.monotonic() + seconds, status
        self._call(refuse)

    def connections(self) -> list[ConnectionInfo]:
        """Every connection so far, open or closed, in connection order."""
        return self._call(lambda: [conn.snapshot() for conn in self._conns])

    def subscriptions(self) -> set[str]:
        """The stream names a push would reach now (deliverable, on an open connection)."""
        return self._call(lambda: {name for name, conns in self._subscribers.items()
                                   if any(conn.ws.state is State.OPEN for conn in conns)})

    def connection_attempts(self) -> list[float]:
        """Monotonic times of every WebSocket handshake attempt, refused ones included."""
        return self._call(lambda: list(self._attempts))

    def wait_until_subscribed(self, *streams: str, timeout: float = 5.0) -> None:
        """Block until every one of `streams` would be delivered by a push (TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        while not set(streams) <= self.subscriptions():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not subscribed in {timeout} s: {sorted(set(streams) - self.subscriptions())}")
            time.sleep(0.01)

    # ---- REST server

    async def _rest(self, request: web.Request) -> web.Response:
        at, path, query = time.monotonic(), request.path, dict(request.query)
        now = self._wall_clock()
        response = self._limit(path, now) or self._scripted_failure(path) or self._answer(path, query, now)
        self._annotate(response)
        self._requests.append(RequestRecord(at, request.method, path, query, response.status))
        return response

    def _scripted_failure(self, path: str) -> web.Response | None:
        for failure in self._failures:
            if failure.path is None or failure.path == path:
                self._failures.remove(failure)
                return self._failure_response(failure)
        return None

    # ---- REST control (thread-safe)

    def fail_next(self, n: int = 1, status: int = 429, retry_after: int | None = 2, path: str | None = None,
                  body: str | None = None) -> None:
        """Answer the next `n` REST requests (to `path` only, if given) with `status` and `Retry-After`.
        `body` replaces the venue's error body with that text (a non-JSON answer, e.g. an HTML error page)."""
        self._call(self._failures.extend, [Failure(status, retry_after, path, body)] * n)

    def requests(self, path: str | None = None) -> list[RequestRecord]:
        """The REST requests so far (to `path` only, if given), with monotonic arrival times."""
        return self._call(lambda: [record for record in self._requests if path is None or record.path == path])
