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

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from fake_venue import (
    Conn,
    ConnectionInfo,
    Failure,
    FakeVenue,
    Frame,
    RequestRecord,
    compact,
    json_reply,
)
from websockets.asyncio.server import ServerConnection

__all__ = ["ConnectionInfo", "FakeBinance", "Frame", "RequestRecord", "compact", "encode", "json_reply"]
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


# ---------------------------------------------------------------- the fake

class FakeBinance(FakeVenue):
    """Both fake servers on free 127.0.0.1 ports, run by a background thread (see the module docstring)."""

    name = "binance"

    def __init__(self, symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT"), *, max_streams: int = 1024,
                 max_messages_per_second: int = 10, ping_interval: float | None = 180.0, pong_timeout: float = 600.0,
                 max_connection_age: float | None = None, weight_limit_per_minute: int = 2400,
                 wall_clock: Callable[[], float] = time.time, compression: str | None = None) -> None:
        super().__init__(max_streams=max_streams, max_messages_per_second=max_messages_per_second,
                         ping_interval=ping_interval, pong_timeout=pong_timeout,
                         max_connection_age=max_connection_age, compression=compression, wall_clock=wall_clock)
        self.weight_limit_per_minute = weight_limit_per_minute
        self._open_interest = {symbol: "100000.000" for symbol in symbols}
        self._series: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self._agg_ids: dict[str, itertools.count[int]] = {}
        self._weight_minute, self._weight_used = -1, 0

    def __enter__(self) -> FakeBinance:
        return self.start()

    # ---- WebSocket server

    def _accept(self, ws: ServerConnection) -> Conn:
        url = urlsplit(ws.request.path)
        parts = [part for part in url.path.split("/") if part]
        route = parts.pop(0) if parts[:1] in (["market"], ["public"], ["private"]) else None
        mode = parts.pop(0) if parts else "ws"
        initial = parts + [name for value in parse_qs(url.query).get("streams", []) for name in value.split("/")]
        conn = Conn(ws, next(self._conn_ids), route == "market", mode == "stream")
        self._subscribe(conn, initial)
        return conn

    def _payload(self, conn: Conn, frame: Frame) -> bytes:
        return frame.combined if conn.combined else frame.raw

    def _deliverable(self, conn: Conn, stream: str) -> bool:
        return conn.routed and deliverable_name(stream)

    def _replies(self, conn: Conn, text: str) -> list[str]:
        return [compact(self._reply(conn, text))]

    def _reply(self, conn: Conn, text: str) -> dict[str, Any]:
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

    # ---- WebSocket control (thread-safe)

    def push(self, stream: str, event: Event) -> int:
        """Deliver `event` to every connection subscribed to `stream`; returns the number of frames sent."""
        return self.push_many([(stream, event)])

    def push_many(self, frames: Iterable[Frame | tuple[str, Event]], per_second: float | None = None) -> int:
        """Deliver many frames in order: all in one loop turn, or paced at `per_second` frames a second.

        Pass frames from `encode()`/`synthetic_frames()` to keep serialization out of the measurement."""
        return self.push_frames((frame if isinstance(frame, Frame) else encode(*frame) for frame in frames),
                                per_second)

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

    # ---- REST server

    def _limit(self, path: str, now: float) -> web.Response | None:
        if int(now // 60) != self._weight_minute:
            self._weight_minute, self._weight_used = int(now // 60), 0
        weight = WEIGHTS.get(path, 0)
        self._weight_used += weight
        if weight and self._weight_used > self.weight_limit_per_minute:
            return failure_response(Failure(429, math.ceil(60 - now % 60), None, None))
        return None

    def _annotate(self, response: web.Response) -> None:
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(self._weight_used)

    def _failure_response(self, failure: Failure) -> web.Response:
        return failure_response(failure)

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


def binance_error(code: int, msg: str, status: int = 400) -> web.Response:
    return json_reply({"code": code, "msg": msg}, status)


def failure_response(failure: Failure) -> web.Response:
    headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
    if failure.body is not None:
        return web.Response(status=failure.status, text=failure.body, content_type="text/html", headers=headers)
    body = ERROR_BODIES.get(failure.status, {"code": -1000, "msg": "An unknown error occurred."})
    return json_reply(body, failure.status, headers)
