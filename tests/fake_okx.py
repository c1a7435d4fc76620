"""A fake OKX v5 public websocket and instruments endpoint on 127.0.0.1.

It follows `/work/shared/reference/bybit-okx.md` section 2 and the frames of `real-frames.md`:

* WebSocket path `/ws/v5/public`. `{"id", "op": "subscribe", "args": [{"channel", "instId" |
  "instType"}]}` is acknowledged argument by argument with `{"id", "event": "subscribe", "arg",
  "connId"}`; an unknown channel or instrument gets `{"id", "event": "error", "code": "60018",
  "msg", "connId"}` (code and text are guesses). The text `ping` is answered `pong`
  (`answer_pings=False` makes it go silent). `liquidation-orders` is subscribed per `instType`
  (SWAP) and carries every swap; right after that subscription the fake pushes a backlog frame
  (`backlog`: recent liquidations, which tardis-node drops as the first push).
* More than `max_connects_per_second` (3) handshakes within one second are refused with HTTP 429.
* Channels: `liquidation-orders` (`data[].details[]`), `mark-price`, `index-tickers` (by index
  `BTC-USDT`), `funding-rate`, `open-interest`, `tickers`, `trades`.
* REST: `GET /api/v5/public/instruments?instType=SWAP` with `ctVal`, `ctMult`, `ctValCcy`, `ctType`.

Not emulated: the 30 s idle cut-off, 480 subscribe requests per hour, service-upgrade notices.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from fake_venue import Conn, FakeVenue, compact, json_reply, plain_frame
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

# instId -> (ctVal, ctType); BTC-USDT-SWAP 0.01 BTC and BTC-USD-SWAP 100 USD as the reference cites
CONTRACTS = {"BTC-USDT-SWAP": ("0.01", "linear"), "ETH-USDT-SWAP": ("0.1", "linear"),
             "BTC-USD-SWAP": ("100", "inverse"), "CELO-USDT-SWAP": ("1", "linear")}
INSTRUMENT_CHANNELS = ("mark-price", "funding-rate", "open-interest", "tickers", "trades")
LIQUIDATIONS = "liquidation-orders:SWAP"


def arg_key(arg: dict[str, Any]) -> str:
    """The stream a subscription argument names: `mark-price:BTC-USDT-SWAP`, `liquidation-orders:SWAP`."""
    return f"{arg.get('channel')}:{arg.get('instId') or arg.get('instType')}"


def liquidation_message(inst_id: str, details: Iterable[tuple[str, str, str, int]]) -> dict[str, Any]:
    """A `liquidation-orders` push for one swap: details of (side, bkPx, sz contracts, ts ms)."""
    family = inst_id.removesuffix("-SWAP")
    return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [{"details": [{"bkLoss": "0", "bkPx": px, "ccy": "", "posSide": "net", "side": side, "sz": sz,
                                   "ts": str(ts)} for side, px, sz, ts in details],
                      "instFamily": family, "instId": inst_id, "instType": "SWAP", "uly": family}]}


def channel_message(channel: str, inst_id: str, ts_ms: int, **fields: str) -> dict[str, Any]:
    """A push of an instrument channel (`mark-price`: markPx, `index-tickers`: idxPx, ...)."""
    item = {"instId": inst_id, **fields, "ts": str(ts_ms)}
    if channel != "index-tickers":
        item["instType"] = "SWAP"
    return {"arg": {"channel": channel, "instId": inst_id}, "data": [item]}


class FakeOkx(FakeVenue):
    """OKX's public websocket (swaps) and its instruments endpoint."""

    name = "okx"

    def __init__(self, contracts: dict[str, tuple[str, str]] | None = None, *, answer_pings: bool = True,
                 backlog: Iterable[tuple[str, str, str, str, int]] = (("BTC-USDT-SWAP", "sell", "80000.1", "1",
                                                                        1_700_000_000_000),),
                 max_connects_per_second: int = 3) -> None:
        super().__init__(max_streams=10_000, max_messages_per_second=50, ping_interval=None, pong_timeout=20.0,
                         max_connection_age=None, compression=None)
        self.contracts = dict(CONTRACTS if contracts is None else contracts)
        self.answer_pings = answer_pings
        self.backlog = list(backlog)  # (instId, side, bkPx, sz, ts ms) pushed after subscribing
        self.max_connects_per_second = max_connects_per_second

    def __enter__(self) -> FakeOkx:
        return self.start()

    # ---- WebSocket

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        now = time.monotonic()
        if sum(1 for t in self._attempts if now - t < 1.0) >= self.max_connects_per_second:
            self._attempts.append(now)
            return connection.respond(429, "Too Many Requests\n")
        return super()._admit(connection, request)

    def _accept(self, ws: ServerConnection) -> Conn:
        conn = Conn(ws, next(self._conn_ids), ws.request.path.split("?")[0].rstrip("/") == "/ws/v5/public", False)
        conn.uuid = f"{conn.id:08x}"
        return conn

    def _replies(self, conn: Conn, text: str) -> list[str]:
        if text == "ping":
            return ["pong"] if self.answer_pings else []
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("op") not in ("subscribe", "unsubscribe"):
            return [compact({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:100]}",
                             "connId": conn.uuid})]
        ident = {"id": request["id"]} if "id" in request else {}
        replies = []
        for arg in request.get("args") or []:
            if not self._known(arg):
                replies.append(compact({**ident, "event": "error", "code": "60018",
                                        "msg": f"Wrong URL or channel:{compact(arg)}, doesn't exist.",
                                        "connId": conn.uuid}))
                continue
            (self._subscribe if request["op"] == "subscribe" else self._unsubscribe)(conn, [arg_key(arg)])
            replies.append(compact({**ident, "event": request["op"], "arg": arg, "connId": conn.uuid}))
            if request["op"] == "subscribe" and arg_key(arg) == LIQUIDATIONS and self.backlog:
                replies.append(plain_frame(LIQUIDATIONS, self._backlog()).raw.decode())
        return replies

    def _backlog(self) -> dict[str, Any]:
        message = liquidation_message(self.backlog[0][0], [])
        message["data"] = [liquidation_message(inst, [(side, px, sz, ts)])["data"][0]
                           for inst, side, px, sz, ts in self.backlog]
        return message

    def _known(self, arg: Any) -> bool:
        if not isinstance(arg, dict):
            return False
        channel, inst = arg.get("channel"), arg.get("instId")
        if channel == "liquidation-orders":
            return arg.get("instType") in ("SWAP", "FUTURES", "MARGIN", "OPTION")
        if channel == "index-tickers":
            return any(inst == symbol.removesuffix("-SWAP") for symbol in self.contracts)
        return channel in INSTRUMENT_CHANNELS and inst in self.contracts

    # ---- pushes (thread-safe)

    def push_liquidations(self, inst_id: str, details: Iterable[tuple[str, str, str, int]]) -> int:
        """One `liquidation-orders` push of (side, bkPx, sz, ts ms) details for `inst_id`."""
        return self.push(LIQUIDATIONS, liquidation_message(inst_id, details))

    def push_channel(self, channel: str, inst_id: str, ts_ms: int, **fields: str) -> int:
        return self.push(f"{channel}:{inst_id}", channel_message(channel, inst_id, ts_ms, **fields))

    # ---- REST

    def _answer(self, path: str, query: dict[str, str], now: float) -> web.Response:
        if path != "/api/v5/public/instruments":
            return web.Response(status=404, text="Not Found")
        if query.get("instType") != "SWAP":
            return json_reply({"code": "51000", "msg": "Parameter instType error", "data": []})
        return json_reply({"code": "0", "msg": "", "data": [self._instrument(inst) for inst in self.contracts]})

    def _instrument(self, inst_id: str) -> dict[str, Any]:
        value, kind = self.contracts[inst_id]
        base, quote = inst_id.split("-")[:2]
        return {"instType": "SWAP", "instId": inst_id, "uly": f"{base}-{quote}", "instFamily": f"{base}-{quote}",
                "ctVal": value, "ctMult": "1", "ctValCcy": base if kind == "linear" else quote, "ctType": kind,
                "settleCcy": quote if kind == "linear" else base, "lotSz": "0.01", "minSz": "0.01",
                "tickSz": "0.1", "state": "live", "listTime": "1611916828000", "expTime": ""}
