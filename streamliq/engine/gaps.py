"""Feed outages: intervals of time during which a live feed could not see an instrument.

A bar is marked `gap = true` (FACTORS.md section 2) when an outage overlaps it. Outages are kept
per key (a connection's name) with the instruments the connection carries, or `None` for an
all-market connection; an outage still in progress has no end yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .events import Instrument


@dataclass
class Outage:
    instruments: frozenset[Instrument] | None  # None: every instrument
    start: int  # µs
    end: int | None = None  # µs; None while the feed is still down

    def overlaps(self, instrument: Instrument, start: int, end: int) -> bool:
        """Whether this outage touches `instrument` anywhere in [start, end)."""
        return (self.start < end and (self.end is None or self.end > start)
                and (self.instruments is None or instrument in self.instruments))


class Outages:
    """Open and finished outages; `covers` answers the `gap` column of a closing bar."""

    def __init__(self) -> None:
        self.open: dict[str, Outage] = {}
        self.finished: list[Outage] = []

    def begin(self, key: str, instruments: frozenset[Instrument] | None, start: int) -> None:
        """The feed behind `key` went down at `start` (a second begin keeps the first start)."""
        if key not in self.open:
            self.open[key] = Outage(instruments, start)

    def end(self, key: str, end: int) -> None:
        """The feed behind `key` is back at `end`."""
        outage = self.open.pop(key, None)
        if outage is not None:
            outage.end = max(end, outage.start)
            self.finished.append(outage)

    def covers(self, instrument: Instrument, start: int, end: int) -> bool:
        """Whether any outage touches `instrument` in the bar [start, end)."""
        if not self.open and not self.finished:
            return False
        return any(o.overlaps(instrument, start, end) for o in (*self.open.values(), *self.finished))

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
            else:
                covered = np.array([instruments[i] in outage.instruments for i in ids], bool)
            end = np.iinfo(np.int64).max if outage.end is None else outage.end
            out |= covered[row_seg] & (bar_start < end) & (bar_end > outage.start)
        return out
