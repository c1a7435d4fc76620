"""Mergeable moment accumulator: count, mean and central moment sums up to the fourth.

Moments are kept of `v - K`, K being the first value seen (shifted accumulation): summing
powers of raw price-like values loses 1e-5..1e-3 relative. A batch is reduced exactly (two
passes over the shifted values) and combined with the running state by Pébay's formulas, so
`update(a); update(b)` equals `update(concat(a, b))` up to rounding, and so does `merge`.
"""

from __future__ import annotations

import math

import numpy as np

# "All values equal": sample variance at most this times mean^2 (FACTORS.md section 3).
CONSTANT_VARIANCE_RATIO = 1e-14


class Moments:
    """Count, mean, M2, M3, M4 (sums of centered powers) of a stream of floats."""

    __slots__ = ("m2", "m3", "m4", "mean", "n", "shift")

    def __init__(self) -> None:
        self.n = 0
        self.shift = 0.0  # K: the first value seen
        self.mean = 0.0  # mean of (v - K)
        self.m2 = 0.0
        self.m3 = 0.0
        self.m4 = 0.0

    def update(self, values: np.ndarray) -> None:
        """Add a batch of values."""
        if len(values) == 0:
            return
        if self.n == 0:
            self.shift = float(values[0])
        shifted = np.asarray(values, dtype=np.float64) - self.shift
        mean = float(shifted.mean())
        centered = shifted - mean
        squared = centered * centered
        self._combine(len(shifted), mean, float(squared.sum()),
                      float((squared * centered).sum()), float((squared * squared).sum()))

    def merge(self, other: Moments) -> None:
        """Add everything `other` has seen."""
        if other.n == 0:
            return
        if self.n == 0:
            self.shift = other.shift
        mean = other.mean + (other.shift - self.shift)
        self._combine(other.n, mean, other.m2, other.m3, other.m4)

    def _combine(self, nb: int, mean_b: float, m2b: float, m3b: float, m4b: float) -> None:
        na = self.n
        if na == 0:
            self.n, self.mean, self.m2, self.m3, self.m4 = nb, mean_b, m2b, m3b, m4b
            return
        n = na + nb
        delta = mean_b - self.mean
        d_n = delta / n
        m2a, m3a = self.m2, self.m3
        self.m4 += (m4b + delta * d_n**3 * na * nb * (na * na - na * nb + nb * nb)
                    + 6.0 * d_n * d_n * (na * na * m2b + nb * nb * m2a)
                    + 4.0 * d_n * (na * m3b - nb * m3a))
        self.m3 += m3b + delta * d_n * d_n * na * nb * (na - nb) + 3.0 * d_n * (na * m2b - nb * m2a)
        self.m2 += m2b + delta * d_n * na * nb
        self.mean += d_n * nb
        self.n = n

    # -- values -----------------------------------------------------------------------------
    def value_mean(self) -> float:
        """Mean of the values (NaN when empty)."""
        return self.shift + self.mean if self.n else math.nan

    def variance(self) -> float:
        """Sample variance, ddof=1 (NaN below two values)."""
        return self.m2 / (self.n - 1) if self.n >= 2 else math.nan

    def _all_equal(self) -> bool:
        mean = self.value_mean()
        return self.variance() <= CONSTANT_VARIANCE_RATIO * mean * mean

    def skew(self) -> float:
        """Bias-corrected skewness (pandas `Series.skew()`); NaN below 3 values or all equal."""
        n = self.n
        if n < 3 or self._all_equal():
            return math.nan
        return n * math.sqrt(n - 1) / (n - 2) * self.m3 / self.m2**1.5

    def kurt(self) -> float:
        """Bias-corrected excess kurtosis (pandas `Series.kurt()`); NaN below 4 values or all equal."""
        n = self.n
        if n < 4 or self._all_equal():
            return math.nan
        numerator = n * (n + 1) * (n - 1) * self.m4
        denominator = (n - 2) * (n - 3) * self.m2 * self.m2
        return numerator / denominator - 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3))
