"""One fan-out from the row source to every sink, each behind its own bounded queue.

`Fanout.publish(rows)` runs on the event loop and never waits: it appends the rows to each
sink's queue and wakes that sink's worker task, which hands them to `Sink.send` in batches.
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

from ..telemetry import Metrics

log = logging.getLogger("streamliq.sinks")

SEND_BATCH_ROWS = 1000
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

    async def start(self) -> None:
        """Open connections or files; called once before the first `send`."""

    async def send(self, rows: list[dict]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Flush and release; called once after the last `send`."""


class SinkQueue:
    """A sink's bounded row queue and the worker task that feeds it."""

    def __init__(self, sink: Sink, metrics: Metrics) -> None:
        self.sink = sink
        self.metrics = metrics
        self.rows: deque[dict] = deque()
        self.in_flight = 0
        self.dropped = 0
        self.closing = False
        self._wake = asyncio.Event()
        self._logged: set[str] = set()
        self.task: asyncio.Task | None = None
        sink.report_drop = self.drop
        self._dropped_counter = metrics.sink_dropped.labels(sink=sink.name)  # exported as 0 from the start
        self._depth_gauge = metrics.sink_queue_depth.labels(sink=sink.name)

    def put(self, rows: list[dict]) -> None:
        """Queue rows (never waits); on overflow drop per the sink's policy."""
        room = self.sink.queue_rows - len(self.rows)
        if len(rows) > room:
            if self.sink.drop_oldest:
                self.rows.extend(rows)
                overflow = len(self.rows) - self.sink.queue_rows
                for _ in range(overflow):
                    self.rows.popleft()
            else:
                overflow = len(rows) - max(room, 0)
                self.rows.extend(rows[:max(room, 0)])
            self.drop(overflow, "queue full", f"{self.sink.queue_rows:,} rows waiting")
        else:
            self.rows.extend(rows)
        self._depth_gauge.set(len(self.rows))
        self._wake.set()

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
        return len(self.rows) + self.in_flight

    async def work(self) -> None:
        """Send queued rows in batches until closed and empty."""
        while True:
            if not self.rows:
                if self.closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self.rows.popleft() for _ in range(min(len(self.rows), SEND_BATCH_ROWS))]
            self.in_flight = len(batch)
            self._depth_gauge.set(len(self.rows))
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

    def publish(self, rows: list[dict]) -> None:
        """Hand newly closed rows to every sink. Synchronous, on the event loop, never blocks."""
        if not rows:
            return
        now_us = None if self.clock is None else int(self.clock() * 1e6)
        self.metrics.record_rows(rows, now_us)
        for queue in self.queues:
            queue.put(rows)

    __call__ = publish  # the `publish` a RowSource is given

    async def room(self, poll_seconds: float = 0.005) -> None:
        """Wait until every sink's queue is at most half full.

        A finite source (a replay) awaits this between batches so that it never outruns its
        sinks and loses nothing; a live source publishes at the exchange's pace and need not.
        """
        while any(q.depth > q.sink.queue_rows // 2 for q in self.queues):
            await asyncio.sleep(poll_seconds)

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
                queue.rows.clear()
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
