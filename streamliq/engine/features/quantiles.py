"""`numpy.quantile(values, q)` (method 'linear') of many samples at once: sorted rows of a
matrix (`row_quantiles`) or slices of one array (`SliceQuantiles`). The index and the
interpolation follow numpy's own steps (virtual index `(n - 1) * q`, numpy's `_lerp`), so a
threshold equals what `numpy.quantile` returns for the same values, to the last bit.
"""

from __future__ import annotations

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
    of a slice are below v" for every slice together in one vectorized step per bit of the rank,
    so a busy instrument's day-long lookback costs no more than a quiet one's.
    """

    def __init__(self, values: np.ndarray) -> None:
        order = np.argsort(values, kind="stable")
        self.sorted = values[order]
        ranks = np.empty(len(values), np.int64)
        ranks[order] = np.arange(len(values))
        self.levels: list[tuple[int, np.ndarray, int]] = []  # (bit, zeros before each position, zeros)
        for bit in reversed(range(max(1, (len(values) - 1).bit_length()))):
            ones = ((ranks >> bit) & 1).astype(bool)
            zeros_before = np.zeros(len(ranks) + 1, np.int64)
            np.cumsum(~ones, out=zeros_before[1:])
            self.levels.append((bit, zeros_before, int(zeros_before[-1])))
            ranks = np.concatenate([ranks[~ones], ranks[ones]])

    def kth(self, lo: np.ndarray, hi: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The k-th smallest (0-based) value of each slice `[lo, hi)` (k < hi - lo)."""
        rank = np.zeros(len(lo), np.int64)
        for bit, zeros_before, zeros in self.levels:
            zero_lo, zero_hi = zeros_before[lo], zeros_before[hi]
            in_zeros = zero_hi - zero_lo
            left = k < in_zeros
            lo = np.where(left, zero_lo, zeros + lo - zero_lo)
            hi = np.where(left, zero_hi, zeros + hi - zero_hi)
            k = np.where(left, k, k - in_zeros)
            rank |= (~left).astype(np.int64) << bit
        return self.sorted[rank]

    def count_below(self, lo: np.ndarray, hi: np.ndarray, v: np.ndarray, inclusive: bool = False) -> np.ndarray:
        """How many values of each slice `[lo, hi)` are below `v` (or equal to it, if `inclusive`)."""
        bound = np.searchsorted(self.sorted, v, side="right" if inclusive else "left")  # a rank bound
        count = np.zeros(len(lo), np.int64)
        size = hi - lo
        for bit, zeros_before, zeros in self.levels:
            zero_lo, zero_hi = zeros_before[lo], zeros_before[hi]
            right = ((bound >> bit) & 1).astype(bool)  # the bound's bit is 1: the zeros are below it
            count += np.where(right, zero_hi - zero_lo, 0)
            lo = np.where(right, zeros + lo - zero_lo, zero_lo)
            hi = np.where(right, zeros + hi - zero_hi, zero_hi)
        return np.where(bound >= len(self.sorted), size, count)  # a bound past every rank has no bits here

    def quantile(self, lo: np.ndarray, hi: np.ndarray, q: float) -> np.ndarray:
        """numpy.quantile(values[lo:hi], q) (method 'linear') of each non-empty slice."""
        n = hi - lo
        virtual = (n - 1) * q
        below = np.floor(virtual).astype(np.int64)
        at_top = virtual >= n - 1
        below = np.where(at_top, n - 1, below)
        a = self.kth(lo, hi, below)
        b = self.kth(lo, hi, np.minimum(below + 1, n - 1))
        return lerp(a, b, np.where(at_top, 0.0, virtual - np.floor(virtual)))
