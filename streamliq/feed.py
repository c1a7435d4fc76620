"""A row source wired to its sinks: what `streamliq serve`, the live daemon and in-process bots run.

A `RowSource` (a replay, the live daemon) calls `publish(rows)` on the event loop with each
batch of newly closed rows (the engine's RowBlock, or dicts); `Feed` passes them through one
`Fanout` to every sink, and rows become dicts only for the sinks that send them one by one. For a bot
in the same process:

    async for row in streamliq.stream(source):       # rows as plain dicts (FACTORS.md columns)
        ...

    feed = streamliq.Feed(source)
    feed.on_row(callback)                              # sync or async callback, called per row
    await feed.run()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol

from .engine.block import RowBlock
from .sinks.callback import CallbackSink, IteratorSink, RowCallback
from .sinks.fanout import Fanout, Sink
from .telemetry import Metrics

SHUTDOWN_SECONDS = 4.0  # the daemon must be gone 5 s after SIGTERM


class RowSource(Protocol):
    """Produces closed factor rows. `publish(rows)` (a RowBlock or dicts) is synchronous and
    never blocks.

    A finite source may also `await publish.room_rows()`: it returns once the sinks have room,
    with how many rows it may publish before asking again, in batches of at most
    `publish.chunk_rows` read right then (it shrinks when a WebSocket client subscribes), so a
    replay runs at the pace of its slowest sink instead of dropping rows.
    """

    async def run(self, publish: Callable[[RowBlock | list[dict]], None]) -> None:
        """Publish rows until the source is exhausted (replay) or cancelled (live)."""

    def health(self) -> dict:
        """Status for `GET /health` (per connection for a live source)."""

    # A live source also has `clock() -> float` (seconds since the epoch); the fan-out then
    # observes each row's bar-close delay against it.


class Feed:
    """One source, one fan-out, many sinks."""

    def __init__(self, source: RowSource, sinks: Iterable[Sink] = (), metrics: Metrics | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        """`clock` (default: the source's `clock`, a live source's wall clock) times the bar-close delay."""
        self.source = source
        self.metrics = metrics or Metrics()
        self.fanout = Fanout(sinks, self.metrics, clock or getattr(source, "clock", None))

    def add_sink(self, sink: Sink) -> Sink:
        self.fanout.add(sink)
        return sink

    def on_row(self, callback: RowCallback, queue_rows: int = 100_000) -> CallbackSink:
        """Call `callback(row)` for every closed row (register before `run`)."""
        return self.add_sink(CallbackSink(callback, queue_rows=queue_rows))

    def health(self) -> dict:
        return {"source": self.source.health(), "sinks": self.fanout.stats()}

    async def start(self) -> None:
        """Start the sinks (binds the server); `run` does it when not done yet."""
        if not self.fanout.started:
            await self.fanout.start()

    async def run(self, stop: asyncio.Event | None = None, serve_after_source: bool = False,
                  close_timeout: float | None = SHUTDOWN_SECONDS) -> None:
        """Run until the source ends (or, with `serve_after_source`, until `stop` is set).

        `stop` ends the run early. Sinks are drained and closed within `close_timeout` seconds
        (None: as long as they need). An error of the source is raised after the sinks closed.
        """
        await self.start()
        source = asyncio.create_task(self.source.run(self.fanout), name="row source")
        stopper = asyncio.create_task(stop.wait()) if stop is not None else None
        try:
            await asyncio.wait({t for t in (source, stopper) if t is not None}, return_when=asyncio.FIRST_COMPLETED)
            if source.done() and source.exception() is None and serve_after_source and stopper is not None:
                await stopper
        finally:
            for task in (source, stopper):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self.fanout.close(close_timeout)
        if source.done() and not source.cancelled() and source.exception() is not None:
            raise source.exception()


async def stream(source: RowSource, queue_rows: int = 100_000, metrics: Metrics | None = None,
                 sinks: Iterable[Sink] = ()) -> AsyncIterator[dict]:
    """Every closed row of `source`, in order, as a dict; ends when the source ends.

    A consumer more than `queue_rows` rows behind loses the oldest (counted in
    `streamliq_sink_dropped_total{sink="stream"}`). Leaving the loop stops the source.
    """
    rows = IteratorSink(queue_rows)
    feed = Feed(source, [rows, *sinks], metrics)
    task = asyncio.create_task(feed.run(close_timeout=None), name="streamliq.stream")
    task.add_done_callback(lambda _: rows.end())  # also when the feed failed before its sinks closed
    try:
        while (batch := await rows.next_batch()) is not None:
            for row in batch:
                yield row
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
