"""Events of open bars, kept column by column until their bar closes.

A bar's statistics are reduced once, at close, from all its events in arrival order, so a row
does not depend on how its events were batched (one at a time live, 100k per replay chunk).
"""

from __future__ import annotations

import numpy as np


class Pending:
    """Chunks of events of one channel (dicts of equal-length arrays, `inst` and `bar` included)."""

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []

    def add(self, columns: dict[str, np.ndarray]) -> None:
        """Append events (in arrival order, after every event added before)."""
        if len(columns["bar"]):
            self.chunks.append(columns)

    def __len__(self) -> int:
        return sum(len(chunk["bar"]) for chunk in self.chunks)

    def joined(self) -> dict[str, np.ndarray] | None:
        """All pending events as one chunk (None when there are none)."""
        if not self.chunks:
            return None
        if len(self.chunks) > 1:
            names = self.chunks[0].keys()
            self.chunks = [{name: np.concatenate([c[name] for c in self.chunks]) for name in names}]
        return self.chunks[0]

    def take_through(self, last: int) -> dict[str, np.ndarray] | None:
        """Remove and return the events of bars up to `last` (arrival order kept), None if none."""
        events = self.joined()
        if events is None:
            return None
        due = events["bar"] <= last
        if due.all():
            self.chunks = []
            return events
        if not due.any():
            return None
        self.chunks = [{name: values[~due] for name, values in events.items()}]
        return {name: values[due] for name, values in events.items()}

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays for a checkpoint, names prefixed."""
        events = self.joined()
        return {} if events is None else {f"{prefix}{name}": values for name, values in events.items()}

    def restore(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        """Undo `state`."""
        columns = {name[len(prefix):]: values for name, values in arrays.items() if name.startswith(prefix)}
        self.chunks = [columns] if columns and len(columns["bar"]) else []
