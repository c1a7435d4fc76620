"""OKX v5 public streams of perpetual swaps, normalized as Tardis' `okex-swap` exchange.

Websocket: `<ws_url>/ws/v5/public`. Subscribe with `{"id", "op": "subscribe", "args": [{"channel",
"instId" | "instType"}]}`; OKX acknowledges each argument on its own
(`{"id", "event": "subscribe", "arg": {...}}`) and refuses with `{"event": "error", "code", "msg"}`.
Keep-alive: OKX closes a connection that received nothing for 30 s, so when nothing arrived for
20 s the plain text `ping` is sent and `pong` must follow. Limits: 3 connection attempts per
second per IP (attempts are spaced `connect_gap_s`), 480 subscribe requests per hour per
connection (100 arguments a request keeps a reconnect at a handful).

Channels (tardis-node's `okex` mappers):

- `liquidation-orders` (instType SWAP, one subscription for every swap, so it lives on one
  connection whose outage covers all OKX instruments) -> liquidations, one per `details[]` item:
  `side` is the liquidation *order's* side (`sell` closes a long), kept as it is; price `bkPx`,
  amount `sz` contracts times `ctVal` (FACTORS.md 9), `ts` from the item. As tardis-node does, the
  first push after each (re)subscription is dropped: it replays recent liquidations already seen.
  OKX says the channel is not the total liquidation volume (see the README, "Venues").
- `mark-price` (`markPx`), `index-tickers` (`idxPx`, subscribed by index `BTC-USDT`),
  `funding-rate` (`fundingRate`), `open-interest` (`oi` contracts, in coins through the spec; an
  inverse contract at the last mark price), `tickers` (`last`) -> ticker events carrying one field
  each (the others NaN, so they keep their last value). `ts` from the item, or the arrival time
  when an item has none (the Tardis rule for exchanges that give no time).
- `trades` (`px`, `sz` contracts, taker `side`).

Bad input is counted by kind (the connection's BadInputCounter) and skipped; the feed never stops
on it. The unit is the smallest part that is bad:

- a frame that is not JSON, not an object, has no `arg` object or no `data` list, or names an
  unknown channel: the whole frame, counted once (`event` replies and notices are no data and
  are not counted);
- one `data[]` item (not an object; a missing or unfollowed `instId`, no `details` list, no
  contract spec; for the ticker and trade channels a bad field): that item, with all its
  details, is dropped and counted once; the other items are kept;
- one `details[]` entry of `liquidation-orders` (not an object; a bad `side`, `bkPx`, `sz` or
  `ts`): only that entry is dropped and counted once; the other entries of its item and the
  other items, before and after it, are kept. An entry adds its event only once all of it was
  read, so a bad entry adds nothing.

The first push after a (re)subscription is dropped whatever it holds (it is not counted as bad).
Times are exchange milliseconds checked by `fields.exchange_time`: before 2017 or more than a day
past the frame's arrival is an "absurd time", bad input like any other (such an event would hold
a bar open for years, or not fit the engine's int64 microseconds at all).
"""

from __future__ import annotations

import json
from typing import Any

from ..badinput import BadInputCounter
from ..engine.events import BUY, SELL, UNKNOWN
from .base import LIQUIDATIONS, TICKER, TRADES, Control, KeepAlive, Limits, Normalizer, Venue
from .buffer import EventBuffer
from .fields import NAN, Bad, each, exchange_time, number, quantity, side
from .specs import InstrumentSpec

EXCHANGE = "okex-swap"
_SIDES = {"buy": BUY, "sell": SELL}
LIQUIDATION_ORDERS = {"channel": "liquidation-orders", "instType": "SWAP"}
_TICKER_CHANNELS = ("mark-price", "index-tickers", "funding-rate", "open-interest", "tickers")
# ticker channel -> (field, position in the ticker values: mark, index, last, funding, open interest)
_TICKER_FIELDS = {"mark-price": ("markPx", 0), "index-tickers": ("idxPx", 1), "tickers": ("last", 2),
                  "funding-rate": ("fundingRate", 3), "open-interest": ("oi", 4)}


def index_id(symbol: str) -> str:
    """The index a swap follows: `BTC-USDT-SWAP` -> `BTC-USDT`."""
    return symbol.removesuffix("-SWAP")


class OkxNormalizer(Normalizer):
    """OKX channels to liquidation, ticker and trade events (see the module docstring)."""

    def __init__(self, buffer: EventBuffer, symbols: frozenset[str] | None, bad: BadInputCounter) -> None:
        super().__init__(buffer, symbols, bad)
        self.subscribed: set[str] = set()  # sockets whose first liquidation push was dropped
        self.first_pushes_dropped = 0

    def reset(self) -> None:
        self.subscribed.clear()

    def duplicate(self, text: str, connection: str) -> None:
        # a rotated socket's backlog push may equal a frame the old socket delivered: it is still
        # that socket's first push, so the next one is not dropped
        if '"liquidation-orders"' in text[:80] and connection not in self.subscribed:
            self.subscribed.add(connection)
            self.first_pushes_dropped += 1

    def message(self, message: Any, arrival: int, connection: str = "") -> None:
        if not isinstance(message, dict):
            raise Bad("message is not an object")
        if "event" in message:
            return  # a subscribe ack, an error reply or a notice
        arg, data = message.get("arg"), message.get("data")
        if not isinstance(arg, dict) or not isinstance(data, list):
            raise Bad("message without arg and data list")
        channel = arg.get("channel")
        if channel == "liquidation-orders":
            if connection not in self.subscribed:
                self.subscribed.add(connection)
                self.first_pushes_dropped += 1
                return
            each(data, "liquidation-orders.data", self.bad, lambda item: self._liquidations(item, arrival))
        elif channel in _TICKER_FIELDS:
            each(data, f"{channel}.data", self.bad, lambda item: self._ticker(channel, item, arrival))
        elif channel == "trades":
            each(data, "trades.data", self.bad, lambda item: self._trade(item, arrival))
        else:
            raise Bad(f"unknown channel {str(channel)[:40]!r}")

    def _liquidations(self, item: dict, arrival: int) -> None:
        symbol = self.wanted(item.get("instId"), "liquidation-orders.instId")
        if symbol is None:
            return
        details = item.get("details")
        if not isinstance(details, list):
            raise Bad("liquidation-orders without details")
        spec = self.spec(symbol)
        each(details, "liquidation-orders.details", self.bad,
             lambda detail: self._detail(symbol, spec, detail, arrival))

    def _detail(self, symbol: str, spec: InstrumentSpec, detail: dict, arrival: int) -> None:
        where = "liquidation-orders.details"
        order_side = side(detail, "side", _SIDES, where)
        price = number(detail, "bkPx", where)
        amount = float(spec.base_amount(quantity(detail, "sz", where), price))
        self.buffer.add("liquidations", symbol, exchange_time(detail, "ts", where, arrival), arrival, order_side,
                        price, amount)

    def _ticker(self, channel: str, item: dict, arrival: int) -> None:
        inst = item.get("instId")
        symbol = self.wanted(f"{inst}-SWAP" if channel == "index-tickers" and isinstance(inst, str) else inst,
                             f"{channel}.instId")
        if symbol is None:
            return
        key, position = _TICKER_FIELDS[channel]
        value = number(item, key, channel, positive=channel not in ("funding-rate", "open-interest"))
        ts = exchange_time(item, "ts", channel, arrival) if "ts" in item else arrival
        if channel == "mark-price":  # only an item read to its end updates the mark
            self.marks[symbol] = value
        elif channel == "open-interest":
            spec = self.spec(symbol)
            if spec.kind == "inverse" and symbol not in self.marks:
                raise Bad("inverse open interest before any mark price")
            value = float(spec.base_amount(value, self.marks.get(symbol, NAN)))
        self.buffer.add("derivative_ticker", symbol, ts, arrival, *(value if i == position else NAN for i in range(5)))

    def _trade(self, item: dict, arrival: int) -> None:
        symbol = self.wanted(item.get("instId"), "trades.instId")
        if symbol is None:
            return
        price = number(item, "px", "trades")
        amount = float(self.spec(symbol).base_amount(quantity(item, "sz", "trades"), price))
        taker = item.get("side")
        self.buffer.add("trades", symbol, exchange_time(item, "ts", "trades", arrival), arrival,
                        _SIDES.get(taker, UNKNOWN) if isinstance(taker, str) else UNKNOWN, price, amount)


class Okx(Venue):
    name, exchange, normalizer_class = "okx", EXCHANGE, OkxNormalizer
    ws_url, rest_url = "wss://ws.okx.com:8443", "https://www.okx.com"
    channels = (LIQUIDATIONS, TICKER, TRADES)
    limits = Limits(request_gap_s=0.1, streams_per_connection=300, connect_gap_s=0.4)  # 3 connects/s per IP
    keepalive = KeepAlive(text="ping", every_s=20.0, idle_only=True, timeout_s=20.0)
    instruments_path = "/api/v5/public/instruments"
    instruments_queries = ((("instType", "SWAP"),),)

    def ws_endpoint(self, base_url: str, symbol: str | None) -> str:
        return base_url.rstrip("/") + "/ws/v5/public"

    def streams(self, symbol: str, channels: tuple[str, ...]) -> list[dict[str, str]]:
        streams = []
        if TICKER in channels:
            streams += [{"channel": c, "instId": index_id(symbol) if c == "index-tickers" else symbol}
                        for c in _TICKER_CHANNELS]
        if TRADES in channels:
            streams.append({"channel": "trades", "instId": symbol})
        return streams

    def shared_streams(self, channels: tuple[str, ...]) -> list[dict[str, str]]:
        return [dict(LIQUIDATION_ORDERS)] if LIQUIDATIONS in channels else []

    def subscribe_request(self, streams: list[dict[str, str]], request_id: int) -> tuple[str, int]:
        return json.dumps({"id": str(request_id), "op": "subscribe", "args": streams}), len(streams)

    def control(self, text: str) -> Control | None:
        if '"event"' not in text[:80]:
            return None
        try:
            reply = json.loads(text)
        except ValueError:
            return None
        event = reply.get("event") if isinstance(reply, dict) else None
        if event not in ("subscribe", "error"):
            return None  # e.g. a notice of an upcoming service upgrade
        request_id = str(reply.get("id", ""))
        return Control(int(request_id) if request_id.isdigit() else request_id, event == "subscribe",
                       f"{reply.get('code')} {reply.get('msg')}" if event == "error" else "")

    def is_pong(self, text: str) -> bool:
        return text == "pong"

    def perpetual(self, item: str) -> str:
        item = item.upper()
        if "-" in item:
            return item
        for quote in ("USDT", "USDC", "USD"):
            if item.endswith(quote) and len(item) > len(quote):
                return f"{item.removesuffix(quote)}-{quote}-SWAP"
        return f"{item}-USDT-SWAP"

    def parse_instruments(self, body: str) -> list[InstrumentSpec]:
        answer = json.loads(body)
        if str(answer.get("code")) != "0":
            raise ValueError(f"code {answer.get('code')}: {answer.get('msg')}")
        specs = []
        for item in answer["data"]:
            if item.get("state", "live") != "live":
                continue
            value = float(item["ctVal"]) * float(item.get("ctMult") or 1)
            inverse = item.get("ctType") == "inverse"
            base = str(item.get("uly") or item["instId"]).split("-")[0] if inverse else str(item["ctValCcy"])
            specs.append(InstrumentSpec(EXCHANGE, item["instId"], base, "inverse" if inverse else "linear", value))
        return specs


VENUE = Okx()
__all__ = ["EXCHANGE", "LIQUIDATION_ORDERS", "VENUE", "Okx", "OkxNormalizer", "index_id"]
