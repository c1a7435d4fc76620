"""Per-bar accumulators: what one (instrument, frequency, bar) has seen while it is open.

A bar keeps its liquidation and trade values (in arrival order) and reduces them once, when it
closes. Every float statistic is then computed from the same array however the events were
batched (one at a time live, 100k per replay chunk), so rows are identical bit for bit;
running sums would differ in the last bits with the batching.
"""

from __future__ import annotations

import math

import numpy as np

from .moments import Moments

SUB_INTERVALS = 60  # time_concentration splits a bar into this many equal parts
SIDES = ("long", "short", "all")
EMPTY_SIDE = (0, 0.0, 0.0, 0.0, math.nan, math.nan, math.nan, math.nan, math.nan)


def side_columns(notional: np.ndarray, amount: np.ndarray) -> tuple:
    """count, qty, notional, max, mean, std, skew, kurt, vwap of one side's liquidations.

    std is computed exactly as pandas `Series.std()` does (its two-pass formula leaves ~1e-16
    relative noise on identical values, and FACTORS.md names pandas as the reference); skew
    and kurt come from the shifted moment accumulator, NaN on (near-)identical values.
    """
    n = len(notional)
    if n == 0:
        return EMPTY_SIDE
    qty = float(amount.sum())
    total = float(notional.sum())
    std = math.nan
    if n >= 2:
        mean = notional.sum(dtype=np.float64) / n
        std = math.sqrt(float(((mean - notional) ** 2).sum()) / (n - 1))
    moments = Moments()
    moments.update(notional)
    return (n, qty, total, float(notional.max()), total / n, std, moments.skew(), moments.kurt(),
            total / qty if qty > 0 else math.nan)


class BarAccumulator:
    """Everything one open bar has accumulated (on-time events only, plus the late count)."""

    __slots__ = (
        "last_values",
        "late_events",
        "liquidations",
        "mark_close",
        "mark_high",
        "mark_low",
        "mark_open",
        "metrics",
        "n_events",
        "trades",
    )

    def __init__(self) -> None:
        self.n_events = 0
        self.late_events = 0
        self.liquidations: list[tuple[np.ndarray, ...]] = []  # (ts, notional, amount, is_long)
        self.trades: list[tuple[np.ndarray, ...]] = []  # (amount, notional, side)
        self.mark_open = math.nan
        self.mark_high = math.nan
        self.mark_low = math.nan
        self.mark_close = math.nan
        self.last_values: dict[str, float] = {}
        self.metrics = None  # a metric_bars.MetricBarState once a metric event arrives

    def add_liquidations(self, ts: np.ndarray, notional: np.ndarray, amount: np.ndarray,
                         is_long: np.ndarray) -> None:
        """Add a bar's slice of liquidations, in arrival order."""
        self.liquidations.append((ts, notional, amount, is_long))

    def add_trades(self, amount: np.ndarray, notional: np.ndarray, side: np.ndarray) -> None:
        """Add a bar's slice of trades, in arrival order."""
        self.trades.append((amount, notional, side))

    def add_ticker(self, mark_first: float, mark_last: float, mark_high: float, mark_low: float,
                   last_values: dict[str, float]) -> None:
        """Merge a bar's slice of ticker updates (first/last in arrival order, NaN = none)."""
        if not math.isnan(mark_first):
            if math.isnan(self.mark_open):
                self.mark_open, self.mark_high, self.mark_low = mark_first, mark_high, mark_low
            else:
                self.mark_high = max(self.mark_high, mark_high)
                self.mark_low = min(self.mark_low, mark_low)
            self.mark_close = mark_last
        for name, value in last_values.items():
            if not math.isnan(value):
                self.last_values[name] = value

    def liquidation_arrays(self) -> tuple[np.ndarray, ...]:
        """(ts, notional, amount, is_long) of all the bar's liquidations, in arrival order."""
        return _joined(self.liquidations, (np.int64, np.float64, np.float64, bool))

    def trade_sums(self) -> tuple[float, float, float, float] | None:
        """(volume_qty, volume_notional, taker_buy_qty, taker_sell_qty), None without trades."""
        if not self.trades:
            return None
        amount, notional, side = _joined(self.trades, (np.float64, np.float64, np.int8))
        return (float(amount.sum()), float(notional.sum()), float(amount[side > 0].sum()),
                float(amount[side < 0].sum()))


def _joined(parts: list[tuple[np.ndarray, ...]], dtypes: tuple) -> tuple[np.ndarray, ...]:
    if not parts:
        return tuple(np.empty(0, dtype) for dtype in dtypes)
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
