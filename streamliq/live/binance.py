"""Binance USD-M market streams: stream names, and frames normalized into streamliq events.

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

Times in payloads are epoch milliseconds; events carry microseconds. Control replies
(`{"result": null, "id": 1}`) are not market data and are ignored here. Anything malformed is
counted by kind in a BadInputCounter and skipped: a live feed never dies on one bad frame.
"""

from __future__ import annotations

import json
import math
import re

from ..badinput import BadInputCounter
from ..engine.events import BUY, METRIC_FIELDS, SELL, UNKNOWN
from ..errors import InputError
from ..sources.positioning.rest import metric_event_from_rest
from .buffer import EventBuffer

EXCHANGE = "binance-futures"  # the Tardis exchange id, so live and replay rows share their key
LIQUIDATIONS, TICKER, TRADES, METRICS = "liquidations", "ticker", "trades", "metrics"
CHANNELS = (LIQUIDATIONS, TICKER, TRADES, METRICS)
STREAM_CHANNELS = (LIQUIDATIONS, TICKER, TRADES)
_COIN_M = re.compile(r"USD_(PERP|\d{6})$")
_SIDES = {"SELL": SELL, "BUY": BUY}
NAN = math.nan
EARLIEST_MS = 1_483_228_800_000  # 2017-01-01: an earlier exchange time is not USD-M market data
MAX_AHEAD_US = 86_400_000_000  # an exchange time a day past its arrival is no clock skew


def symbol_streams(symbol: str, channels: tuple[str, ...]) -> list[str]:
    """The stream names of one symbol (lower-case symbol part, as Binance requires)."""
    s = symbol.lower()
    names = {LIQUIDATIONS: f"{s}@forceOrder", TICKER: f"{s}@markPrice@1s", TRADES: f"{s}@aggTrade"}
    return [names[channel] for channel in channels]


def all_market_streams(channels: tuple[str, ...]) -> list[str]:
    """The all-market stream names (there is no all-market aggTrade stream)."""
    names = {LIQUIDATIONS: "!forceOrder@arr", TICKER: "!markPrice@arr@1s"}
    return [names[channel] for channel in channels if channel in names]


class _Bad(Exception):
    """A frame or field that cannot be normalized: `kind` is what the counter groups by."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class BinanceNormalizer:
    """Raw frames and REST bodies in, normalized events appended to an EventBuffer."""

    def __init__(self, buffer: EventBuffer, symbols: frozenset[str] | None, bad: BadInputCounter) -> None:
        self.buffer = buffer
        self.symbols = symbols  # None: every USD-M symbol (all-market streams)
        self.bad = bad
        self.messages = 0
        self.metrics_seen: dict[tuple[str, str], int] = {}  # (endpoint, symbol) -> newest row's ts

    def frame(self, text: str, arrival: int) -> None:
        """One websocket text frame received at `arrival` (µs)."""
        self.messages += 1
        try:
            message = json.loads(text)
        except (ValueError, TypeError, RecursionError):  # RecursionError: nested too deep to parse
            self.bad.record("frame is not JSON", _sample(text))
            return
        try:
            self._message(message, arrival)
        except _Bad as exc:
            self.bad.record(exc.kind, _sample(text))

    def open_interest(self, text: str, arrival: int) -> None:
        """A `GET /fapi/v1/openInterest` response body received at `arrival`."""
        try:
            body = json.loads(text)
            if not isinstance(body, dict):
                raise _Bad("openInterest body is not an object")
            symbol = self._symbol(body, "symbol", "openInterest")
            if symbol is None:
                return
            ts = _time(body, "time", "openInterest", arrival)
            oi = _number(body, "openInterest", "openInterest", positive=False)
        except ValueError:
            self.bad.record("openInterest body is not JSON", _sample(text))
            return
        except _Bad as exc:
            self.bad.record(exc.kind, _sample(text))
            return
        self.buffer.add("derivative_ticker", symbol, ts, arrival, NAN, NAN, NAN, NAN, oi)

    def metrics(self, endpoint: str, symbol: str, period: str, text: str, arrival: int) -> None:
        """A `GET /futures/data/<endpoint>?symbol=&period=` response body received at `arrival`."""
        try:
            rows = json.loads(text)
        except ValueError:
            self.bad.record(f"{endpoint} body is not JSON", _sample(text))
            return
        if not isinstance(rows, list):
            self.bad.record(f"{endpoint} body is not a list", _sample(text))
            return
        key = (endpoint, symbol)
        for row in rows:
            try:
                batch = metric_event_from_rest(endpoint, row, symbol, period, arrival)
            except (InputError, AttributeError) as exc:
                self.bad.record(f"bad {endpoint} row", f"{exc}: {_sample(str(row))}")
                continue
            ts = int(batch.ts[0])
            if ts <= self.metrics_seen.get(key, 0):
                continue  # a poll returns the last rows again: each row is used once
            self.metrics_seen[key] = ts
            self.buffer.add("metrics", symbol, ts, arrival, *(float(getattr(batch, f)[0]) for f in METRIC_FIELDS))

    def _message(self, message: object, arrival: int) -> None:
        if isinstance(message, dict) and "stream" in message and "data" in message:
            message = message["data"]
        elif isinstance(message, dict) and ("result" in message or "code" in message) and "e" not in message:
            return  # a control reply (SUBSCRIBE ack or error), handled by the connection
        events = message if isinstance(message, list) else [message]
        for event in events:
            if not isinstance(event, dict):
                raise _Bad("event is not an object")
            kind = event.get("e")
            if kind == "forceOrder":
                self._force_order(event, arrival)
            elif kind == "markPriceUpdate":
                self._mark_price(event, arrival)
            elif kind == "aggTrade":
                self._agg_trade(event, arrival)
            else:
                raise _Bad(f"unknown event type {str(kind)[:40]!r}")

    def _force_order(self, event: dict, arrival: int) -> None:
        order = event.get("o")
        if not isinstance(order, dict):
            raise _Bad("forceOrder without an 'o' object")
        if event.get("st") == 2 or order.get("st") == 2 or _COIN_M.search(str(order.get("s", ""))):
            raise _Bad("COIN-M liquidation (quantities in contracts)")
        symbol = self._symbol(order, "s", "forceOrder.o")
        if symbol is None:
            return
        if order.get("X") != "FILLED":  # as tardis: only filled liquidation orders
            raise _Bad("forceOrder not FILLED")
        side = _SIDES.get(order["S"]) if isinstance(order.get("S"), str) else None
        if side is None:
            raise _Bad("bad side in forceOrder.o.S")
        self.buffer.add("liquidations", symbol, _time(order, "T", "forceOrder.o", arrival), arrival, side,
                        _number(order, "p", "forceOrder.o"), _number(order, "z", "forceOrder.o"))

    def _mark_price(self, event: dict, arrival: int) -> None:
        symbol = self._symbol(event, "s", "markPriceUpdate")
        if symbol is None:
            return
        funding = _number(event, "r", "markPriceUpdate", positive=False) if event.get("r") != "" else NAN
        self.buffer.add("derivative_ticker", symbol, _time(event, "E", "markPriceUpdate", arrival), arrival,
                        _number(event, "p", "markPriceUpdate"), _number(event, "i", "markPriceUpdate"),
                        NAN, funding, NAN)

    def _agg_trade(self, event: dict, arrival: int) -> None:
        symbol = self._symbol(event, "s", "aggTrade")
        if symbol is None:
            return
        maker = event.get("m")
        side = SELL if maker is True else BUY if maker is False else UNKNOWN
        self.buffer.add("trades", symbol, _time(event, "T", "aggTrade", arrival), arrival, side,
                        _number(event, "p", "aggTrade"), _number(event, "q", "aggTrade"))

    def _symbol(self, obj: dict, key: str, where: str) -> str | None:
        symbol = obj.get(key)
        if not isinstance(symbol, str) or not symbol:
            raise _Bad(f"missing symbol in {where}.{key}")
        symbol = symbol.upper()
        if self.symbols is not None and symbol not in self.symbols:
            self.bad.record("symbol not subscribed", _sample(symbol))
            return None
        return symbol


def _number(obj: dict, key: str, where: str, positive: bool = True) -> float:
    value = obj.get(key)
    if isinstance(value, bool):  # float(True) would be 1.0
        raise _Bad(f"bad number in {where}.{key}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Bad(f"bad number in {where}.{key}") from None
    if not math.isfinite(number) or (positive and number <= 0):
        raise _Bad(f"bad number in {where}.{key}")
    return number


def _millis(obj: dict, key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Bad(f"bad time in {where}.{key}")
    try:
        millis = int(value)
    except ValueError:
        raise _Bad(f"bad time in {where}.{key}") from None
    if millis <= 0:
        raise _Bad(f"bad time in {where}.{key}")
    return millis


def _time(obj: dict, key: str, where: str, arrival: int) -> int:
    """An exchange time in µs; absurd ones (before 2017, or a day past the arrival) are bad input,
    not events that would hold a bar open for years."""
    millis = _millis(obj, key, where)
    if millis < EARLIEST_MS or millis * 1000 > arrival + MAX_AHEAD_US:
        raise _Bad(f"absurd time in {where}.{key}")
    return millis * 1000


def _sample(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
