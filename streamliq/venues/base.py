"""The venue interface: what the live driver needs to know about one exchange, and nothing more.

A venue module (one file per exchange, as tardis-node keeps one mapper file per exchange) holds
a `Venue` subclass describing its websocket (URL per instrument, stream names, subscribe requests
and their replies, keep-alive, limits), its REST host (instruments endpoint, parsed into
`InstrumentSpec`s) and a normalizer turning its frames into streamliq events in the Tardis
conventions (sides: `sell` = a long was liquidated; amounts and open interest in base units,
FACTORS.md section 9). Everything after the normalizer is venue-blind: the connection, the
daemon, the recorder and `replay --recorded` only call the methods below.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..badinput import BadInputCounter
from .buffer import EventBuffer
from .fields import Bad, sample
from .specs import InstrumentSpec

LIQUIDATIONS, TICKER, TRADES, METRICS = "liquidations", "ticker", "trades", "metrics"
CHANNELS = (LIQUIDATIONS, TICKER, TRADES, METRICS)
STREAM_CHANNELS = (LIQUIDATIONS, TICKER, TRADES)
Stream = Any  # a stream name (Binance, Bybit) or a subscription argument object (OKX)


@dataclass(frozen=True)
class Control:
    """A reply to a request of ours (subscribe ack or error), parsed from a frame."""

    request_id: Any
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class Limits:
    """How fast and how much a venue lets one client subscribe and connect."""

    args_per_request: int = 100  # streams per subscribe request
    request_gap_s: float = 0.25  # between two subscribe requests on a connection
    streams_per_connection: int = 200  # a cap below the venue's own limit
    connect_gap_s: float = 0.0  # between two connection attempts to the venue (OKX: 3 per second)


@dataclass(frozen=True)
class KeepAlive:
    """How a connection proves it is alive.

    `ws_ping_s`: websocket ping frames every that many seconds (Binance answers them; the
    `websockets` keepalive closes a connection whose pong is late). `text`: an application
    message sent every `every_s` seconds (`idle_only`: only when nothing was received for that
    long, as OKX asks); when no frame at all arrives within `timeout_s` of it, the connection is
    considered dead and reopened.
    """

    ws_ping_s: float | None = None
    text: str | None = None
    every_s: float = 20.0
    idle_only: bool = False
    timeout_s: float = 10.0


class Normalizer(ABC):
    """Raw frames in, normalized events appended to an EventBuffer; bad input counted, skipped."""

    def __init__(self, buffer: EventBuffer, symbols: frozenset[str] | None, bad: BadInputCounter) -> None:
        self.buffer = buffer
        self.symbols = symbols  # None: every symbol of the venue (all-market streams)
        self.bad = bad
        self.messages = 0
        self.specs: dict[str, InstrumentSpec] = {}  # symbol -> spec, from the instruments endpoint
        self.marks: dict[str, float] = {}  # symbol -> last mark price (inverse contracts in coins)

    def frame(self, text: str, arrival: int, connection: str = "") -> None:
        """One websocket text frame received at `arrival` (µs) on socket `connection`."""
        self.messages += 1
        try:
            message = json.loads(text)
        except (ValueError, TypeError, RecursionError):  # RecursionError: nested too deep to parse
            self.bad.record("frame is not JSON", sample(text))
            return
        try:
            self.message(message, arrival, connection)
        except Bad as exc:
            self.bad.record(exc.kind, sample(text))

    def binary(self, text: str) -> None:
        """A binary frame (decoded as UTF-8, with replacements): the venues send JSON text, so it
        is bad input."""
        self.bad.record("binary frame", sample(text))

    @abstractmethod
    def message(self, message: Any, arrival: int, connection: str) -> None:
        """One parsed frame; raise `Bad` for what cannot be used."""

    def duplicate(self, text: str, connection: str) -> None:
        """A frame that `connection` delivered after another socket did (a rotation's overlap):
        not normalized again, but a venue tracking per-socket state may want to know."""
        return None

    def reset(self) -> None:
        """A daemon (re)started: forget per-connection state (socket names start over)."""
        return None

    def open_interest(self, text: str, arrival: int) -> None:
        """An open-interest REST body (venues whose `polls_open_interest`)."""
        self.bad.record("open interest body for a venue that streams it", sample(text))

    def metrics(self, endpoint: str, symbol: str, period: str, text: str, arrival: int) -> None:
        """A positioning-statistics REST body (venues whose `polls_metrics`)."""
        self.bad.record("metrics body for a venue without them", sample(text))

    def set_specs(self, specs: Iterable[InstrumentSpec]) -> None:
        """Use these contract specs from now on (the instruments endpoint was read)."""
        self.specs.update((spec.symbol, spec) for spec in specs)

    def spec(self, symbol: str) -> InstrumentSpec:
        """The spec of a contract-denominated `symbol`; none known is bad input naming it
        (FACTORS.md 9: never a silent `price * contracts`)."""
        spec = self.specs.get(symbol)
        if spec is None:
            raise Bad(f"no contract spec for {symbol}")
        return spec

    def wanted(self, symbol: Any, where: str) -> str | None:
        """The upper-case symbol if it is followed; None (counted) if not; Bad if missing."""
        if not isinstance(symbol, str) or not symbol:
            raise Bad(f"missing symbol in {where}")
        symbol = symbol.upper()
        if self.symbols is not None and symbol not in self.symbols:
            self.bad.record("symbol not subscribed", sample(symbol))
            return None
        return symbol


class Venue(ABC):
    """One exchange's live interface. Subclasses set the class attributes and the methods."""

    name: str  # registry name and `--venues` spelling, e.g. "bybit"
    exchange: str  # the Tardis exchange id, so live and replay rows share their key
    ws_url: str  # default websocket base URL
    rest_url: str  # default REST base URL
    channels: tuple[str, ...] = (LIQUIDATIONS, TICKER)  # the channels this venue can follow
    limits: Limits = Limits()
    keepalive: KeepAlive = KeepAlive(ws_ping_s=20.0)
    polls_open_interest: bool = False  # open interest comes from REST polling (else from a stream)
    polls_metrics: bool = False  # positioning statistics (FACTORS.md section 7) by REST
    specs_before_streams: bool = True  # its quantities need the contract specs (Binance: coins already)
    open_interest_path: str = ""  # REST, for venues whose `polls_open_interest`
    metrics_path: str = ""  # REST, `{endpoint}` of the positioning statistics, if `polls_metrics`
    instruments_path: str = ""  # REST path of the instruments endpoint
    instruments_queries: tuple[tuple[tuple[str, str], ...], ...] = ((),)  # one request per query

    # -- websocket -----------------------------------------------------------------------------
    @abstractmethod
    def ws_endpoint(self, base_url: str, symbol: str | None) -> str:
        """The websocket URL carrying `symbol`'s streams (None: the all-market/shared streams)."""

    @abstractmethod
    def streams(self, symbol: str, channels: tuple[str, ...]) -> list[Stream]:
        """The per-symbol streams of `channels`."""

    def shared_streams(self, channels: tuple[str, ...]) -> list[Stream]:
        """Streams carrying every symbol at once, subscribed on one connection only (OKX's
        `liquidation-orders` is per instrument type); that connection's outage covers all."""
        return []

    def all_market_streams(self, channels: tuple[str, ...]) -> list[Stream] | None:
        """The streams of `--all-symbols`, or None when the venue has none."""
        return None

    @abstractmethod
    def subscribe_request(self, streams: list[Stream], request_id: int) -> tuple[str, int]:
        """The text of a subscribe request and how many acknowledgements it gets."""

    @abstractmethod
    def control(self, text: str) -> Control | None:
        """The reply to a request of ours in `text`, or None if `text` is something else."""

    def is_pong(self, text: str) -> bool:
        """Whether `text` only answers our keep-alive (not recorded, not market data)."""
        return False

    # -- symbols and instruments ------------------------------------------------------------
    @abstractmethod
    def perpetual(self, item: str) -> str:
        """The venue's symbol for `item`: a coin (`BTC`) becomes its USDT perpetual, a venue symbol
        stays itself (upper-case)."""

    @abstractmethod
    def parse_instruments(self, body: str) -> list[InstrumentSpec]:
        """The specs in an instruments endpoint response body (ValueError if unreadable)."""

    # -- normalizer -----------------------------------------------------------------------------
    normalizer_class: type[Normalizer]

    def normalizer(self, buffer: EventBuffer, symbols: frozenset[str] | None, bad: BadInputCounter) -> Normalizer:
        """A normalizer appending this venue's events to `buffer` (to its sibling of this exchange)."""
        return self.normalizer_class(buffer.for_exchange(self.exchange), symbols, bad)
