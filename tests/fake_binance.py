"""A fake Binance USD-M futures exchange on 127.0.0.1, for testing the live daemon without the internet.

It follows `/work/shared/reference/binance-usdm.md` (section numbers below refer to it):

* WebSocket (§1, §2, §3.1, §3.2): routed paths `/market/stream` (combined: every frame wrapped as
  `{"stream": name, "data": event}`) and `/market/ws` (raw; names may also be chained in the path,
  `/market/ws/a/b`); `?streams=a/b` subscribes at connect. Live `SUBSCRIBE`, `UNSUBSCRIBE`,
  `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`/`GET_PROPERTY combined` with the documented replies and error
  texts. Every other path (legacy `/stream`, `/ws`, `/public/...`) accepts the connection and
  acknowledges subscriptions but never delivers the `/market` streams: the silent failure after
  2026-04-23. `!forceOrder@arr` carries one event per frame, `!markPrice@arr@1s` carries arrays.
  Limits: more than `max_messages_per_second` (10) client messages within one second, or more than
  `max_streams` (1024) streams on one connection, close the connection. Server pings every
  `ping_interval` seconds (Binance: ~180), `max_connection_age` emulates the 24 h cut-off.
* REST (§4.1, §4.2, §4.4-4.7): `/fapi/v1/openInterest`, `/fapi/v1/exchangeInfo` and the five
  `/futures/data/*` statistics, the `X-MBX-USED-WEIGHT-1M` header counted per UTC clock minute,
  429 + `Retry-After` over `weight_limit_per_minute`, `{"code":-1121,"msg":"Invalid symbol."}`.

Behaviour the reference does not pin down; these are guesses (unverified):

* upper-case stream names (`BTCUSDT@forceOrder`) are acknowledged and listed, but never delivered;
* too many messages: close code 1008 reason "Too many requests"; too many streams: no reply, close
  1008 "Too many streams"; age cut-off: close code 1001; refused connections: HTTP 503;
* non-JSON messages get `{"code": 3, "msg": "Invalid JSON: ..."}` (code 3 is from the spot docs), bad
  SUBSCRIBE params `{"code": 2, "msg": "Invalid request: params must be a list of stream names"}`;
  only unsigned integer ids are accepted (the SDK also allows short strings); error replies carry
  `id` only when the request had a valid one;
* client pings and pongs are not counted towards the 10 messages/s (Binance counts them);
* error bodies of 429/418/500/503, the `-1102`/`-1130` parameter errors, and `/futures/data/*`
  returning the first `limit` rows from `startTime` (else the last `limit` rows); the
  1000 requests / 5 min limit of `/futures/data/*` is not emulated;
* no permessage-deflate by default (`compression=None`), so the fake stays cheap in benchmarks.

Usage: `with FakeBinance(["BTCUSDT"]) as fake:` gives `fake.ws_url` ("ws://127.0.0.1:PORT") and
`fake.rest_url`. The servers run on their own asyncio loop in a background thread, so the object
serves plain synchronous tests and daemons running in a subprocess alike. Every control method is
thread-safe: it runs on the fake's loop and returns once done (a push returns when the frames are
written). From asyncio code, call them as `await asyncio.to_thread(fake.push, ...)` so your own loop
keeps running meanwhile (a direct call works too but blocks your loop for that moment). Times in
`connections()`, `connection_attempts()` and `requests()` are `time.monotonic()` seconds, the same
clock in every process of the machine. `max_streams`, `max_messages_per_second`, `max_connection_age` and
`weight_limit_per_minute` are plain attributes that may be changed while running (they apply to new
messages, connections and requests).

Pushes reach only subscribed connections, so call `wait_until_subscribed(...)` before pushing to a
client that subscribes on its own. For benchmarks, build frames once with `encode()` or
`synthetic_frames()` and hand them to `push_many()`: it writes slices of SLICE frames per loop turn
(~150k frames/s on one core here) and waits while a reader has more than BUFFER_HIGH bytes unread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

Number = float | int | str
Event = dict[str, Any] | list[dict[str, Any]]

UNKNOWN_METHOD = ("Invalid request: unknown variant {}, expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, "
                  "SET_PROPERTY, GET_PROPERTY")
BAD_ID = "Invalid request: request ID must be an unsigned integer"
BAD_PARAMS = "Invalid request: params must be a list of stream names"
INVALID_JSON = "Invalid JSON: expected value at line 1 column 1"
PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
_RATIO_FIELDS = frozenset({"symbol", "longShortRatio", "longAccount", "shortAccount", "timestamp"})
SERIES_FIELDS = {
    "openInterestHist": frozenset({"symbol", "sumOpenInterest", "sumOpenInterestValue", "CMCCirculatingSupply",
                                   "timestamp"}),
    "topLongShortPositionRatio": _RATIO_FIELDS,
    "topLongShortAccountRatio": _RATIO_FIELDS,
    "globalLongShortAccountRatio": _RATIO_FIELDS,
    "takerlongshortRatio": frozenset({"buySellRatio", "buyVol", "sellVol", "timestamp"}),
}
SLICE, BUFFER_HIGH = 1000, 4 << 20  # push_many: frames per loop turn, write-buffer bytes to wait on
WEIGHTS = {"/fapi/v1/openInterest": 1, "/fapi/v1/exchangeInfo": 1}
ERROR_BODIES = {
    429: {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
                                "Please use the websocket for live updates to avoid polling the API."},
    418: {"code": -1003, "msg": "Way too many requests; IP(127.0.0.1) banned. "
                                "Please use the websocket for live updates to avoid bans."},
    500: {"code": -1000, "msg": "An unknown error occurred while processing the request."},
    503: {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
}


# ---------------------------------------------------------------- payloads (documented field sets only)

def num(value: Number) -> str:
    """A number as Binance writes it in JSON: a plain decimal string. Strings pass unchanged (keep padding)."""
    return value if isinstance(value, str) else format(Decimal(str(value)), "f")


def fixed(value: Number, places: int) -> str:
    """A number with exactly `places` decimals, rounded from its shortest decimal form (not the binary float)."""
    return format(Decimal(num(value)), f".{places}f")


def force_order_event(symbol: str, side: str, price: Number, qty: Number, trade_time_ms: int, *,
                      avg_price: Number | None = None, filled_qty: Number | None = None,
                      last_qty: Number | None = None, status: str = "FILLED", event_time_ms: int | None = None,
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `forceOrder` event (§2.2); `extra` adds top-level fields such as the COIN-M `st`/`ps` (§2.3)."""
    return {"e": "forceOrder", "E": trade_time_ms + 4 if event_time_ms is None else event_time_ms, **(extra or {}),
            "o": {"s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": num(qty), "p": num(price),
                  "ap": num(price if avg_price is None else avg_price), "X": status,
                  "l": num(qty if last_qty is None else last_qty), "z": num(qty if filled_qty is None else filled_qty),
                  "T": trade_time_ms}}


def mark_price_event(symbol: str, mark: Number, index: Number, funding: Number, next_funding_ms: int,
                     event_time_ms: int, *, avg_mark: Number | None = None, settle: Number | None = None,
                     symbol_type: int = 1) -> dict[str, Any]:
    """A `markPriceUpdate` event (§3.1); `funding=""` and `next_funding_ms=0` for non-perpetuals."""
    return {"e": "markPriceUpdate", "E": event_time_ms, "s": symbol, "p": num(mark),
            "ap": num(mark if avg_mark is None else avg_mark), "P": num(mark if settle is None else settle),
            "i": num(index), "r": num(funding), "T": next_funding_ms, "st": symbol_type}


def agg_trade_event(symbol: str, price: Number, qty: Number, buyer_is_maker: bool, trade_time_ms: int, *,
                    agg_id: int = 1, first_trade_id: int | None = None, last_trade_id: int | None = None,
                    non_rpi_qty: Number | None = None, event_time_ms: int | None = None,
                    symbol_type: int = 1) -> dict[str, Any]:
    """An `aggTrade` event (§3.2); `m` true means the taker sold."""
    first = agg_id if first_trade_id is None else first_trade_id
    return {"e": "aggTrade", "E": trade_time_ms + 150 if event_time_ms is None else event_time_ms, "a": agg_id,
            "s": symbol, "p": num(price), "q": num(qty), "nq": num(qty if non_rpi_qty is None else non_rpi_qty),
            "f": first, "l": first if last_trade_id is None else last_trade_id, "T": trade_time_ms,
            "m": buyer_is_maker, "st": symbol_type}


def long_short_row(symbol: str, long_share: float, timestamp_ms: int) -> dict[str, Any]:
    """A row of the three long/short ratio endpoints (§4.4-4.6): ratio = long share / short share."""
    short_share = 1.0 - long_share
    return {"symbol": symbol, "longShortRatio": fixed(long_share / short_share, 4), "longAccount": fixed(long_share, 4),
            "shortAccount": fixed(short_share, 4), "timestamp": timestamp_ms}


def taker_row(buy_vol: float, sell_vol: float, timestamp_ms: int) -> dict[str, Any]:
    """A `takerlongshortRatio` row (§4.7); it has no symbol field."""
    return {"buySellRatio": fixed(buy_vol / sell_vol, 4), "buyVol": fixed(buy_vol, 4), "sellVol": fixed(sell_vol, 4),
            "timestamp": timestamp_ms}


def open_interest_hist_row(symbol: str, sum_oi: float, sum_oi_value: float, timestamp_ms: int,
                           supply: float = 20_086_328.0) -> dict[str, Any]:
    """An `openInterestHist` row (§4.3)."""
    return {"symbol": symbol, "sumOpenInterest": fixed(sum_oi, 8), "sumOpenInterestValue": fixed(sum_oi_value, 8),
            "CMCCirculatingSupply": fixed(supply, 8), "timestamp": timestamp_ms}


@dataclass(frozen=True, slots=True)
class Frame:
    """One event serialized once: the bare text for raw-mode connections, the wrapped one for combined mode."""

    stream: str
    raw: bytes
    combined: bytes


def encode(stream: str, event: Event) -> Frame:
    """Serialize an event for `stream` (do this ahead of time to push frames as fast as possible)."""
    raw = compact(event)
    return Frame(stream, raw.encode(), f'{{"stream":{json.dumps(stream)},"data":{raw}}}'.encode())


def synthetic_frames(symbols: Sequence[str], n: int, start_ms: int = 1_791_382_992_000) -> list[Frame]:
    """`n` encoded frames cycling over `symbols` for benchmarks: per round of symbols one `!forceOrder@arr`
    round, one `<s>@markPrice@1s` round, then eight `<s>@aggTrade` rounds; times advance 1 ms a frame."""
    frames = []
    for i in range(n):
        symbol, kind, t = symbols[i % len(symbols)], (i // len(symbols)) % 10, start_ms + i
        price = 100.0 + (i % 977) / 100
        if kind == 0:
            frames.append(encode("!forceOrder@arr", force_order_event(symbol, "SELL", price, 1.5, t)))
        elif kind == 1:
            frames.append(encode(f"{symbol.lower()}@markPrice@1s",
                                 mark_price_event(symbol, price, price, "0.00010000", start_ms + 28_800_000, t)))
        else:
            frames.append(encode(f"{symbol.lower()}@aggTrade", agg_trade_event(symbol, price, 0.25, i % 2 == 0, t,
                                                                                agg_id=i)))
    return frames


def deliverable_name(stream: str) -> bool:
    """Whether Binance would deliver this name: all-market names (`!...`) or a lower-case symbol part."""
    symbol_part = stream.split("@", 1)[0]
    return stream.startswith("!") or symbol_part == symbol_part.lower()


# ---------------------------------------------------------------- state and introspection records

@dataclass(frozen=True)
class ConnectionInfo:
    """A snapshot of one WebSocket connection (open or closed)."""

    id: int
    path: str  # as requested, with the query string
    streams: tuple[str, ...]  # subscriptions, in subscription order
    combined: bool
    routed: bool  # on /market, so it gets market data
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
class _Failure:
    status: int
    retry_after: int | None
    path: str | None
    body: str | None


class _StreamLimit(Exception):
    """A subscription would exceed the per-connection stream limit."""


class _Conn:
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


# ---------------------------------------------------------------- the fake

class FakeBinance:
    """Both fake servers on free 127.0.0.1 ports, run by a background thread (see the module docstring)."""

    def __init__(self, symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT"), *, max_streams: int = 1024,
                 max_messages_per_second: int = 10, ping_interval: float | None = 180.0, pong_timeout: float = 600.0,
                 max_connection_age: float | None = None, weight_limit_per_minute: int = 2400,
                 wall_clock: Callable[[], float] = time.time, compression: str | None = None) -> None:
        self.max_streams, self.max_messages_per_second = max_streams, max_messages_per_second
        self.max_connection_age, self.weight_limit_per_minute = max_connection_age, weight_limit_per_minute
        self._ping_interval, self._pong_timeout, self._compression = ping_interval, pong_timeout, compression
        self._wall_clock = wall_clock
        self._open_interest = {symbol: "100000.000" for symbol in symbols}
        self._series: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self._conns: list[_Conn] = []
        self._subscribers: dict[str, set[_Conn]] = {}
        self._conn_ids = itertools.count(1)
        self._agg_ids: dict[str, itertools.count[int]] = {}
        self._attempts: list[float] = []
        self._refuse_until, self._refuse_status = 0.0, 503
        self._failures: deque[_Failure] = deque()
        self._requests: list[RequestRecord] = []
        self._weight_minute, self._weight_used = -1, 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ws_server: Server | None = None
        self._runner: web.AppRunner | None = None
        self.ws_url = self.rest_url = ""

    # ---- lifecycle

    def start(self) -> FakeBinance:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-binance", daemon=True)
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

    def __enter__(self) -> FakeBinance:
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
            raise RuntimeError("FakeBinance is not running, or was called from its own loop thread")
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
        url = urlsplit(ws.request.path)
        parts = [part for part in url.path.split("/") if part]
        route = parts.pop(0) if parts[:1] in (["market"], ["public"], ["private"]) else None
        mode = parts.pop(0) if parts else "ws"
        initial = parts + [name for value in parse_qs(url.query).get("streams", []) for name in value.split("/")]
        conn = _Conn(ws, next(self._conn_ids), route == "market", mode == "stream")
        self._conns.append(conn)
        try:
            self._subscribe(conn, initial)
            async with asyncio.timeout(self.max_connection_age):
                async for message in ws:
                    if not await self._on_message(conn, message):
                        break
        except _StreamLimit:
            await ws.close(1008, "Too many streams")
        except TimeoutError:
            await ws.close(1001, "Connection age limit")
        except ConnectionClosed:
            pass
        finally:
            for stream in conn.streams:
                self._subscribers.get(stream, set()).discard(conn)
            conn.closed_at = time.monotonic()
            conn.done.set()

    async def _on_message(self, conn: _Conn, message: str | bytes) -> bool:
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
            reply = self._reply(conn, text)
        except _StreamLimit:
            await conn.ws.close(1008, "Too many streams")
            return False
        await conn.ws.send(compact(reply))
        return True

    def _reply(self, conn: _Conn, text: str) -> dict[str, Any]:
        try:
            request = json.loads(text)
        except ValueError:
            return {"code": 3, "msg": INVALID_JSON}
        if not isinstance(request, dict):
            return {"code": 3, "msg": INVALID_JSON}
        request_id, method, params = request.get("id"), request.get("method"), request.get("params", [])
        if type(request_id) is not int or request_id < 0:
            return {"code": 2, "msg": BAD_ID}
        result: Any = None
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(name, str) for name in params):
                return {"code": 2, "msg": BAD_PARAMS, "id": request_id}
            (self._subscribe if method == "SUBSCRIBE" else self._unsubscribe)(conn, params)
        elif method == "LIST_SUBSCRIPTIONS":
            result = list(conn.streams)
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            error = property_error(method, params)
            if error is not None:
                return {**error, "id": request_id}
            if method == "SET_PROPERTY":
                conn.combined = params[1]
            else:
                result = conn.combined
        else:
            return {"code": 2, "msg": UNKNOWN_METHOD.format(method), "id": request_id}
        return {"result": result, "id": request_id}

    def _subscribe(self, conn: _Conn, names: list[str]) -> None:
        new = [name for name in dict.fromkeys(names) if name not in conn.streams]
        if len(conn.streams) + len(new) > self.max_streams:
            raise _StreamLimit
        for name in new:
            conn.streams[name] = None
            if conn.routed and deliverable_name(name):
                self._subscribers.setdefault(name, set()).add(conn)

    def _unsubscribe(self, conn: _Conn, names: list[str]) -> None:
        for name in names:
            conn.streams.pop(name, None)
            self._subscribers.get(name, set()).discard(conn)

    def _open(self, conn_filter: Callable[[ConnectionInfo], bool] | None) -> list[_Conn]:
        return [conn for conn in self._conns if conn.closed_at is None and conn.ws.state is State.OPEN
                and (conn_filter is None or conn_filter(conn.snapshot()))]

    def _send_now(self, frames: Sequence[Frame]) -> int:
        """Queue the frames on their subscribers' protocols, then write each connection once (as
        `websockets.broadcast` does, without its per-call overhead)."""
        touched: dict[_Conn, None] = {}
        delivered = 0
        for frame in frames:
            for conn in self._subscribers.get(frame.stream, ()):
                if conn.ws.state is State.OPEN:
                    conn.ws.protocol.send_text(frame.combined if conn.combined else frame.raw)
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

    def push(self, stream: str, event: Event) -> int:
        """Deliver `event` to every connection subscribed to `stream`; returns the number of frames sent."""
        return self.push_many([(stream, event)])

    def push_many(self, frames: Iterable[Frame | tuple[str, Event]], per_second: float | None = None) -> int:
        """Deliver many frames in order: all in one loop turn, or paced at `per_second` frames a second.

        Pass frames from `encode()`/`synthetic_frames()` to keep serialization out of the measurement."""
        encoded = [frame if isinstance(frame, Frame) else encode(*frame) for frame in frames]
        timeout = 60.0 if per_second is None else 60.0 + len(encoded) / per_second
        return self._run(self._send(encoded, per_second), timeout)

    def push_force_order(self, symbol: str, side: str, price: Number, qty: Number, trade_time_ms: int,
                         **options: Any) -> int:
        """One liquidation to `<sym>@forceOrder` and `!forceOrder@arr` subscribers (options: force_order_event)."""
        event = force_order_event(symbol, side, price, qty, trade_time_ms, **options)
        return self.push_many([(f"{symbol.lower()}@forceOrder", event), ("!forceOrder@arr", event)])

    def push_mark_price(self, symbol: str, mark: Number, index: Number, funding: Number, next_funding_ms: int,
                        event_time_ms: int, **options: Any) -> int:
        """One mark price to `<sym>@markPrice@1s` and, as a one-element array, to `!markPrice@arr@1s`."""
        return self.push_mark_prices([mark_price_event(symbol, mark, index, funding, next_funding_ms, event_time_ms,
                                                       **options)])

    def push_mark_prices(self, events: list[dict[str, Any]]) -> int:
        """Each event to its `<sym>@markPrice@1s`, and all of them as one array to `!markPrice@arr@1s`."""
        frames: list[tuple[str, Event]] = [(f"{event['s'].lower()}@markPrice@1s", event) for event in events]
        return self.push_many([*frames, ("!markPrice@arr@1s", events)])

    def push_agg_trade(self, symbol: str, price: Number, qty: Number, buyer_is_maker: bool, trade_time_ms: int,
                       **options: Any) -> int:
        """One trade to `<sym>@aggTrade`; the aggregate id counts up per symbol unless `agg_id` is given."""
        options.setdefault("agg_id", next(self._agg_ids.setdefault(symbol, itertools.count(1))))
        event = agg_trade_event(symbol, price, qty, buyer_is_maker, trade_time_ms, **options)
        return self.push(f"{symbol.lower()}@aggTrade", event)

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
        """The stream names a push would reach now (routed, deliverable, on an open connection)."""
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
        if int(now // 60) != self._weight_minute:
            self._weight_minute, self._weight_used = int(now // 60), 0
        weight = WEIGHTS.get(path, 0)
        self._weight_used += weight
        response = self._refusal(path, weight, now) or self._answer(path, query, now)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(self._weight_used)
        self._requests.append(RequestRecord(at, request.method, path, query, response.status))
        return response

    def _refusal(self, path: str, weight: int, now: float) -> web.Response | None:
        if weight and self._weight_used > self.weight_limit_per_minute:
            return failure_response(_Failure(429, math.ceil(60 - now % 60), None, None))
        for failure in self._failures:
            if failure.path is None or failure.path == path:
                self._failures.remove(failure)
                return failure_response(failure)
        return None

    def _answer(self, path: str, query: dict[str, str], now: float) -> web.Response:
        if path == "/fapi/v1/exchangeInfo":
            return json_reply(self._exchange_info(now))
        if path != "/fapi/v1/openInterest" and not path.startswith("/futures/data/"):
            return web.Response(status=404, text="Not Found")
        symbol = query.get("symbol", "").upper()
        if not symbol:
            return binance_error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol not in self._open_interest:
            return binance_error(-1121, "Invalid symbol.")
        if path == "/fapi/v1/openInterest":
            return json_reply({"symbol": symbol, "openInterest": self._open_interest[symbol],
                                      "time": int(now * 1000)})
        return self._series_answer(path.removeprefix("/futures/data/"), symbol, query)

    def _series_answer(self, endpoint: str, symbol: str, query: dict[str, str]) -> web.Response:
        if endpoint not in SERIES_FIELDS:
            return web.Response(status=404, text="Not Found")
        period = query.get("period", "")
        if period not in PERIODS:
            return binance_error(-1130, "Data sent for parameter 'period' is not valid.")
        try:
            limit = int(query.get("limit", "30"))
            start, end = int(query.get("startTime", "0")), int(query.get("endTime", str(2**62)))
        except ValueError:
            return binance_error(-1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= 500:
            return binance_error(-1130, "Data sent for parameter 'limit' is not valid.")
        rows = [row for row in self._series.get((endpoint, symbol, period), []) if start <= row["timestamp"] <= end]
        return json_reply(rows[:limit] if "startTime" in query else rows[-limit:])

    def _exchange_info(self, now: float) -> dict[str, Any]:
        return {
            "timezone": "UTC", "serverTime": int(now * 1000), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.weight_limit_per_minute},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [], "assets": [],
            "symbols": [{"symbol": symbol, "pair": symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
                         "onboardDate": 1569398400000, "status": "TRADING", "baseAsset": symbol.removesuffix("USDT"),
                         "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2, "quantityPrecision": 3,
                         "underlyingType": "COIN", "filters": []}
                        for symbol in self._open_interest],
        }

    # ---- REST control (thread-safe)

    def set_open_interest(self, symbol: str, value: Number) -> None:
        """Set the open interest `/fapi/v1/openInterest` answers for `symbol` (adding the symbol if new)."""
        self._call(self._open_interest.__setitem__, symbol, num(value))

    def set_series(self, endpoint: str, symbol: str, rows: list[dict[str, Any]], period: str = "5m") -> None:
        """Set the rows a `/futures/data/<endpoint>` query filters (each row must have the documented fields)."""
        fields = SERIES_FIELDS[endpoint]
        for row in rows:
            if set(row) != fields:
                raise ValueError(f"{endpoint} rows have the fields {sorted(fields)}, not {sorted(row)}")
        ordered = sorted(rows, key=lambda row: row["timestamp"])
        self._call(self._series.__setitem__, (endpoint, symbol, period), ordered)

    def fail_next(self, n: int = 1, status: int = 429, retry_after: int | None = 2, path: str | None = None,
                  body: str | None = None) -> None:
        """Answer the next `n` REST requests (to `path` only, if given) with `status` and `Retry-After`.
        `body` replaces the JSON error body with that text (a non-JSON answer, e.g. an HTML error page)."""
        self._call(self._failures.extend, [_Failure(status, retry_after, path, body)] * n)

    def requests(self, path: str | None = None) -> list[RequestRecord]:
        """The REST requests so far (to `path` only, if given), with monotonic arrival times."""
        return self._call(lambda: [record for record in self._requests if path is None or record.path == path])


def property_error(method: str, params: Any) -> dict[str, Any] | None:
    """The error reply for a bad SET_PROPERTY/GET_PROPERTY request, or None if it is valid."""
    arity = 2 if method == "SET_PROPERTY" else 1
    if not isinstance(params, list) or len(params) != arity or not isinstance(params[0], str):
        return {"code": 2, "msg": "Invalid request: property name must be a string"}
    if params[0] != "combined":
        return {"code": 0, "msg": "Unknown property"}
    if arity == 2 and not isinstance(params[1], bool):
        return {"code": 1, "msg": "Invalid value type: expected Boolean"}
    return None


def compact(data: Any) -> str:
    """JSON without spaces, as Binance sends it."""
    return json.dumps(data, separators=(",", ":"))


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=compact)


def binance_error(code: int, msg: str, status: int = 400) -> web.Response:
    return json_reply({"code": code, "msg": msg}, status)


def failure_response(failure: _Failure) -> web.Response:
    headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
    if failure.body is not None:
        return web.Response(status=failure.status, text=failure.body, content_type="text/html", headers=headers)
    body = ERROR_BODIES.get(failure.status, {"code": -1000, "msg": "An unknown error occurred."})
    return json_reply(body, failure.status, headers)
