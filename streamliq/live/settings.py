"""Settings of `streamliq run`, from flags and an equivalent TOML file (flags win).

The TOML keys are the long flag names, with `-` or `_`:

    symbols = ["btcusdt", "ethusdt"]    # or: all-symbols = true
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
from .binance import CHANNELS, METRICS, STREAM_CHANNELS, TRADES

BINANCE_WS_URL = "wss://fstream.binance.com"
BINANCE_REST_URL = "https://fapi.binance.com"
DEFAULTS: dict[str, Any] = {
    **FactorConfig().options(), "freq": "1m", "symbols": None, "all_symbols": False, "channels": "liquidations,ticker",
    "out": "live.jsonl", "record": None, "state": None, "ws_url": BINANCE_WS_URL, "rest_url": BINANCE_REST_URL,
    "oi_interval": "5s", "metrics_period": "5m", "rotate_after": "23h", "checkpoint_every": "60s",
    "streams_per_connection": 200, "log_level": "INFO",
}


@dataclass(frozen=True)
class LiveSettings:
    """Everything the daemon needs, validated."""

    factors: FactorConfig
    symbols: tuple[str, ...] | None  # None: every symbol (all-market streams)
    channels: tuple[str, ...]
    out: str | None
    record: str | None
    state: str | None
    ws_url: str
    rest_url: str
    oi_interval_s: float  # 0 disables the open-interest poller
    metrics_period: str  # the `period` of the positioning statistics polled for the metrics channel
    rotate_after_s: float
    checkpoint_every_s: float
    streams_per_connection: int
    log_level: str
    serve: dict[str, Any] = field(default_factory=dict)  # the config file's [serve] table


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
    if symbols is None and TRADES in channels:
        raise InputError("the trades channel needs --symbols: Binance has no all-market aggTrade stream")
    if not any(c in channels for c in STREAM_CHANNELS):
        raise InputError(f"choose at least one websocket channel: {', '.join(STREAM_CHANNELS)}")
    if str(values["metrics_period"]) not in PERIODS_US:
        raise InputError(f"invalid metrics-period {values['metrics_period']!r}: one of {', '.join(PERIODS_US)}")
    streams = int(values["streams_per_connection"])
    if not 3 <= streams <= 1024:
        raise InputError(f"invalid streams-per-connection {streams}: Binance allows 3..1024 (200 is safe)")
    return LiveSettings(
        factors=dataclasses.replace(FactorConfig.from_options(values), metrics=METRICS in channels),
        symbols=symbols,
        channels=tuple(c for c in CHANNELS if c in channels),
        out=None if values["out"] in (None, "", "none") else str(values["out"]),
        record=values["record"] or None,
        state=values["state"] or None,
        ws_url=str(values["ws_url"]),
        rest_url=str(values["rest_url"]),
        oi_interval_s=_seconds("oi-interval", values["oi_interval"]),
        metrics_period=str(values["metrics_period"]),
        rotate_after_s=_seconds("rotate-after", values["rotate_after"]),
        checkpoint_every_s=_seconds("checkpoint-every", values["checkpoint_every"]),
        streams_per_connection=streams,
        log_level=str(values["log_level"]).upper(),
    )


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

