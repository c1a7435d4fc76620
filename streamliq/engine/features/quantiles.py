"""`numpy.quantile(values, q)` (method 'linear') of many samples at once: sorted rows of a
matrix (`row_quantiles`) or slices of one array (`SliceQuantiles`). The index and the
interpolation follow numpy's own steps (virtual index `(n - 1) * q`, numpy's `_lerp`), so a
threshold equals what `numpy.quantile` returns for the same values, to the last bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def row_quantiles(sorted_rows: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of each row's first `n` values (rows sorted ascending; n >= 1)."""
    virtual = (n - 1) * q
    below = np.floor(virtual).astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    at_top = virtual >= n - 1
    below = np.where(at_top, n - 1, below)
    rows = np.arange(len(n))
    a = sorted_rows[rows, below]
    b = sorted_rows[rows, above]
    gamma = virtual - np.floor(virtual)
    return lerp(a, b, np.where(at_top, 0.0, gamma))


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's `_lerp`: `a + (b - a) * t`, or `b - (b - a) * (1 - t)` where t >= 0.5."""
    diff = b - a
    with np.errstate(invalid="ignore"):
        return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


class SliceQuantiles:
    """`numpy.quantile` of any slice `values[lo:hi]`, for many slices at once.

    A wavelet matrix over the values' ranks answers "the k-th smallest of a slice" and "how many
    of a slice are below a rank" for every slice together in one vectorized step per bit of the
    rank, so a busy instrument's day-long lookback costs no more than a quiet one's. Values come
    in segments (`starts`: each segment's first index) that no slice crosses, e.g. one per
    instrument; ranks count within a segment, so the bits needed follow the longest segment,
    not the whole array.
    """

    def __init__(self, values: np.ndarray, starts: np.ndarray | None = None) -> None:
        n = len(values)
        self.starts = np.zeros(1, np.int64) if starts is None else starts
        lengths = np.diff(np.append(self.starts, n))
        segment = np.repeat(np.arange(len(lengths)), lengths)
        order = _by_segment_then_value(values, segment)
        self.sorted = values[order]
        self._sorted_start = self.starts[segment]  # of the segment at each sorted position
        ranks = np.empty(n, np.int32 if n < 1 << 31 else np.int64)
        ranks[order] = np.arange(n) - self._sorted_start
        self.order = order
        self.bits = max(1, (int(lengths.max(initial=1)) - 1).bit_length())
        self.levels: list[tuple[int, np.ndarray, int]] = []  # (bit, zeros before each position, zeros)
        for bit in reversed(range(self.bits)):
            one = (ranks & (1 << bit)) != 0
            zeros_before = np.zeros(n + 1, np.int32 if n < 1 << 31 else np.int64)
            np.cumsum(~one, out=zeros_before[1:])
            self.levels.append((bit, zeros_before, int(zeros_before[-1])))
            ranks = ranks[np.argsort(one, kind="stable")]  # zeros first (a radix sort of bools)

    def rank_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per value: how many values of its segment are below it, and below or equal to it."""
        n = len(self.sorted)
        new = np.ones(n + 1, bool)
        new[1:n] = (self.sorted[1:] != self.sorted[:-1]) | (self._sorted_start[1:] != self._sorted_start[:-1])
        group_first = np.maximum.accumulate(np.where(new[:n], np.arange(n), 0))
        group_end = np.minimum.accumulate(np.where(new[1:], np.arange(1, n + 1), n)[::-1])[::-1]
        below, at_most = np.empty(n, np.int64), np.empty(n, np.int64)
        below[self.order] = group_first - self._sorted_start
        at_most[self.order] = group_end - self._sorted_start
        return below, at_most

    def kth(self, lo: np.ndarray, hi: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The k-th smallest (0-based) value of each slice `[lo, hi)` (k < hi - lo)."""
        base = self.starts[np.searchsorted(self.starts, lo, side="right") - 1]
        rank = np.zeros(len(lo), np.int64)
        for bit, zeros_before, zeros in self.levels:
            zero_lo, zero_hi = zeros_before[lo], zeros_before[hi]
            in_zeros = zero_hi - zero_lo
            left = k < in_zeros
            lo = np.where(left, zero_lo, zeros + lo - zero_lo)
            hi = np.where(left, zero_hi, zeros + hi - zero_hi)
            k = np.where(left, k, k - in_zeros)
            rank |= (~left).astype(np.int64) << bit
        return self.sorted[base + rank]

    def count_below(self, lo: np.ndarray, hi: np.ndarray, bound: np.ndarray) -> np.ndarray:
        """How many values of each slice `[lo, hi)` rank below `bound` in their segment."""
        count = np.zeros(len(lo), np.int64)
        size = hi - lo
        for bit, zeros_before, zeros in self.levels:
            zero_lo, zero_hi = zeros_before[lo], zeros_before[hi]
            right = (bound & (1 << bit)) != 0  # the bound's bit is 1: the zeros are below it
            count += np.where(right, zero_hi - zero_lo, 0)
            lo = np.where(right, zeros + lo - zero_lo, zero_lo)
            hi = np.where(right, zeros + hi - zero_hi, zero_hi)
        return np.where(bound >> self.bits > 0, size, count)  # a bound past every rank: all of them

    def quantile(self, lo: np.ndarray, hi: np.ndarray, q: float) -> np.ndarray:
        """numpy.quantile(values[lo:hi], q) (method 'linear') of each non-empty slice."""
        return _quantile(self.kth, lo, hi, q)


def sorted_slices_quantile(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, q: float) -> np.ndarray:
    """numpy.quantile(values[lo:hi], q) of each non-empty slice, by sorting a copy of every slice.

    Cheaper than a `SliceQuantiles` index when the slices hold few values in all (a live close
    of a bar or two: one slice per instrument), dearer when they overlap much (a day of bars).
    """
    sizes = hi - lo
    first = np.cumsum(sizes) - sizes  # each slice's start in the copy
    slice_of = np.repeat(np.arange(len(lo)), sizes)
    copy = values[np.arange(int(sizes.sum())) + np.repeat(lo - first, sizes)]
    return sorted_quantile(copy[_by_segment_then_value(copy, slice_of)], first, sizes, q)


def sorted_quantile(values: np.ndarray, first: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
    """numpy.quantile of each run `values[first:first + count]` of sorted values (count >= 1)."""
    return _quantile(lambda lo, _hi, k: values[lo + k], first, first + count, q)


def _quantile(kth: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
              q: float) -> np.ndarray:
    """numpy's steps for the q-quantile of each slice `[lo, hi)` from its k-th smallest values."""
    n = hi - lo
    virtual = (n - 1) * q
    below = np.floor(virtual).astype(np.int64)
    at_top = virtual >= n - 1
    below = np.where(at_top, n - 1, below)
    a = kth(lo, hi, below)
    b = kth(lo, hi, np.minimum(below + 1, n - 1))
    return lerp(a, b, np.where(at_top, 0.0, virtual - np.floor(virtual)))


def _by_segment_then_value(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """The order sorting by segment, then value (ties in any order: equal values are alike).

    A quicksort by value, then a stable sort by segment (a radix sort when the segment numbers
    fit 16 bits) is twice as fast as `numpy.lexsort`.
    """
    order = np.argsort(values)
    kind = np.uint16 if len(segment) == 0 or segment[-1] < 1 << 16 else np.int64
    return order[np.argsort(segment[order].astype(kind), kind="stable")]
