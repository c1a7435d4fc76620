"""Feed outages: intervals of time during which a live feed could not see an instrument.

A bar is marked `gap = true` (FACTORS.md section 2) when an outage overlaps it. Outages are kept
per key (a connection's name) with the instruments the connection carries, or `None` for an
all-market connection; an outage still in progress has no end yet. A replay registers the days
its files miss the same way.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

import numpy as np

from .events import Instrument


@dataclass
class Outage:
    instruments: Container[Instrument] | None  # None: every instrument
    start: int  # µs
    end: int | None = None  # µs; None while the feed is still down


class Outages:
    """Open and finished outages; `gaps` answers the `gap` column of a close."""

    def __init__(self) -> None:
        self.open: dict[str, Outage] = {}
        self.finished: list[Outage] = []
        self.members: dict[Instrument, set[Instrument]] = {}  # aggregate -> members (FACTORS.md 10)

    def begin(self, key: str, instruments: Container[Instrument] | None, start: int) -> None:
        """The feed behind `key` went down at `start` (a second begin keeps the first start)."""
        if key not in self.open:
            self.open[key] = Outage(instruments, start)

    def end(self, key: str, end: int) -> None:
        """The feed behind `key` is back at `end`."""
        outage = self.open.pop(key, None)
        if outage is not None:
            outage.end = max(end, outage.start)
            self.finished.append(outage)

    def _with_members(self, instrument: Instrument) -> set[Instrument]:
        return {instrument, *self.members.get(instrument, ())}

    def forget_before(self, time: int) -> None:
        """Drop finished outages that ended at or before `time` (no open bar can overlap them)."""
        self.finished = [o for o in self.finished if o.end > time]

    def gaps(self, instruments: list[Instrument], ids: np.ndarray, row_seg: np.ndarray, bar_start: np.ndarray,
             bar_end: np.ndarray) -> np.ndarray:
        """The `gap` column of a close: rows of instrument `ids[row_seg]` over [bar_start, bar_end)."""
        out = np.zeros(len(bar_start), bool)
        for outage in (*self.open.values(), *self.finished):
            if outage.instruments is None:
                covered = np.ones(len(ids), bool)
            else:  # an aggregate row has a gap when any member's bar has one
                covered = np.array([any(m in outage.instruments for m in self._with_members(instruments[i]))
                                    for i in ids], bool)
            end = np.iinfo(np.int64).max if outage.end is None else outage.end
            out |= covered[row_seg] & (bar_start < end) & (bar_end > outage.start)
        return out
