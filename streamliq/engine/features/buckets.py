"""Dynamic size buckets (FACTORS.md section 5): thresholds from the past H hours only."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

US_PER_HOUR = 3_600_000_000


class SizeBuckets:
    """The liquidation lookback of one instrument and the size-bucket columns of its bars."""

    def __init__(self, pairs: tuple[tuple[float, float, str], ...]) -> None:
        self.pairs = [(q, round(h * US_PER_HOUR)) for q, h, _ in pairs]
        self.horizon_us = max((lookback for _, lookback in self.pairs), default=0)
        self.past: deque[tuple[int, np.ndarray, np.ndarray]] = deque()  # (bar_end, ts, notional)

    def empty_at(self, bar_start: int) -> bool:
        """True when no remembered liquidation lies in any lookback of a bar starting then."""
        return not self.past or self.past[-1][0] <= bar_start - self.horizon_us

    def update(self, bar_start: int, bar_end: int, ts: np.ndarray, notional: np.ndarray,
               all_notional: float) -> list[float]:
        """Columns (threshold, count, notional, share per pair) of a closing bar, then remember it."""
        while self.past and self.past[0][0] <= bar_start - self.horizon_us:
            self.past.popleft()
        if self.past:
            past_ts = np.concatenate([item[1] for item in self.past])
            past_notional = np.concatenate([item[2] for item in self.past])
        out: list[float] = []
        for q, lookback in self.pairs:
            window = past_notional[past_ts >= bar_start - lookback] if self.past else ()
            if len(window) == 0:
                out += [math.nan] * 4
                continue
            theta = float(np.quantile(window, q))
            big = notional[notional > theta]
            big_notional = float(big.sum())
            share = big_notional / all_notional if all_notional > 0 else math.nan
            out += [theta, float(len(big)), big_notional, share]
        if len(notional):
            self.past.append((bar_end, ts, notional))
        return out
