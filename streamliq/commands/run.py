"""`streamliq run`: the live daemon on one or more venues (see streamliq/live/ and streamliq/venues/)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from ..live.settings import DEFAULTS, resolve
from ..serving import ServingOptions, add_serving_arguments, build_sinks
from ..sinks.ring import DEFAULT_CLIENT_QUEUE, DEFAULT_RING_SIZE
from ..venues.registry import VENUES
from .common import add_factor_arguments

if TYPE_CHECKING:
    from ..live.daemon import LiveDaemon, LiveStats


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the live daemon on the venues' streams",
                       description="Follow liquidations (and mark prices, open interest, trades) live on "
                                   f"{', '.join(VENUES)} and write one factor row per bar as it closes on the "
                                   "wall clock. Every flag can also be set in a TOML file (--config); "
                                   "flags win.")
    p.add_argument("--config", metavar="FILE", help="TOML file with the same keys as the long flags")
    p.add_argument("--venues", help=f"comma-separated venues among {', '.join(VENUES)} (default: "
                                    f"{DEFAULTS['venues']})")
    p.add_argument("--symbols", help="comma-separated coins (BTC: each venue's perpetual), venue symbols "
                                     "(btcusdt) or venue:SYMBOL for one venue (okx:BTC-USD-SWAP)")
    p.add_argument("--all-symbols", action="store_true", default=None,
                   help="every Binance USD-M symbol (!forceOrder@arr and !markPrice@arr@1s)")
    p.add_argument("--channels", help=f"liquidations,ticker,trades,metrics (default: {DEFAULTS['channels']})")
    add_factor_arguments(p, defaults=None)
    p.add_argument("--out", help=f"output .jsonl, .csv, .parquet (a folder of parts) or - ; appended "
                                 f"(default: {DEFAULTS['out']})")
    p.add_argument("--record", metavar="DIR", help="record every raw frame (gzip JSON lines, one file per hour)")
    p.add_argument("--state", metavar="FILE", help="checkpoint file: saved every minute and on exit, "
                                                   "resumed on start")
    p.add_argument("--aggregate", action="store_true", default=None,
                   help="also one row per coin over every venue and instrument (exchange 'all')")
    p.add_argument("--ws-url", help="websocket base URL of the only venue, or venue=url,... (default: the "
                                    "venue's own)")
    p.add_argument("--rest-url", help="REST base URL of the only venue, or venue=url,... (default: the venue's "
                                      "own)")
    p.add_argument("--oi-interval", help=f"open-interest polling interval per symbol, 0 disables "
                                         f"(default: {DEFAULTS['oi_interval']})")
    p.add_argument("--metrics-period", help=f"period of the positioning statistics polled for the metrics "
                                            f"channel (default: {DEFAULTS['metrics_period']})")
    p.add_argument("--rotate-after", help=f"reconnect each websocket before Binance's 24 h cut-off "
                                          f"(default: {DEFAULTS['rotate_after']})")
    p.add_argument("--checkpoint-every", help=f"seconds between checkpoints (default: "
                                              f"{DEFAULTS['checkpoint_every']})")
    p.add_argument("--streams-per-connection", type=int, help=f"streams per websocket (default: "
                                                              f"{DEFAULTS['streams_per_connection']})")
    p.add_argument("--log-level", dest="run_log_level", help="INFO, WARNING, ... (default: INFO)")
    add_serving_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Resolve settings, run the daemon until SIGTERM/SIGINT, print the summary."""
    given = {key: value for key, value in vars(args).items() if key in DEFAULTS}
    given["log_level"] = args.run_log_level
    settings = resolve(given, args.config)
    serving = _serving_options(args, settings.serve)
    from ..live.daemon import LiveDaemon  # the daemon's I/O stack loads only for `run`
    from ..logfmt import use_logfmt
    from ..sinks.append import AppendingFileSink

    use_logfmt(settings.log_level)
    sink = AppendingFileSink(settings.out, settings.factors.columns()) if settings.out else None
    daemon = LiveDaemon(settings, sink)
    asyncio.run(_run(daemon, serving))
    print(_summary(daemon, daemon.stats), file=sys.stderr)
    return 0


async def _run(daemon: LiveDaemon, serving: ServingOptions) -> None:
    """The daemon as the row source of a feed: the server and `--sink`s get every row."""
    from ..feed import Feed

    feed = Feed(daemon, metrics=daemon.metrics)
    for sink in build_sinks(serving, daemon.settings.factors.columns(), daemon.metrics, feed.health):
        feed.add_sink(sink)
    await feed.run()


def _serving_options(args: argparse.Namespace, table: dict) -> ServingOptions:
    """The config file's [serve] table, with the serving flags that were given on top."""
    merged = dict(table)
    if args.serve is not None:
        merged["listen"] = args.serve
    if args.token is not None:
        merged["token"] = args.token
    if args.sink:
        merged["sinks"] = args.sink
    if args.ring_size != DEFAULT_RING_SIZE:
        merged["ring_size"] = args.ring_size
    if args.client_queue != DEFAULT_CLIENT_QUEUE:
        merged["client_queue"] = args.client_queue
    return ServingOptions.from_mapping(merged)


def _summary(daemon: LiveDaemon, stats: LiveStats) -> str:
    core = daemon.core
    p50, p99 = stats.delay_percentiles()
    late = ", ".join(f"{n:,} ({freq})" for freq, n in core.engine.late_events().items())
    text = (f"streamliq run: {stats.rows:,} rows from {core.messages:,} messages; late events "
            f"{late}; reconnects {sum(c.stats.reconnects for c in daemon.connections)}; "
            f"bar-close delay p50 {p50:.3f} s, p99 {p99:.3f} s")
    if core.bad.total:
        text += "\nskipped " + "; ".join(f"{n:,} {kind}" for kind, n in core.bad.counts.most_common())
    return text
