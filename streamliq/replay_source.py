"""A `RowSource` over a file replay, so a replay can feed the server, Redis and in-process bots.

The replay runs on a worker thread (it is CPU-bound and would stall the server) and hands its
rows to the event loop in pieces of up to `PIECE_ROWS`, one piece in flight at a time. On the
loop a piece is published in chunks of at most `publish.chunk_rows` rows, and no more rows at
once than `publish.room_rows()` says the sinks have room for: the replay keeps pace with its
slowest sink and drops nothing. Both are read on the loop when the rows go out, so a WebSocket
client subscribing mid-replay (which shrinks the server's chunks to half its queue) is never
sent more than its queue holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future

from .engine.block import RowBlock
from .tardis_replay import Replay
from .telemetry import Metrics

PIECE_ROWS = 100_000  # rows per hand-over from the replay thread at most


class ReplaySource:
    """Publishes the rows of `replay` (a `streamliq.tardis_replay.Replay`)."""

    def __init__(self, replay: Replay, metrics: Metrics | None = None) -> None:
        self.replay = replay
        self.metrics = metrics
        self.state = "waiting"
        self._stop = False

    async def run(self, publish: Callable[[RowBlock], None]) -> None:
        loop = asyncio.get_running_loop()
        room_rows = getattr(publish, "room_rows", None)

        async def deliver(piece: RowBlock) -> None:  # on the event loop
            done = 0
            while done < len(piece):
                budget = len(piece) if room_rows is None else await room_rows()
                chunk = getattr(publish, "chunk_rows", len(piece))
                for start in range(done, min(len(piece), done + budget), chunk):
                    publish(piece.take(slice(start, min(start + chunk, done + budget))))
                done += budget
            self._count()

        in_flight: Future | None = None

        def hand_over(piece: RowBlock) -> None:  # on the replay thread
            nonlocal in_flight
            if in_flight is not None:
                in_flight.result()  # one piece at a time: rows go out in order
            in_flight = asyncio.run_coroutine_threadsafe(deliver(piece), loop)

        def replay_all() -> None:
            self._iterate(hand_over)
            if in_flight is not None:
                in_flight.result()

        self.state = "running"
        try:
            await asyncio.to_thread(replay_all)
        except asyncio.CancelledError:
            self._stop = True  # the thread sees it at its next piece
            self.state = "stopped"
            raise
        except BaseException:
            self.state = "failed"
            raise
        self._count()
        self.state = "done"

    def _iterate(self, hand_over: Callable[[RowBlock], None]) -> None:
        for block in self.replay.blocks():
            for start in range(0, len(block), PIECE_ROWS):
                if self._stop:
                    return
                hand_over(block.take(slice(start, start + PIECE_ROWS)))

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
