"""The WebSocket + HTTP server (aiohttp), a sink of the fan-out.

    GET /health                                    source status, sink queues, last bar and lag per key
    GET /factors/latest?symbol=&freq=&exchange=     newest row of each matching key (JSON array)
    GET /factors?symbol=&freq=&exchange=&since=&limit=   rows from the ring with bar_start > since
    GET /metrics                                   Prometheus text
    WS  /ws                                        {"op": "subscribe", ...} then one JSON text message per row

With a token, every request needs `Authorization: Bearer <token>` (WebSocket clients that
cannot set headers, i.e. browsers, may pass `?token=` on /ws instead); anything else gets 401
before any upgrade.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from aiohttp import WSMsgType, web

from ..errors import InputError
from ..rows import format_time
from ..telemetry import Metrics
from .chunk import RowChunk
from .fanout import Sink
from .ring import DEFAULT_CLIENT_QUEUE, DEFAULT_RING_SIZE, RowFilter, RowRing, make_frames
from .ws_client import GOING_AWAY_CODE, WsClient

log = logging.getLogger("streamliq.server")

HEARTBEAT_SECONDS = 30.0
MAX_CLIENT_MESSAGE = 64 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RowServer(Sink):
    """Serves the rows it is sent over HTTP and WebSocket, and keeps the last `ring_size` per key."""

    drop_oldest = True

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None,
                 ring_size: int = DEFAULT_RING_SIZE, client_queue: int = DEFAULT_CLIENT_QUEUE,
                 metrics: Metrics | None = None, health: Callable[[], dict] | None = None,
                 clock: Callable[[], float] = time.time, close_timeout: float = 2.0) -> None:
        if client_queue < 1:
            raise InputError(f"client queue must be at least 1 row (got {client_queue})")
        self.host, self.requested_port = host, port
        self.name = f"ws://{f'[{host}]' if ':' in host else host}:{port}"
        self.token = token or None
        self.ring = RowRing(ring_size)
        self.client_queue = client_queue
        self.metrics = metrics or Metrics()
        self.health = health or dict
        self.clock = clock
        self.close_timeout = close_timeout
        self.clients: set[WsClient] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def port(self) -> int:
        """The bound port (useful after asking for port 0)."""
        return self._site.port if self._site is not None else self.requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/health", self._health)
        app.router.add_get("/factors/latest", self._latest)
        app.router.add_get("/factors", self._factors)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/ws", self._ws)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=self.close_timeout)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.requested_port)
        try:
            await self._site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise InputError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc}") from None
        log.info("serving on http://%s:%d (WebSocket /ws)", self.host, self.port)

    @property
    def backlog(self) -> int:
        return max((client.live_queued for client in self.clients), default=0)

    @property
    def chunk_rows(self) -> int:
        """Half a client's queue while anyone subscribes: a paced source (a replay) then never
        overflows a client. With no subscriber, the sink queue's half, as any sink."""
        if any(client.where is not None for client in self.clients):
            return max(1, self.client_queue // 2)
        return super().chunk_rows

    async def send(self, rows: RowChunk) -> None:
        """Remember each row and offer it to every subscriber that wants it (never waits)."""
        if not self.clients:
            self.ring.store(rows)
            return
        wanted = [(key, entry) for key, entry in self.ring.add(rows) if any(c.wants(key) for c in self.clients)]
        make_frames(entry for _, entry in wanted)
        for key, entry in wanted:
            for client in self.clients:
                if client.wants(key) and not client.offer(entry.frame, rows.serial):
                    self.metrics.ws_cutoffs.inc()
                    log.warning("disconnecting a WebSocket client: %s", client.close_reason)
        rows.release()  # the frames are made: the ring needs the block, not the dicts

    async def close(self) -> None:
        for client in list(self.clients):
            client.cut(GOING_AWAY_CODE, "server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    # -- HTTP ----------------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler) -> web.StreamResponse:
        if self.token is None or self._authorized(request):
            return await handler(request)
        return web.json_response({"error": "unauthorized: send 'Authorization: Bearer <token>'"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="streamliq"'})

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" and request.path == "/ws":
            given = request.query.get("token", "")
        elif scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self.token.encode())

    async def _health(self, request: web.Request) -> web.Response:
        now = self.clock()
        bars = [{"exchange": ex, "symbol": sym, "freq": freq, "bar_end": format_time(end),
                 "lag_seconds": round(now - end / 1e6, 3)}
                for (ex, sym, freq), end in sorted(self.ring.last_bars().items())]
        body = {"status": "ok", "time": format_time(int(now * 1e6)), **self.health(),
                "ws_clients": len(self.clients), "bars": bars}
        return web.json_response(body)

    async def _latest(self, request: web.Request) -> web.Response:
        return _json_array(e.payload for e in make_frames(self.ring.latest(_filter(request))))

    async def _factors(self, request: web.Request) -> web.Response:
        where = _filter(request)
        after = _since(request.query.get("since"))
        limit = _limit(request.query.get("limit"))
        return _json_array(e.payload for e in make_frames(self.ring.since(where, after, limit)))

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.render(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    # -- WebSocket -------------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_CLIENT_MESSAGE,
                                   timeout=self.close_timeout)
        await ws.prepare(request)
        client = WsClient(ws, request, self.client_queue, self.close_timeout)
        self.clients.add(client)
        self.metrics.ws_clients.set(len(self.clients))
        try:
            await client.serve(self._read(client))
        finally:
            self.clients.discard(client)
            self.metrics.ws_clients.set(len(self.clients))
        return ws

    async def _read(self, client: WsClient) -> None:
        async for message in client.ws:
            if message.type != WSMsgType.TEXT:
                client.control({"type": "error", "error": "send JSON text messages"})
                continue
            try:
                self._command(client, json.loads(message.data))
            except (ValueError, InputError) as exc:
                client.control({"type": "error", "error": str(exc)})

    def _command(self, client: WsClient, command: object) -> None:
        if not isinstance(command, dict) or command.get("op") != "subscribe":
            raise InputError('unknown message: send {"op": "subscribe", "symbols": [...], "freqs": [...], '
                             '"backfill": N}')
        backfill = command.get("backfill", 0)
        if not isinstance(backfill, int) or isinstance(backfill, bool) or not 0 <= backfill <= self.ring.size:
            raise InputError(f"backfill must be a whole number of rows per key from 0 to {self.ring.size} "
                             f"(got {backfill!r})")
        where = RowFilter.build(command.get("exchanges"), command.get("symbols"), command.get("freqs"))
        client.subscribe(where, [e.frame for e in make_frames(self.ring.backfill(where, backfill))])


def _filter(request: web.Request) -> RowFilter:
    def listed(name: str) -> list[str] | None:
        value = request.query.get(name)
        return None if value is None else value.split(",")
    try:
        return RowFilter.build(listed("exchange"), listed("symbol"), listed("freq"))
    except InputError as exc:
        raise _bad_request(str(exc)) from None


def _since(text: str | None) -> int | None:
    """`since` as an ISO 8601 time (UTC unless it says otherwise) or epoch milliseconds -> µs."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text) * 1000
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _bad_request(f"since {text!r}: use an ISO 8601 time (2025-01-26T16:15:00Z) "
                           "or epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _limit(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise _bad_request(f"limit {text!r}: use a positive whole number")
    return int(text)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _json_array(payloads: Iterable[bytes]) -> web.Response:
    return web.Response(body=b"[" + b",".join(payloads) + b"]", content_type="application/json")
