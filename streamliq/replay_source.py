"""A `RowSource` over a file replay, so a replay can feed the server, Redis and in-process bots.

The replay runs on a worker thread (it is CPU-bound and would stall the server); its rows are
handed to `publish` on the event loop in chunks, in order, and the thread hands over no more
rows than `publish.room_rows()` last said the sinks have room for, so the replay keeps pace
with its slowest sink and drops nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .engine.block import RowBlock
from .tardis_replay import Replay
from .telemetry import Metrics

CHUNK_ROWS = 20_000  # rows per hand-over at most (less when a sink's queue is small: never overflow it)


class ReplaySource:
    """Publishes the rows of `replay` (a `streamliq.tardis_replay.Replay`)."""

    def __init__(self, replay: Replay, metrics: Metrics | None = None) -> None:
        self.replay = replay
        self.metrics = metrics
        self.state = "waiting"
        self._stop = False
        self._chunk_rows = CHUNK_ROWS

    async def run(self, publish: Callable[[RowBlock], None]) -> None:
        loop = asyncio.get_running_loop()

        def hand_over(chunk: RowBlock) -> None:
            publish(chunk)
            self._count()

        room_rows = getattr(publish, "room_rows", None)
        self._chunk_rows = min(CHUNK_ROWS, getattr(publish, "chunk_rows", CHUNK_ROWS))
        budget = 0  # rows the sinks have room for without asking the event loop again

        def hand_over_and_wait(chunk: RowBlock) -> None:
            nonlocal budget
            if room_rows is not None and budget < len(chunk):  # keep pace with the sinks, drop nothing
                budget = asyncio.run_coroutine_threadsafe(room_rows(), loop).result()
            budget -= len(chunk)
            loop.call_soon_threadsafe(hand_over, chunk)

        self.state = "running"
        try:
            await asyncio.to_thread(self._iterate, hand_over_and_wait)
        except asyncio.CancelledError:
            self._stop = True  # the thread sees it at its next chunk
            self.state = "stopped"
            raise
        except BaseException:
            self.state = "failed"
            raise
        self._count()
        self.state = "done"

    def _iterate(self, hand_over: Callable[[RowBlock], None]) -> None:
        for block in self.replay.blocks():
            for start in range(0, len(block), self._chunk_rows):
                if self._stop:
                    return
                hand_over(block.take(slice(start, start + self._chunk_rows)))

    def _count(self) -> None:
        """Bring the event and bad-input counters up to the replay's own statistics."""
        if self.metrics is None:
            return
        stats = self.replay.stats
        self.metrics.catch_up(self.metrics.messages, "kind", {"replay_event": stats.events})
        bad = dict(stats.bad_rows.counts)  # a copy: the replay's thread adds kinds
        self.metrics.catch_up(self.metrics.bad_input, "kind", bad)

    def health(self) -> dict:
        stats = self.replay.stats
        return {"kind": "replay", "state": self.state, "files": stats.files, "events": stats.events,
                "rows": stats.rows, "progress": round(stats.bytes_done / stats.bytes_total, 4) if stats.bytes_total
                else 1.0}
