"""The loop every finite driver shares: feed merged steps, advance the watermark, collect rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from .engine import NO_WATERMARK, BarEngine
from .engine.block import RowBlock
from .engine.events import EventBatch

ADVANCE_STEP_US = 86_400_000_000  # close at most a day of bars per call: bounded memory over gaps


def run_steps(engine: BarEngine, steps: Iterable[tuple[list[EventBatch], int]],
              on_batch: Callable[[EventBatch], None] | None = None) -> Iterator[RowBlock]:
    """Feed each (batches, horizon) step, then advance to the horizon; yield closed blocks."""
    for batches, horizon in steps:
        for batch in batches:
            engine.feed(batch)
            if on_batch:
                on_batch(batch)
        for watermark in advance_steps(engine.watermark, horizon):
            yield engine.advance(watermark)


def advance_steps(current: int, target: int, step: int = ADVANCE_STEP_US) -> Iterator[int]:
    """Watermarks from `current` to `target` at most `step` apart.

    Advancing in steps closes the same bars in the same order as one jump, but a jump over a
    silent month no longer builds every symbol's empty rows in memory at once.
    """
    if current == NO_WATERMARK or target <= current:
        yield target
        return
    while current + step < target:
        current += step
        yield current
    yield target
