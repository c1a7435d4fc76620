"""Rolling features of one bar series across bars (FACTORS.md section 6)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from river import stats


class RollingFeatures:
    """z-scores, percentile ranks and quantile exceedances of one series over past bars.

    `update(x)` returns the features of the new bar value x from the values before it, then
    remembers x. Exceedance thresholds come from river's RollingQuantile, which interpolates
    exactly like `numpy.quantile`; z-scores and ranks are recomputed from the bounded window
    so that no running sum drifts over a months-long run.
    """

    def __init__(self, z_windows: tuple[int, ...], pct_windows: tuple[int, ...],
                 exceedance: tuple[tuple[int, float, str], ...]) -> None:
        self.z_windows = z_windows
        self.pct_windows = pct_windows
        self.exceedance = [(w, suffix, stats.RollingQuantile(q, w)) for w, q, suffix in exceedance]
        depth = max([*z_windows, *(n - 1 for n in pct_windows), *(w for w, _, _ in exceedance), 1])
        self.history: deque[float] = deque(maxlen=depth)
        self.run_length = 0  # how many of the latest values equal the last one

    def settled_at(self, x: float) -> bool:
        """True when the last update was x over a window of x's: `update(x)` would repeat it."""
        return self.run_length > self.history.maxlen and self.history[-1] == x

    def update(self, x: float) -> list[float]:
        """Features of x, in column order (z..., pct..., exq...)."""
        past = np.fromiter(self.history, dtype=np.float64, count=len(self.history))
        seen = len(past)
        out = []
        for n in self.z_windows:
            out.append(_zscore(x, past[seen - n:]) if seen >= n else math.nan)
        for n in self.pct_windows:
            if seen >= n - 1:
                window = past[seen - (n - 1):]
                less = np.count_nonzero(window < x)
                ties = np.count_nonzero(window == x) + 1
                out.append((less + (ties + 1) / 2) / n)
            else:
                out.append(math.nan)
        for w, _, quantile in self.exceedance:
            out.append((1.0 if x > quantile.get() else 0.0) if seen >= w else math.nan)
            quantile.update(x)
        self.run_length = self.run_length + 1 if self.history and self.history[-1] == x else 1
        self.history.append(x)
        return out


def _zscore(x: float, window: np.ndarray) -> float:
    if window.min() == window.max():
        return math.nan
    return (x - window.mean()) / window.std(ddof=1)
