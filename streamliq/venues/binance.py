"""Binance USD-M: streams, subscribe protocol, keep-alive, REST, and frames normalized into events.

One normalizer per venue, one event shape after it (the tardis-node mapper style). The events
are exactly those the Tardis source produces for `binance-futures`:

- `forceOrder` -> liquidation: `side` from `o.S` (SELL = a long was liquidated), price `o.p`,
  amount `o.z` (filled quantity), `ts` from `o.T`. Orders not FILLED are skipped (as tardis does),
  and COIN-M orders on `!forceOrder@arr` (quantities in contracts, not coins) are skipped.
- `markPriceUpdate` -> ticker: `mark_price` `p`, `index_price` `i`, `funding_rate` `r`, `ts` from `E`.
- `aggTrade` -> trade: price `p`, amount `q`, taker side `sell` if `m` (buyer is maker) else `buy`.
- `GET /fapi/v1/openInterest` body -> ticker carrying only `open_interest`, `ts` from `time`.
- `GET /futures/data/<endpoint>` rows -> metric events (FACTORS.md section 7) through
  `metric_event_from_rest`, the same conversion and publication time (`timestamp + period`) as a
  replay of REST dumps; only rows newer than the last one seen per endpoint and symbol are used.

Websocket: `<ws_url>/market/stream` (Binance routes liquidations, mark prices and aggregate trades
under `/market`; an un-routed URL acknowledges subscriptions and then delivers nothing), SUBSCRIBE
requests of at most 100 names paced 0.25 s apart (the limit is 10 incoming messages per second),
liveness by websocket ping frames. REST: `/fapi/v1/exchangeInfo` for the instruments (USD-M
quantities are coins: contract value 1), `/fapi/v1/openInterest` polled (no stream carries it).

Times in payloads are epoch milliseconds; events carry microseconds. Control replies
(`{"result": null, "id": 1}`) are not market data and are ignored here. Anything malformed is
counted by kind in a BadInputCounter and skipped: a live feed never dies on one bad frame.
"""

from __future__ import annotations

import json
import re

from ..badinput import BadInputCounter
from ..engine.events import BUY, METRIC_FIELDS, SELL, UNKNOWN
from ..errors import InputError
from ..sources.positioning.rest import metric_event_from_rest
from .base import CHANNELS, LIQUIDATIONS, TICKER, TRADES, Control, KeepAlive, Limits, Normalizer, Venue
from .buffer import EventBuffer
from .fields import NAN, Bad, base_per_unit, exchange_time, number, quantity, sample
from .specs import InstrumentSpec

__all__ = ["EXCHANGE", "VENUE", "BinanceNormalizer", "all_market_streams", "symbol_streams"]
EXCHANGE = "binance-futures"  # the Tardis exchange id, so live and replay rows share their key
_COIN_M = re.compile(r"USD_(PERP|\d{6})$")
_SIDES = {"SELL": SELL, "BUY": BUY}
_QUOTES = ("USDT", "USDC")


def symbol_streams(symbol: str, channels: tuple[str, ...]) -> list[str]:
    """The stream names of one symbol (lower-case symbol part, as Binance requires)."""
    s = symbol.lower()
    names = {LIQUIDATIONS: f"{s}@forceOrder", TICKER: f"{s}@markPrice@1s", TRADES: f"{s}@aggTrade"}
    return [names[channel] for channel in channels if channel in names]


def all_market_streams(channels: tuple[str, ...]) -> list[str]:
    """The all-market stream names (there is no all-market aggTrade stream)."""
    names = {LIQUIDATIONS: "!forceOrder@arr", TICKER: "!markPrice@arr@1s"}
    return [names[channel] for channel in channels if channel in names]


class BinanceNormalizer(Normalizer):
    """Raw frames and REST bodies in, normalized events appended to an EventBuffer."""

    def __init__(self, buffer: EventBuffer, symbols: frozenset[str] | None, bad: BadInputCounter) -> None:
        super().__init__(buffer, symbols, bad)
        self.metrics_seen: dict[tuple[str, str], int] = {}  # (endpoint, symbol) -> newest row's ts

    def open_interest(self, text: str, arrival: int) -> None:
        """A `GET /fapi/v1/openInterest` response body received at `arrival`."""
        try:
            body = json.loads(text)
            if not isinstance(body, dict):
                raise Bad("openInterest body is not an object")
            symbol = self._symbol(body, "symbol", "openInterest")
            if symbol is None:
                return
            ts = exchange_time(body, "time", "openInterest", arrival)
            oi = number(body, "openInterest", "openInterest", positive=False)
        except ValueError:
            self.bad.record("openInterest body is not JSON", sample(text))
            return
        except Bad as exc:
            self.bad.record(exc.kind, sample(text))
            return
        self.buffer.add("derivative_ticker", symbol, ts, arrival, NAN, NAN, NAN, NAN, oi)

    def metrics(self, endpoint: str, symbol: str, period: str, text: str, arrival: int) -> None:
        """A `GET /futures/data/<endpoint>?symbol=&period=` response body received at `arrival`."""
        try:
            rows = json.loads(text)
        except ValueError:
            self.bad.record(f"{endpoint} body is not JSON", sample(text))
            return
        if not isinstance(rows, list):
            self.bad.record(f"{endpoint} body is not a list", sample(text))
            return
        key = (endpoint, symbol)
        for row in rows:
            try:
                batch = metric_event_from_rest(endpoint, row, symbol, period, arrival)
            except (InputError, AttributeError) as exc:
                self.bad.record(f"bad {endpoint} row", f"{exc}: {sample(str(row))}")
                continue
            ts = int(batch.ts[0])
            if ts <= self.metrics_seen.get(key, 0):
                continue  # a poll returns the last rows again: each row is used once
            self.metrics_seen[key] = ts
            self.buffer.add("metrics", symbol, ts, arrival, *(float(getattr(batch, f)[0]) for f in METRIC_FIELDS))

    def message(self, message: object, arrival: int, connection: str = "") -> None:
        if isinstance(message, dict) and "stream" in message and "data" in message:
            message = message["data"]
        elif isinstance(message, dict) and ("result" in message or "code" in message) and "e" not in message:
            return  # a control reply (SUBSCRIBE ack or error), handled by the connection
        events = message if isinstance(message, list) else [message]
        for event in events:
            if not isinstance(event, dict):
                raise Bad("event is not an object")
            kind = event.get("e")
            if kind == "forceOrder":
                self._force_order(event, arrival)
            elif kind == "markPriceUpdate":
                self._mark_price(event, arrival)
            elif kind == "aggTrade":
                self._agg_trade(event, arrival)
            else:
                raise Bad(f"unknown event type {str(kind)[:40]!r}")

    def _force_order(self, event: dict, arrival: int) -> None:
        order = event.get("o")
        if not isinstance(order, dict):
            raise Bad("forceOrder without an 'o' object")
        if event.get("st") == 2 or order.get("st") == 2 or _COIN_M.search(str(order.get("s", ""))):
            raise Bad("COIN-M liquidation (quantities in contracts)")
        symbol = self._symbol(order, "s", "forceOrder.o")
        if symbol is None:
            return
        if order.get("X") != "FILLED":  # as tardis: only filled liquidation orders
            raise Bad("forceOrder not FILLED")
        side = _SIDES.get(order["S"]) if isinstance(order.get("S"), str) else None
        if side is None:
            raise Bad("bad side in forceOrder.o.S")
        self.buffer.add("liquidations", symbol, exchange_time(order, "T", "forceOrder.o", arrival), arrival, side,
                        number(order, "p", "forceOrder.o"), quantity(order, "z", "forceOrder.o"))

    def _mark_price(self, event: dict, arrival: int) -> None:
        symbol = self._symbol(event, "s", "markPriceUpdate")
        if symbol is None:
            return
        funding = number(event, "r", "markPriceUpdate", positive=False) if event.get("r") != "" else NAN
        self.buffer.add("derivative_ticker", symbol, exchange_time(event, "E", "markPriceUpdate", arrival), arrival,
                        number(event, "p", "markPriceUpdate"), number(event, "i", "markPriceUpdate"),
                        NAN, funding, NAN)

    def _agg_trade(self, event: dict, arrival: int) -> None:
        symbol = self._symbol(event, "s", "aggTrade")
        if symbol is None:
            return
        maker = event.get("m")
        side = SELL if maker is True else BUY if maker is False else UNKNOWN
        self.buffer.add("trades", symbol, exchange_time(event, "T", "aggTrade", arrival), arrival, side,
                        number(event, "p", "aggTrade"), quantity(event, "q", "aggTrade"))

    def _symbol(self, obj: dict, key: str, where: str) -> str | None:
        return self.wanted(obj.get(key), f"{where}.{key}")


class Binance(Venue):
    name, exchange, normalizer_class = "binance", EXCHANGE, BinanceNormalizer
    ws_url, rest_url = "wss://fstream.binance.com", "https://fapi.binance.com"
    channels = CHANNELS
    limits = Limits(args_per_request=100, request_gap_s=0.25, streams_per_connection=1024)
    keepalive = KeepAlive(ws_ping_s=20.0)
    polls_open_interest = True
    polls_metrics = True
    specs_before_streams = False
    open_interest_path = "/fapi/v1/openInterest"
    metrics_path = "/futures/data/{endpoint}"
    instruments_path = "/fapi/v1/exchangeInfo"

    def ws_endpoint(self, base_url: str, symbol: str | None) -> str:
        return base_url.rstrip("/") + "/market/stream"

    def streams(self, symbol: str, channels: tuple[str, ...]) -> list[str]:
        return symbol_streams(symbol, channels)

    def all_market_streams(self, channels: tuple[str, ...]) -> list[str]:
        return all_market_streams(channels)

    def subscribe_request(self, streams: list[str], request_id: int) -> tuple[str, int]:
        return json.dumps({"method": "SUBSCRIBE", "params": streams, "id": request_id}), 1

    def control(self, text: str) -> Control | None:
        if not (text.startswith('{"result"') or text.startswith('{"id"') or '"code"' in text[:40]):
            return None
        try:
            reply = json.loads(text)
        except ValueError:
            return None
        if not isinstance(reply, dict) or "e" in reply:
            return None
        if "code" in reply:
            return Control(reply.get("id"), False, f"{reply.get('code')} {reply.get('msg')}")
        return Control(reply.get("id"), True)

    def perpetual(self, item: str) -> str:
        item = item.upper()
        return item if item.endswith(_QUOTES) or "_" in item else item + "USDT"

    def parse_instruments(self, body: str) -> list[InstrumentSpec]:
        info = json.loads(body)
        specs = []
        for s in info["symbols"]:
            if s.get("contractType") != "PERPETUAL" or s.get("status") != "TRADING":
                continue
            base, multiple = base_per_unit(str(s.get("baseAsset") or s["symbol"].removesuffix("USDT")))
            specs.append(InstrumentSpec(EXCHANGE, s["symbol"], base, "linear", 1.0, multiple))
        return specs


VENUE = Binance()
