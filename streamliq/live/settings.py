"""Settings of `streamliq run`, from flags and an equivalent TOML file (flags win).

The TOML keys are the long flag names, with `-` or `_`:

    venues = ["binance", "bybit", "okx"]  # default: binance
    symbols = ["BTC", "ETH", "okx:DOGE-USD-SWAP"]  # coins: each venue's perpetual; venue:SYMBOL: one
                                        # venue only; or: all-symbols = true (Binance)
    aggregate = true                    # one row per coin over all venues (FACTORS.md section 10)
    ws-url = "bybit=wss://stream-testnet.bybit.com"  # one venue's URLs may be replaced
    freq = "1m,15m"                     # a string or a list
    channels = ["liquidations", "ticker"]
    out = "live.jsonl"
    record = "recordings/"
    state = "streamliq.state"

    [serve]                             # bots: see streamliq.serving (flags --serve, --sink, ... win)
    listen = "127.0.0.1:8765"
    sinks = ["redis://127.0.0.1:6379/0"]
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ..engine.config import FactorConfig
from ..engine.freq import parse_duration_us
from ..errors import InputError
from ..sources.positioning.spec import PERIODS_US
from ..venues.base import CHANNELS, METRICS, STREAM_CHANNELS, TRADES
from ..venues.registry import DEFAULT, venue

BINANCE_WS_URL = venue(DEFAULT).ws_url
BINANCE_REST_URL = venue(DEFAULT).rest_url
DEFAULTS: dict[str, Any] = {
    **FactorConfig().options(), "freq": "1m", "venues": DEFAULT, "symbols": None, "all_symbols": False,
    "channels": "liquidations,ticker", "aggregate": False,
    "out": "live.jsonl", "record": None, "state": None, "ws_url": None, "rest_url": None,
    "oi_interval": "5s", "metrics_period": "5m", "rotate_after": "23h", "checkpoint_every": "60s",
    "streams_per_connection": 200, "log_level": "INFO",
}


@dataclass(frozen=True)
class LiveSettings:
    """Everything the daemon needs, validated."""

    factors: FactorConfig
    symbols: tuple[str, ...] | None  # as given (upper-case); None: every symbol (all-market streams)
    channels: tuple[str, ...]
    out: str | None
    record: str | None
    state: str | None
    ws_url: str  # the first venue's websocket base URL (see ws_urls)
    rest_url: str  # the first venue's REST base URL (see rest_urls)
    oi_interval_s: float  # 0 disables the open-interest poller
    metrics_period: str  # the `period` of the positioning statistics polled for the metrics channel
    rotate_after_s: float
    checkpoint_every_s: float
    streams_per_connection: int
    log_level: str
    venues: tuple[str, ...] = (DEFAULT,)
    instruments: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # venue -> its symbols
    ws_urls: dict[str, str] = field(default_factory=dict)  # venue -> websocket base URL
    rest_urls: dict[str, str] = field(default_factory=dict)  # venue -> REST base URL
    aggregate: bool = False  # cross-venue rows per coin (FACTORS.md section 10)
    serve: dict[str, Any] = field(default_factory=dict)  # the config file's [serve] table

    def venue_channels(self, name: str) -> tuple[str, ...]:
        """The channels followed on venue `name` (those of `channels` it offers)."""
        return tuple(c for c in self.channels if c in venue(name).channels)


def resolve(cli: dict[str, Any], config_file: str | None) -> LiveSettings:
    """Merge built-in defaults, the TOML file and the flags that were given (not None)."""
    values = dict(DEFAULTS)
    serve: dict[str, Any] = {}
    if config_file:
        table = _read_toml(config_file)
        serve = table.pop("serve", {})
        values.update(table)
    values.update({key: value for key, value in cli.items() if value is not None and key in DEFAULTS})
    return dataclasses.replace(_validate(values), serve=serve)


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"config file '{path}' does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file '{path}': {exc}") from None
    out = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "serve" and isinstance(value, dict):
            out[name] = value
            continue
        if name not in DEFAULTS:
            raise InputError(f"config file '{path}': unknown key '{key}' (known: "
                             f"{', '.join(sorted(k.replace('_', '-') for k in DEFAULTS))})")
        out[name] = ",".join(str(v) for v in value) if isinstance(value, list) else value
    return out


def _validate(values: dict[str, Any]) -> LiveSettings:
    channels = _items(values["channels"])
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels:
        raise InputError(f"invalid channels {unknown or channels}: choose from {', '.join(CHANNELS)}")
    symbols = tuple(s.upper() for s in _items(values["symbols"])) if values["symbols"] else None
    if bool(symbols) == bool(values["all_symbols"]):
        raise InputError("give either --symbols (e.g. btcusdt,ethusdt) or --all-symbols")
    venues = tuple(dict.fromkeys(venue(name).name for name in _items(values["venues"])))
    if not venues:
        raise InputError("give at least one venue in --venues")
    instruments = resolve_symbols(venues, symbols)
    if symbols is None and TRADES in channels:
        raise InputError("the trades channel needs --symbols: Binance has no all-market aggTrade stream")
    if not any(c in channels for c in STREAM_CHANNELS):
        raise InputError(f"choose at least one websocket channel: {', '.join(STREAM_CHANNELS)}")
    if str(values["metrics_period"]) not in PERIODS_US:
        raise InputError(f"invalid metrics-period {values['metrics_period']!r}: one of {', '.join(PERIODS_US)}")
    streams = int(values["streams_per_connection"])
    if not 3 <= streams <= 1024:
        raise InputError(f"invalid streams-per-connection {streams}: Binance allows 3..1024 (200 is safe)")
    ws_urls = _urls("ws-url", values["ws_url"], venues, lambda v: v.ws_url)
    rest_urls = _urls("rest-url", values["rest_url"], venues, lambda v: v.rest_url)
    return LiveSettings(
        factors=dataclasses.replace(FactorConfig.from_options(values), metrics=METRICS in channels),
        symbols=symbols,
        channels=tuple(c for c in CHANNELS if c in channels),
        out=None if values["out"] in (None, "", "none") else str(values["out"]),
        record=values["record"] or None,
        state=values["state"] or None,
        ws_url=ws_urls[venues[0]],
        rest_url=rest_urls[venues[0]],
        oi_interval_s=_seconds("oi-interval", values["oi_interval"]),
        metrics_period=str(values["metrics_period"]),
        rotate_after_s=_seconds("rotate-after", values["rotate_after"]),
        checkpoint_every_s=_seconds("checkpoint-every", values["checkpoint_every"]),
        streams_per_connection=streams,
        log_level=str(values["log_level"]).upper(),
        venues=venues,
        instruments=instruments,
        ws_urls=ws_urls,
        rest_urls=rest_urls,
        aggregate=_flag(values["aggregate"]),
    )


def resolve_symbols(venues: tuple[str, ...], items: tuple[str, ...] | None) -> dict[str, tuple[str, ...] | None]:
    """Each venue's symbols: a coin (`BTC`) or a symbol (`btcusdt`) becomes each venue's perpetual
    (`BTCUSDT`, `BTC-USDT-SWAP`); `venue:SYMBOL` is that venue's own symbol, for it alone. None
    (every symbol) is possible only on venues with all-market streams."""
    if items is None:
        without = [name for name in venues if venue(name).all_market_streams(STREAM_CHANNELS) is None]
        if without:
            raise InputError(f"--all-symbols is not possible on {', '.join(without)}: give --symbols")
        return dict.fromkeys(venues)
    out: dict[str, list[str]] = {name: [] for name in venues}
    for item in items:
        name, _, symbol = item.rpartition(":")
        if name:
            if venue(name).name not in out:
                raise InputError(f"symbol {item!r} names venue {name.lower()!r}, which is not in --venues")
            out[venue(name).name].append(symbol.upper())
        else:
            for each in venues:
                out[each].append(venue(each).perpetual(symbol))
    return {name: tuple(dict.fromkeys(symbols)) for name, symbols in out.items() if symbols}


def _urls(what: str, value: Any, venues: tuple[str, ...], default: Any) -> dict[str, str]:
    """Base URLs per venue: a plain URL (one venue only) or `venue=url,venue=url` for some."""
    urls = {name: default(venue(name)) for name in venues}
    if value in (None, ""):
        return urls
    items = _items(value)
    if len(items) == 1 and "=" not in items[0].split("://")[0]:
        if len(venues) > 1:
            raise InputError(f"--{what} {value!r} with several venues: write venue=url, e.g. bybit=ws://...")
        return {venues[0]: items[0]}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or venue(name).name not in urls:
            raise InputError(f"invalid --{what} item {item!r}: venue=url with a venue of --venues")
        urls[venue(name).name] = url.strip()
    return urls


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _seconds(what: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if str(value) in ("0", "off"):
        return 0.0
    try:
        return parse_duration_us(str(value)) / 1e6
    except InputError:
        raise InputError(f"invalid {what} {value!r}: use a duration such as 5s, 500ms, 23h") from None

