"""A fake Bybit v5 public market stream and instruments endpoint on 127.0.0.1.

It follows `/work/shared/reference/bybit-okx.md` section 1 and the frames of `real-frames.md`:

* WebSocket paths `/v5/public/linear` and `/v5/public/inverse` (other paths accept the
  connection and acknowledge nothing). Requests `{"req_id", "op": "subscribe" | "unsubscribe",
  "args": [topics]}` get `{"success", "ret_msg", "conn_id", "req_id", "op"}`; a topic of an
  unknown symbol, or of a symbol of the other category, is refused with
  `"ret_msg": "error:handler not found,topic:<topic>"` (the text is a guess). `{"op": "ping"}` is
  answered `{"success": true, "ret_msg": "pong", ..., "op": "ping"}` (`answer_pings=False`
  makes it go silent). The args of one connection may total at most 21,000 characters: more
  closes it (1008, a guess: Bybit's exact behaviour is not documented).
* Topics: `allLiquidation.{symbol}` (a `data` list of `{T, s, S, v, p}` per push, `S` the
  position side), `tickers.{symbol}` (snapshot, then deltas), `publicTrade.{symbol}`.
* REST: `GET /v5/market/instruments-info?category=linear|inverse` with `retCode`/`result.list`.

Not emulated: server-side idle cut-off, 500 connections per 5 minutes, pagination cursors.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from fake_venue import Conn, FakeVenue, StreamLimit, compact, json_reply
from websockets.asyncio.server import ServerConnection

MAX_ARGS_CHARS = 21_000
CATEGORIES = ("linear", "inverse")


def category(symbol: str) -> str:
    return "linear" if symbol.endswith(("USDT", "USDC", "PERP")) else "inverse"


def liquidation_message(symbol: str, items: Iterable[tuple[int, str, str, str]], ts_ms: int) -> dict[str, Any]:
    """An `allLiquidation` push: items of (T ms, S position side, v size, p bankruptcy price)."""
    return {"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": ts_ms,
            "data": [{"T": t, "s": symbol, "S": side, "v": size, "p": price} for t, side, size, price in items]}


def ticker_message(symbol: str, ts_ms: int, kind: str = "snapshot", **fields: str) -> dict[str, Any]:
    """A `tickers` push; a delta carries only the fields given (markPrice, indexPrice, lastPrice,
    fundingRate, openInterest, ...)."""
    return {"topic": f"tickers.{symbol}", "type": kind, "data": {"symbol": symbol, **fields}, "cs": ts_ms * 10,
            "ts": ts_ms}


def trade_message(symbol: str, items: Iterable[tuple[int, str, str, str]], ts_ms: int) -> dict[str, Any]:
    """A `publicTrade` push: items of (T ms, S taker side, v size, p price)."""
    return {"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts_ms,
            "data": [{"T": t, "s": symbol, "S": side, "v": size, "p": price, "L": "PlusTick", "i": f"{t}-{n}",
                      "BT": False} for n, (t, side, size, price) in enumerate(items)]}


class FakeBybit(FakeVenue):
    """Bybit's linear and inverse public streams and its instruments endpoint."""

    name = "bybit"

    def __init__(self, symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT"), *, answer_pings: bool = True,
                 max_connection_age: float | None = None) -> None:
        super().__init__(max_streams=10_000, max_messages_per_second=50, ping_interval=None, pong_timeout=20.0,
                         max_connection_age=max_connection_age, compression=None)
        self.symbols = list(symbols)
        self.answer_pings = answer_pings
        self._conn_uuids = itertools.count(1)

    def __enter__(self) -> FakeBybit:
        return self.start()

    # ---- WebSocket

    def _accept(self, ws: ServerConnection) -> Conn:
        path = urlsplit(ws.request.path).path.rstrip("/")
        routed = path.removeprefix("/v5/public/") in CATEGORIES
        conn = Conn(ws, next(self._conn_ids), routed, False)
        conn.category = path.rsplit("/", 1)[-1]
        conn.uuid = f"c0ffee00-{next(self._conn_uuids):04d}-4a05-930a-2efe5fc70f0f"
        return conn

    def _reply(self, conn: Conn, request: dict[str, Any], success: bool, message: str = "") -> str:
        return compact({"success": success, "ret_msg": message, "conn_id": conn.uuid,
                        **({"req_id": request["req_id"]} if "req_id" in request else {}), "op": request.get("op")})

    def _replies(self, conn: Conn, text: str) -> list[str]:
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return [compact({"success": False, "ret_msg": "error:invalid request", "conn_id": conn.uuid})]
        op, args = request.get("op"), request.get("args", [])
        if op == "ping":
            return [self._reply(conn, request, True, "pong")] if self.answer_pings else []
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            return [self._reply(conn, request, False, f"error:unknown op {op}")]
        if op == "unsubscribe":
            self._unsubscribe(conn, args)
            return [self._reply(conn, request, True)]
        bad = [topic for topic in args if not self._known(conn, topic)]
        if bad:
            return [self._reply(conn, request, False, f"error:handler not found,topic:{bad[0]}")]
        if sum(len(topic) for topic in (*conn.streams, *args)) > MAX_ARGS_CHARS:
            raise StreamLimit
        self._subscribe(conn, args)
        return [self._reply(conn, request, True)]

    def _known(self, conn: Conn, topic: Any) -> bool:
        kind, _, symbol = str(topic).partition(".")
        return (kind in ("allLiquidation", "tickers", "publicTrade", "liquidation") and symbol in self.symbols
                and category(symbol) == conn.category)

    # ---- pushes (thread-safe)

    def push_liquidations(self, symbol: str, items: Iterable[tuple[int, str, str, str]], ts_ms: int) -> int:
        """One `allLiquidation.{symbol}` push of (T ms, S, v, p) items."""
        return self.push(f"allLiquidation.{symbol}", liquidation_message(symbol, items, ts_ms))

    def push_ticker(self, symbol: str, ts_ms: int, kind: str = "snapshot", **fields: str) -> int:
        return self.push(f"tickers.{symbol}", ticker_message(symbol, ts_ms, kind, **fields))

    # ---- REST

    def _answer(self, path: str, query: dict[str, str], now: float) -> web.Response:
        if path != "/v5/market/instruments-info":
            return web.Response(status=404, text="Not Found")
        wanted = query.get("category", "")
        if wanted not in CATEGORIES:
            return json_reply({"retCode": 10001, "retMsg": "params error: category invalid", "result": {},
                               "retExtInfo": {}, "time": int(now * 1000)})
        items = [self._instrument(symbol) for symbol in self.symbols if category(symbol) == wanted]
        return json_reply({"retCode": 0, "retMsg": "OK", "result": {"category": wanted, "list": items,
                                                                   "nextPageCursor": ""},
                           "retExtInfo": {}, "time": int(now * 1000)})

    @staticmethod
    def _instrument(symbol: str) -> dict[str, Any]:
        linear = category(symbol) == "linear"
        quote = next((q for q in ("USDT", "USDC") if symbol.endswith(q)), "USD")
        base = symbol.removesuffix(quote)
        return {"symbol": symbol, "contractType": "LinearPerpetual" if linear else "InversePerpetual",
                "status": "Trading", "baseCoin": base, "quoteCoin": quote, "settleCoin": quote if linear else base,
                "launchTime": "1585526400000", "deliveryTime": "0", "priceScale": "2",
                "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001"},
                "fundingInterval": 480}
