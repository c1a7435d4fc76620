"""`streamliq serve`: replay Tardis files and serve the rows to bots (HTTP/WebSocket, Redis, files)
until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from ..errors import InputError
from ..serving import DEFAULT_LISTEN, ServingOptions, add_serving_arguments, build_sinks
from ..tardis_replay import Replay
from .common import add_replay_arguments, factor_config, open_replay


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="replay Tardis files and serve the rows over HTTP/WebSocket",
                       description="Replay Tardis CSV files through the factor engine and send each closed "
                                   "row to the HTTP/WebSocket server and any --sink; keep serving until "
                                   "Ctrl-C or SIGTERM.")
    add_replay_arguments(p)
    add_serving_arguments(p, serve_default=DEFAULT_LISTEN)
    p.add_argument("--quiet", action="store_true", help="no start and end lines on stderr")
    p.add_argument("--exit-when-done", action="store_true",
                   help="stop once the replay has ended and the sinks have taken every row")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve the replay the arguments select."""
    options = ServingOptions.from_args(args)
    if options.listen is None and not options.sinks:
        raise InputError("nothing to send rows to: give --serve HOST:PORT or at least one --sink")
    replay = open_replay(args, factor_config(args))
    return asyncio.run(_serve(replay, options, args.exit_when_done, args.quiet))


async def _serve(replay: Replay, options: ServingOptions, exit_when_done: bool, quiet: bool) -> int:
    from ..feed import Feed  # the serving stack (asyncio sinks, aiohttp, metrics) loads only to serve
    from ..replay_source import ReplaySource
    from ..sinks.server import RowServer
    from ..telemetry import Metrics

    metrics = Metrics()
    source = ReplaySource(replay, metrics)
    feed = Feed(source, metrics=metrics)
    for sink in build_sinks(options, replay.config.columns(), metrics, feed.health):
        feed.add_sink(sink)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await feed.start()
    if not quiet:
        names = ", ".join(f"{q.sink.url} (HTTP, WebSocket /ws)" if isinstance(q.sink, RowServer) else q.sink.name
                          for q in feed.fanout.queues)
        print(f"streamliq serve: sending rows to {names}; Ctrl-C to stop", file=sys.stderr, flush=True)
    await feed.run(stop, serve_after_source=not exit_when_done, close_timeout=None if exit_when_done else 4.0)
    if not quiet:
        dropped = sum(stats["dropped"] for stats in feed.fanout.stats().values())
        print(f"streamliq serve: {replay.stats.rows:,} rows from {replay.stats.events:,} events; "
              f"{dropped:,} dropped by sinks", file=sys.stderr)
    return 0
