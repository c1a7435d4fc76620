"""Options for feeding bots (`--serve`, `--token`, `--ring-size`, `--client-queue`, `--sink`) and the
sinks they describe; shared by `streamliq serve` and the live daemon, from flags or a TOML table.

    [serve]                       # TOML: the same options, `sinks` as a list
    listen = "127.0.0.1:8765"
    token = "s3cret"
    ring_size = 500
    client_queue = 1000
    sinks = ["redis://127.0.0.1:6379/0", "parquet:factors.parquet"]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import InputError
from .sinks.ring import DEFAULT_CLIENT_QUEUE, DEFAULT_RING_SIZE
from .sinks.specs import SinkSpec, parse_listen_address, parse_sink_specs

if TYPE_CHECKING:  # the sinks and the metrics load when a server is built, not for every command
    from .sinks.fanout import Sink
    from .telemetry import Metrics

TOKEN_ENV = "STREAMLIQ_TOKEN"
DEFAULT_LISTEN = "127.0.0.1:8765"


@dataclass(frozen=True)
class ServingOptions:
    """Where rows go: the server's listen address (None: no server) and the other sinks."""

    listen: tuple[str, int] | None = None
    token: str | None = None
    ring_size: int = DEFAULT_RING_SIZE
    client_queue: int = DEFAULT_CLIENT_QUEUE
    sinks: list[SinkSpec] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServingOptions:
        return cls.build(listen=args.serve, token=args.token, ring_size=args.ring_size,
                         client_queue=args.client_queue, sinks=args.sink)

    @classmethod
    def from_mapping(cls, table: Mapping[str, object]) -> ServingOptions:
        """From a config table (e.g. TOML `[serve]`), with the keys of the module docstring."""
        known = {"listen", "token", "ring_size", "client_queue", "sinks"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise InputError(f"serve config: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        sinks = table.get("sinks", [])
        if not isinstance(sinks, list):
            raise InputError(f"serve config: 'sinks' must be a list of strings (got {sinks!r})")
        return cls.build(listen=table.get("listen"), token=table.get("token"),
                         ring_size=table.get("ring_size", DEFAULT_RING_SIZE),
                         client_queue=table.get("client_queue", DEFAULT_CLIENT_QUEUE), sinks=sinks)

    @classmethod
    def build(cls, listen: object = None, token: object = None, ring_size: object = DEFAULT_RING_SIZE,
              client_queue: object = DEFAULT_CLIENT_QUEUE, sinks: list | None = None) -> ServingOptions:
        """Validate user values; the token falls back to $STREAMLIQ_TOKEN."""
        token = token or os.environ.get(TOKEN_ENV) or None
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise InputError("token must be a non-empty string")
        return cls(
            listen=None if listen in (None, "", "off") else parse_listen_address(str(listen)),
            token=token,
            ring_size=_positive("ring size", ring_size),
            client_queue=_positive("client queue", client_queue),
            sinks=parse_sink_specs([str(s) for s in sinks or []]),
        )


def add_serving_arguments(p: argparse.ArgumentParser, serve_default: str | None = None) -> None:
    """Register `--serve`, `--token`, `--ring-size`, `--client-queue` and the repeatable `--sink`."""
    p.add_argument("--serve", metavar="HOST:PORT", default=serve_default,
                   help="HTTP/WebSocket server address; 'off' for none (default: %(default)s)")
    p.add_argument("--token", help=f"require 'Authorization: Bearer TOKEN' (default: ${TOKEN_ENV} if set)")
    p.add_argument("--ring-size", type=int, default=DEFAULT_RING_SIZE,
                   help="rows kept per symbol and frequency for /factors and backfill (default: %(default)s)")
    p.add_argument("--client-queue", type=int, default=DEFAULT_CLIENT_QUEUE,
                   help="rows a WebSocket client may fall behind before it is cut off (default: %(default)s)")
    p.add_argument("--sink", action="append", default=[], metavar="SPEC",
                   help="also send rows to parquet:PATH, csv:PATH, jsonl:PATH|-, ws://HOST:PORT or "
                        "redis://HOST:PORT/DB[?maxlen=N]; repeatable")


def build_sinks(options: ServingOptions, columns: list[str], metrics: Metrics,
                health: Callable[[], dict] | None = None) -> list[Sink]:
    """The server (if `listen`) and one sink per spec, in order."""
    from .sinks.async_files import FileRowSink
    from .sinks.redis_streams import RedisSink
    from .sinks.server import RowServer  # aiohttp loads only when rows are served

    listens = [options.listen] if options.listen else []
    listens += [(spec.host, spec.port) for spec in options.sinks if spec.kind == "ws"]
    if len(set(listens)) != len(listens):
        raise InputError("the same server address is given twice (--serve and a ws:// sink)")
    sinks: list[Sink] = [RowServer(host, port, token=options.token, ring_size=options.ring_size,
                                   client_queue=options.client_queue, metrics=metrics, health=health)
                         for host, port in listens]
    for spec in options.sinks:
        if spec.kind == "redis":
            sinks.append(RedisSink(spec, metrics))
        elif spec.kind != "ws":
            sinks.append(FileRowSink(spec, columns))
    return sinks


def _positive(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{what} must be a whole number >= 1 (got {value!r})")
    return value
