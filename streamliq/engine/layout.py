"""The rows of one close: every started instrument's bars up to the last due bar.

Rows are laid out instrument by instrument (each instrument's bars contiguous, oldest first),
which is the order cross-bar features need; the block is reordered to the output order
(bar, then instrument) at the end.
"""

from __future__ import annotations

import numpy as np


class Layout:
    """Rows of instruments `ids` (engine instrument ids) from bar `start[i]` through `last`."""

    __slots__ = ("first_row", "ids", "last", "n_rows", "pos", "row_bar", "row_inst", "row_seg", "start")

    def __init__(self, ids: np.ndarray, start: np.ndarray, last: int, n_instruments: int) -> None:
        self.ids = ids
        self.start = start
        self.last = last
        counts = last - start + 1
        self.first_row = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(counts, out=self.first_row[1:])
        self.n_rows = int(self.first_row[-1])
        self.row_seg = np.repeat(np.arange(len(ids)), counts)  # the segment (index into ids) of a row
        self.row_inst = ids[self.row_seg]
        self.row_bar = np.arange(self.n_rows, dtype=np.int64) + np.repeat(start - self.first_row[:-1], counts)
        self.pos = np.full(n_instruments, -1, np.int64)  # instrument id -> segment
        self.pos[ids] = np.arange(len(ids))

    def rows(self, inst: np.ndarray, bar: np.ndarray) -> np.ndarray:
        """The row of each (instrument, bar); every pair must lie in the layout."""
        seg = self.pos[inst]
        return self.first_row[seg] + (bar - self.start[seg])

    @property
    def seg_first(self) -> np.ndarray:
        """Per row: the row number of its instrument's first row in this close."""
        return self.first_row[self.row_seg]


def ffill(values: np.ndarray, layout: Layout, seeds: np.ndarray) -> np.ndarray:
    """Carry the last non-NaN value forward within each instrument; before it, the seed.

    `seeds` holds one value per segment (the instrument's carried value from earlier closes).
    """
    n = len(values)
    first = layout.seg_first
    index = np.where(np.isnan(values), first - 1, np.arange(n))
    np.maximum.accumulate(index, out=index)
    out = values[np.maximum(index, 0)] if n else values.copy()
    missing = index < first
    out[missing] = seeds[layout.row_seg[missing]]
    return out


def any_so_far(flags: np.ndarray, layout: Layout, seeds: np.ndarray) -> np.ndarray:
    """Per row: whether the flag was set on this row, an earlier row of its instrument, or the seed."""
    n = len(flags)
    first = layout.seg_first
    index = np.where(flags, np.arange(n), first - 1)
    np.maximum.accumulate(index, out=index)
    return (index >= first) | seeds[layout.row_seg]


def previous(values: np.ndarray, layout: Layout, seeds: np.ndarray) -> np.ndarray:
    """Per row: the value of the instrument's previous row (its seed on the first row)."""
    out = np.empty_like(values)
    if len(values):
        out[1:] = values[:-1]
        heads = layout.first_row[:-1]
        out[heads] = seeds
    return out


def last_per_segment(values: np.ndarray, layout: Layout) -> np.ndarray:
    """The value on each instrument's last row (the carry into the next close)."""
    return values[layout.first_row[1:] - 1]


def segment_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys begins in a sorted array."""
    if len(sorted_keys) == 0:
        return np.empty(0, np.int64)
    return np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))


def row_sums(rows: np.ndarray, weights: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, the sum of its weights in array order (float64 even when there are none)."""
    return np.bincount(rows, weights, n_rows).astype(np.float64, copy=False)
