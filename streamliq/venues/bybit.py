"""Bybit v5 public streams (linear and inverse), normalized as Tardis' `bybit` exchange.

Websocket: `<ws_url>/v5/public/linear` for USDT/USDC contracts, `/v5/public/inverse` for coin-
margined ones (`BTCUSD`). Subscribe with `{"req_id", "op": "subscribe", "args": [topics]}`, one
ack `{"success": true, ..., "req_id", "op": "subscribe"}` per request. Keep-alive: the JSON
`{"req_id": "hb", "op": "ping"}` every 20 s (Bybit's advice), answered by
`{"success": true, "ret_msg": "pong", ..., "op": "ping"}`. Limits: the args of one connection
must stay under 21,000 characters (200 topics of ~30 characters here); at most 500 connections
per 5 minutes.

Normalization (tardis-node's `BybitV5AllLiquidationsMapper` and friends):

- `allLiquidation.{symbol}` -> liquidations, one per `data[]` item: `S` is the side of the
  liquidated *position* (`Buy`: a long was liquidated), so it is inverted to the Tardis order side
  (`Buy` -> `sell`); price `p` (bankruptcy price), amount `v`, `ts` from the item's `T`. The
  deprecated `liquidation.{symbol}` (one object, `updatedTime`/`updateTime`) is read the same way,
  with the message `ts` as Tardis does.
- `tickers.{symbol}` -> ticker: `markPrice`, `indexPrice`, `lastPrice`, `fundingRate`,
  `openInterest`, `ts` from the message. A snapshot is followed by deltas carrying only the
  fields that changed: an absent field is NaN (it does not overwrite the last value).
- `publicTrade.{symbol}` -> trades, `S` the taker side.

Units (FACTORS.md 9): linear sizes and open interest are coins already (contract value 1); inverse
ones are USD (face value 1), turned into coins at the liquidation/trade price, and open interest
at the last mark price.

Bad input is counted by kind (the connection's BadInputCounter) and skipped; the feed never stops
on it. The unit is the smallest part that is bad:

- a frame that is not JSON, not an object, has no topic (and is no `op`/`success` reply), has an
  unknown topic, or an `allLiquidation`/`publicTrade` frame whose `data` is not a list: the whole
  frame, counted once;
- one `data[]` item of `allLiquidation`/`publicTrade` (not an object; a missing symbol, side,
  price, size or time; a size < 0, a price <= 0, a non-finite number; a symbol not followed):
  only that item is dropped and counted, once; the other items of the message, before and after
  it, are kept. An item adds its event only once all of it was read, so a bad item adds nothing.

Times are exchange milliseconds checked by `fields.exchange_time`: before 2017 or more than a day
past the frame's arrival is an "absurd time", bad input like any other (such an event would hold
a bar open for years, or not fit the engine's int64 microseconds at all).
"""

from __future__ import annotations

import json
from typing import Any

from ..engine.events import BUY, SELL, UNKNOWN
from .base import LIQUIDATIONS, TICKER, TRADES, Control, KeepAlive, Limits, Normalizer, Venue
from .fields import Bad, base_per_unit, each, exchange_time, number, optional_number, quantity, side
from .specs import InstrumentSpec

EXCHANGE = "bybit"
_POSITION_TO_ORDER_SIDE = {"Buy": SELL, "Sell": BUY}  # a long (Buy) position is closed by a sell
_TAKER_SIDES = {"Buy": BUY, "Sell": SELL}
_LINEAR_QUOTES = ("USDT", "USDC", "PERP")
_TOPICS = {LIQUIDATIONS: "allLiquidation", TICKER: "tickers", TRADES: "publicTrade"}


def is_inverse(symbol: str) -> bool:
    """Coin-margined contracts (`BTCUSD`, `BTCUSDH26`) live on the inverse endpoint."""
    return not symbol.endswith(_LINEAR_QUOTES) and "USD" in symbol


class BybitNormalizer(Normalizer):
    """Bybit topics to liquidation, ticker and trade events (see the module docstring)."""

    def message(self, message: Any, arrival: int, connection: str = "") -> None:
        if not isinstance(message, dict):
            raise Bad("message is not an object")
        topic = message.get("topic")
        if not isinstance(topic, str):
            if "op" in message or "success" in message:
                return  # a subscribe ack or a pong
            raise Bad("message without a topic")
        kind, _, _ = topic.partition(".")
        if kind == "allLiquidation":
            each(_items(message, "allLiquidation"), "allLiquidation.data", self.bad,
                 lambda item: self._liquidation(item, exchange_time(item, "T", "allLiquidation.data", arrival),
                                                "S", "p", "v", arrival))
        elif kind == "liquidation":
            item = message.get("data")
            if not isinstance(item, dict):
                raise Bad("liquidation without a data object")
            self._liquidation(item, exchange_time(message, "ts", "liquidation", arrival), "side", "price", "size",
                              arrival, symbol_key="symbol")
        elif kind == "tickers":
            self._ticker(message, arrival)
        elif kind == "publicTrade":
            each(_items(message, "publicTrade"), "publicTrade.data", self.bad, lambda item: self._trade(item, arrival))
        else:
            raise Bad(f"unknown topic {topic[:40]!r}")

    def _liquidation(self, item: dict, ts: int, side_key: str, price_key: str, size_key: str, arrival: int,
                     symbol_key: str = "s") -> None:
        symbol = self.wanted(item.get(symbol_key), f"liquidation.{symbol_key}")
        if symbol is None:
            return
        order_side = side(item, side_key, _POSITION_TO_ORDER_SIDE, "liquidation")
        price = number(item, price_key, "liquidation")
        amount = self._coins(symbol, quantity(item, size_key, "liquidation"), price)
        self.buffer.add("liquidations", symbol, ts, arrival, order_side, price, amount)

    def _ticker(self, message: dict, arrival: int) -> None:
        data = message.get("data")
        if not isinstance(data, dict):
            raise Bad("tickers without a data object")
        symbol = self.wanted(data.get("symbol"), "tickers.data.symbol")
        if symbol is None:
            return
        ts = exchange_time(message, "ts", "tickers", arrival)
        mark = optional_number(data, "markPrice", "tickers")
        oi = optional_number(data, "openInterest", "tickers", positive=False)
        values = (mark, optional_number(data, "indexPrice", "tickers"), optional_number(data, "lastPrice", "tickers"),
                  optional_number(data, "fundingRate", "tickers", positive=False), oi)
        known_mark = mark if mark == mark else self.marks.get(symbol)
        if oi == oi and is_inverse(symbol):
            if known_mark is None:
                raise Bad("inverse open interest before any mark price")
            values = (*values[:4], self._coins(symbol, oi, known_mark))
        if mark == mark:  # only a message read to its end updates the mark
            self.marks[symbol] = mark
        if all(v != v for v in values):
            return  # a delta of fields streamliq does not use
        self.buffer.add("derivative_ticker", symbol, ts, arrival, *values)

    def _trade(self, item: dict, arrival: int) -> None:
        symbol = self.wanted(item.get("s"), "publicTrade.s")
        if symbol is None:
            return
        price = number(item, "p", "publicTrade")
        taker = item.get("S")
        self.buffer.add("trades", symbol, exchange_time(item, "T", "publicTrade", arrival), arrival,
                        _TAKER_SIDES.get(taker, UNKNOWN) if isinstance(taker, str) else UNKNOWN, price,
                        self._coins(symbol, quantity(item, "v", "publicTrade"), price))

    def _coins(self, symbol: str, quantity: float, price: float) -> float:
        """Linear quantities are coins; inverse ones USD, which need the instrument's spec."""
        if not is_inverse(symbol) and symbol not in self.specs:
            return quantity
        return float(self.spec(symbol).base_amount(quantity, price))


def _items(message: dict, where: str) -> list:
    """The message's `data` list (its items are read one by one by `each`), else Bad."""
    data = message.get("data")
    if not isinstance(data, list):
        raise Bad(f"{where} without a data list")
    return data


class Bybit(Venue):
    name, exchange, normalizer_class = "bybit", EXCHANGE, BybitNormalizer
    ws_url, rest_url = "wss://stream.bybit.com", "https://api.bybit.com"
    channels = (LIQUIDATIONS, TICKER, TRADES)
    limits = Limits(request_gap_s=0.1)  # 200 topics of ~30 characters: under 21,000 per connection
    keepalive = KeepAlive(text='{"req_id":"hb","op":"ping"}', every_s=20.0, timeout_s=10.0)
    instruments_path = "/v5/market/instruments-info"
    instruments_queries = ((("category", "linear"), ("limit", "1000")),
                           (("category", "inverse"), ("limit", "1000")))

    def ws_endpoint(self, base_url: str, symbol: str | None) -> str:
        category = "inverse" if symbol is not None and is_inverse(symbol) else "linear"
        return f"{base_url.rstrip('/')}/v5/public/{category}"

    def streams(self, symbol: str, channels: tuple[str, ...]) -> list[str]:
        return [f"{_TOPICS[channel]}.{symbol}" for channel in channels if channel in _TOPICS]

    def subscribe_request(self, streams: list[str], request_id: int) -> tuple[str, int]:
        return json.dumps({"req_id": str(request_id), "op": "subscribe", "args": streams}), 1

    def control(self, text: str) -> Control | None:
        if not text.startswith('{"success"') and '"op"' not in text[:120]:
            return None
        try:
            reply = json.loads(text)
        except ValueError:
            return None
        if not isinstance(reply, dict) or reply.get("op") != "subscribe":
            return None
        request_id = reply.get("req_id")
        return Control(int(request_id) if str(request_id).isdigit() else request_id, reply.get("success") is True,
                       str(reply.get("ret_msg", "")))

    def is_pong(self, text: str) -> bool:
        return '"ret_msg":"pong"' in text or text.startswith('{"op":"pong"')

    def perpetual(self, item: str) -> str:
        item = item.upper()
        return item if item.endswith((*_LINEAR_QUOTES, "USD")) else item + "USDT"

    def parse_instruments(self, body: str) -> list[InstrumentSpec]:
        answer = json.loads(body)
        if answer.get("retCode") != 0:
            raise ValueError(f"retCode {answer.get('retCode')}: {answer.get('retMsg')}")
        specs = []
        for item in answer["result"]["list"]:
            if item.get("status", "Trading") != "Trading":
                continue
            inverse = str(item.get("contractType", "")).startswith("Inverse")
            base, multiple = base_per_unit(str(item["baseCoin"]))
            specs.append(InstrumentSpec(EXCHANGE, item["symbol"], base, "inverse" if inverse else "linear", 1.0,
                                        multiple))
        return specs


VENUE = Bybit()
__all__ = ["EXCHANGE", "VENUE", "Bybit", "BybitNormalizer"]
