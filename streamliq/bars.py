"""Per-bar accumulators: what one (instrument, frequency, bar) has seen while it is open.

All updates take pre-grouped slices of a batch, so the engine can reduce a 100k-event chunk
with numpy and hand each bar its share, while a live message is a slice of one.
"""

from __future__ import annotations

import math

import numpy as np

from .moments import Moments

SUB_INTERVALS = 60  # time_concentration splits a bar into this many equal parts
SIDES = ("long", "short", "all")


class SideStats:
    """Liquidations of one side in one bar: count, quantity, notional, max and moments."""

    __slots__ = ("max", "moments", "notional", "qty", "values")

    def __init__(self) -> None:
        self.qty = 0.0
        self.notional = 0.0
        self.max = 0.0
        self.moments = Moments()
        self.values: list[np.ndarray] = []

    def std(self) -> float:
        """Sample std (ddof=1) computed exactly as pandas `Series.std()` does.

        pandas' two-pass formula leaves rounding noise (~1e-16 of the mean) on identical
        values where the shifted moments give an exact 0; FACTORS.md names pandas as the
        reference, so the bar's values are reduced the same way here.
        """
        if self.count < 2:
            return math.nan
        values = np.concatenate(self.values) if len(self.values) > 1 else self.values[0]
        mean = values.sum(dtype=np.float64) / len(values)
        return math.sqrt(((mean - values) ** 2).sum(dtype=np.float64) / (len(values) - 1))

    @property
    def count(self) -> int:
        return self.moments.n

    def update(self, notional: np.ndarray, amount: np.ndarray) -> None:
        if len(notional) == 0:
            return
        self.qty += float(amount.sum())
        self.notional += float(notional.sum())
        self.max = max(self.max, float(notional.max()))
        self.moments.update(notional)
        self.values.append(notional)


class BarAccumulator:
    """Everything one open bar has accumulated (on-time events only, plus the late count)."""

    __slots__ = (
        "has_trades",
        "last_values",
        "late_events",
        "liq_notional",
        "liq_ts",
        "mark_close",
        "mark_high",
        "mark_low",
        "mark_open",
        "n_events",
        "sides",
        "sub_notional",
        "taker_buy_qty",
        "taker_sell_qty",
        "volume_notional",
        "volume_qty",
    )

    def __init__(self) -> None:
        self.n_events = 0
        self.late_events = 0
        self.sides: dict[str, SideStats] | None = None
        self.sub_notional: np.ndarray | None = None
        self.liq_ts: list[np.ndarray] = []
        self.liq_notional: list[np.ndarray] = []
        self.mark_open = math.nan
        self.mark_high = math.nan
        self.mark_low = math.nan
        self.mark_close = math.nan
        self.last_values: dict[str, float] = {}
        self.volume_qty = 0.0
        self.volume_notional = 0.0
        self.taker_buy_qty = 0.0
        self.taker_sell_qty = 0.0
        self.has_trades = False

    def add_liquidations(self, ts: np.ndarray, is_long: np.ndarray, notional: np.ndarray,
                         amount: np.ndarray, sub_interval: np.ndarray) -> None:
        """Add a bar's slice of liquidations, in arrival order."""
        if self.sides is None:
            self.sides = {side: SideStats() for side in SIDES}
            self.sub_notional = np.zeros(SUB_INTERVALS)
        self.sides["long"].update(notional[is_long], amount[is_long])
        self.sides["short"].update(notional[~is_long], amount[~is_long])
        self.sides["all"].update(notional, amount)
        self.sub_notional += np.bincount(sub_interval, weights=notional, minlength=SUB_INTERVALS)
        self.liq_ts.append(ts)
        self.liq_notional.append(notional)

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

    def add_trades(self, volume_qty: float, volume_notional: float, buy_qty: float,
                   sell_qty: float) -> None:
        """Merge a bar's slice of trades."""
        self.volume_qty += volume_qty
        self.volume_notional += volume_notional
        self.taker_buy_qty += buy_qty
        self.taker_sell_qty += sell_qty
        self.has_trades = True
