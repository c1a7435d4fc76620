"""One fan-out from the row source to every sink, each behind its own bounded queue.

`Fanout.publish(rows)` runs on the event loop and never waits: it appends the rows (a RowBlock
or dicts, as one `RowChunk` shared by every sink) to each sink's queue and wakes that sink's
worker task, which hands them to `Sink.send`. A sink iterates them as dicts, made once for all
sinks, or writes the block as columns (files).
A slow or failing sink therefore never delays the source or the other sinks. When a queue is
full the sink's policy decides what goes: `drop_oldest` (live consumers, which want the
newest rows) or the incoming rows (files, which keep what they already hold). Every dropped
row is counted in `streamliq_sink_dropped_total{sink}` and each kind of loss is logged once
per sink, with a sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from ..engine.block import RowBlock
from ..telemetry import Metrics
from .chunk import RowChunk

log = logging.getLogger("streamliq.sinks")

DEFAULT_QUEUE_ROWS = 100_000


class Sink:
    """A destination for closed rows. Subclasses implement `send` and, if needed, `start`/`close`.

    `send` may take its time (the fan-out awaits it on the sink's own task) and may raise: the
    batch is then counted as dropped. `queue_rows` bounds the rows waiting for it.
    """

    name = "sink"
    drop_oldest = True
    queue_rows = DEFAULT_QUEUE_ROWS

    def report_drop(self, count: int, kind: str, sample: str) -> None:
        """Count rows lost inside `send` (the fan-out replaces this with its counter)."""
        log.warning("sink %s dropped %d rows (%s): %s", self.name, count, kind, sample)

    @property
    def backlog(self) -> int:
        """Rows the sink holds beyond its fan-out queue (a server: its fullest client's queue)."""
        return 0

    @property
    def chunk_rows(self) -> int:
        """The most rows a paced source should publish at once (see `Fanout.room`)."""
        return max(1, self.queue_rows // 2)

    async def start(self) -> None:
        """Open connections or files; called once before the first `send`."""

    async def send(self, rows: RowChunk) -> None:
        """Deliver rows: a sequence of row dicts (`rows.block` holds them as columns)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Flush and release; called once after the last `send`."""


class SinkQueue:
    """A sink's bounded row queue and the worker task that feeds it."""

    def __init__(self, sink: Sink, metrics: Metrics) -> None:
        self.sink = sink
        self.metrics = metrics
        self.chunks: deque[RowChunk] = deque()
        self.queued = 0  # rows in `chunks`
        self.in_flight = 0
        self.dropped = 0
        self.closing = False
        self._wake = asyncio.Event()
        self._logged: set[str] = set()
        self.task: asyncio.Task | None = None
        sink.report_drop = self.drop
        self._dropped_counter = metrics.sink_dropped.labels(sink=sink.name)  # exported as 0 from the start
        self._depth_gauge = metrics.sink_queue_depth.labels(sink=sink.name)

    def put(self, rows: RowChunk) -> None:
        """Queue rows (never waits); on overflow drop per the sink's policy."""
        room = self.sink.queue_rows - self.queued
        if len(rows) > room:
            if self.sink.drop_oldest:
                self._append(rows)
                overflow = self.queued - self.sink.queue_rows
                self._drop_oldest(overflow)
            else:
                overflow = len(rows) - max(room, 0)
                if room > 0:
                    self._append(rows[:room])
            self.drop(overflow, "queue full", f"{self.sink.queue_rows:,} rows waiting")
        else:
            self._append(rows)
        self._depth_gauge.set(self.queued)
        self._wake.set()

    def _append(self, rows: RowChunk) -> None:
        self.chunks.append(rows)
        self.queued += len(rows)

    def _drop_oldest(self, count: int) -> None:
        while count > 0:
            first = self.chunks[0]
            if len(first) <= count:
                self.chunks.popleft()
                taken = len(first)
            else:
                self.chunks[0] = first[count:]
                taken = count
            self.queued -= taken
            count -= taken

    def drop(self, count: int, kind: str, sample: str) -> None:
        """Count `count` lost rows; the first loss of each kind is logged."""
        if count <= 0:
            return
        self.dropped += count
        self._dropped_counter.inc(count)
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("sink %s dropped %d rows (%s): %s; further drops of this kind are only counted",
                        self.sink.name, count, kind, sample)

    @property
    def depth(self) -> int:
        return self.queued + self.in_flight

    def has_room(self) -> bool:
        """Whether another `chunk_rows` rows fit: the queue at most half full, and the rows still on
        their way through the sink (queued for it, plus its own backlog: a server's fullest client)
        no more than one chunk."""
        return self.depth <= self.sink.queue_rows // 2 and self.depth + self.sink.backlog <= self.sink.chunk_rows

    @property
    def slack(self) -> int:
        """Rows that may be published now beyond one chunk (see `Fanout.room_rows`)."""
        return min(self.sink.queue_rows // 2, self.sink.chunk_rows - self.sink.backlog) - self.depth

    async def work(self) -> None:
        """Send queued rows in batches until closed and empty."""
        while True:
            if not self.chunks:
                if self.closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self.chunks.popleft()
            self.queued -= len(batch)
            self.in_flight = len(batch)
            self._depth_gauge.set(self.queued)
            try:
                await self.sink.send(batch)
            except Exception as exc:
                self.drop(len(batch), f"send failed: {type(exc).__name__}", str(exc) or repr(exc))
            finally:
                self.in_flight = 0

    def finish(self) -> None:
        self.closing = True
        self._wake.set()


class Fanout:
    """Publishes closed rows to every sink; `close` drains them within a deadline."""

    def __init__(self, sinks: Iterable[Sink], metrics: Metrics | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        """`clock` (seconds since the epoch, e.g. `time.time`) enables the bar-close delay histogram;
        leave it out for a replay, whose bars closed long ago."""
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.queues = [SinkQueue(sink, self.metrics) for sink in sinks]
        names = [q.sink.name for q in self.queues]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.started = False

    def add(self, sink: Sink) -> None:
        """Add a sink before `start`."""
        if self.started:
            raise RuntimeError("add sinks before the fan-out starts")
        if any(q.sink.name == sink.name for q in self.queues):
            raise ValueError(f"sink {sink.name!r} added twice")
        self.queues.append(SinkQueue(sink, self.metrics))

    async def start(self) -> None:
        """Start every sink (in order) and its worker task."""
        self.started = True
        try:
            for queue in self.queues:
                await queue.sink.start()
                queue.task = asyncio.create_task(queue.work(), name=f"sink {queue.sink.name}")
        except BaseException:
            await self.close(timeout=1.0)  # the sinks that did start
            raise

    def publish(self, rows: RowBlock | list[dict]) -> None:
        """Hand newly closed rows to every sink. Synchronous, on the event loop, never blocks."""
        if not len(rows):
            return
        chunk = RowChunk(rows)
        now_us = None if self.clock is None else int(self.clock() * 1e6)
        self.metrics.record_rows(chunk, now_us)
        for queue in self.queues:
            queue.put(chunk)

    __call__ = publish  # the `publish` a RowSource is given

    async def room(self, poll_seconds: float = 0.005) -> None:
        """Wait until every sink has room for another `chunk_rows` rows (see `SinkQueue.has_room`).

        A finite source (a replay) awaits this between batches so that it never outruns its
        sinks and loses nothing; a live source publishes at the exchange's pace and need not.
        """
        while not all(q.has_room() for q in self.queues):
            await asyncio.sleep(poll_seconds)

    async def room_rows(self) -> int:
        """Wait for `room()`, then say how many rows may be published, in chunks of at most
        `chunk_rows`, before asking again.

        As many as leave every sink within what one chunk per `room()` would: its queue at most
        half full plus a chunk, the rows on their way through it (queued, plus a server's fullest
        client) at most two chunks. A source asking once per several chunks waits on the event
        loop far less often.
        """
        await self.room()
        slack = min((q.slack for q in self.queues), default=0)
        return max(slack, 0) + self.chunk_rows

    @property
    def chunk_rows(self) -> int:
        """The most rows a paced source should publish at once: the smallest sink's chunk, so that
        a source awaiting `room()` between publishes never overflows a queue or a client."""
        return min((q.sink.chunk_rows for q in self.queues), default=DEFAULT_QUEUE_ROWS // 2)

    def stats(self) -> dict[str, dict[str, int]]:
        """Queue depth and dropped rows per sink (for /health)."""
        return {q.sink.name: {"queue_depth": q.depth, "dropped": q.dropped} for q in self.queues}

    async def close(self, timeout: float | None = 4.0) -> None:
        """Send what is queued, then close each sink, all within `timeout` seconds (None: no limit).

        Rows still queued at the deadline are counted as dropped. A sink whose `close` overruns
        is abandoned (logged), so shutdown always ends in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for queue in self.queues:
            queue.finish()
        tasks = [q.task for q in self.queues if q.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=None if timeout is None else timeout * 0.75)
        for queue in self.queues:
            if queue.task is not None and not queue.task.done():
                left = queue.depth
                queue.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await queue.task
                queue.drop(left, "not sent before shutdown", f"deadline {timeout} s")
                queue.chunks.clear()
                queue.queued = 0
        closing = {asyncio.create_task(q.sink.close()): q.sink.name for q in self.queues if q.task is not None}
        if not closing:
            return
        left = None if deadline is None else max(0.05, deadline - time.monotonic())
        done, pending = await asyncio.wait(closing, timeout=left)
        for task in pending:
            task.cancel()
            log.warning("sink %s: close did not finish within the shutdown deadline", closing[task])
        for task in done:
            if task.exception() is not None:
                log.warning("sink %s: close failed: %r", closing[task], task.exception())
