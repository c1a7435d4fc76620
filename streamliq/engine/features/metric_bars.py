"""FACTORS.md section 7 in the engine: per-bar positioning state and its carry across bars.

A bar keeps, per as-of field, the value with the largest `ts` it holds (ties: the later arrival),
so a poller that re-fetches an older row cannot replace a newer value; the taker volumes are kept
as arrays and summed once at close, so rows do not depend on how events were batched. Because a
metric event lands in the bar that holds its `ts` (its publication time), a bar only ever sees
values with `ts < bar_end`: the as-of rule holds by construction.
"""

from __future__ import annotations

import math

import numpy as np

from ..events import METRIC_ASOF_FIELDS, MetricBatch

NAN = math.nan


class MetricBarState:
    """What one open bar has seen of the metric channel."""

    __slots__ = ("latest", "taker")

    def __init__(self) -> None:
        self.latest: dict[str, tuple[int, float]] = {}  # field -> (ts, value) with the largest ts
        self.taker: list[tuple[np.ndarray, np.ndarray]] = []  # (buy, sell) values carried, arrival order

    def add(self, ts: np.ndarray, part: MetricBatch, take: np.ndarray) -> None:
        """Add the bar's slice `take` of `part` (arrival order)."""
        for name in METRIC_ASOF_FIELDS:
            values = getattr(part, name)[take]
            valid = ~np.isnan(values)
            if not valid.any():
                continue
            times = ts[valid]
            last = len(times) - 1 - int(np.argmax(times[::-1] == times.max()))  # max ts, last arrival
            moment, value = int(times[last]), float(values[valid][last])
            held = self.latest.get(name)
            if held is None or moment >= held[0]:
                self.latest[name] = (moment, value)
        buy, sell = part.taker_buy_vol[take], part.taker_sell_vol[take]
        buy, sell = buy[~np.isnan(buy)], sell[~np.isnan(sell)]
        if len(buy) or len(sell):  # without NaN, the summed array does not depend on the batching
            self.taker.append((buy, sell))

    def taker_sums(self) -> tuple[float, float] | None:
        """(taker_buy_vol, taker_sell_vol) summed over the bar, None when no row carried them."""
        if not self.taker:
            return None
        buy = np.concatenate([b for b, _ in self.taker])
        sell = np.concatenate([s for _, s in self.taker])
        return float(buy.sum()), float(sell.sum())


class MetricCarry:
    """One instrument's section 7 values across bars (carried as-of values, taker volume seen)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = dict.fromkeys(METRIC_ASOF_FIELDS, NAN)
        self.taker_seen = False

    def close(self, state: MetricBarState | None) -> list[float]:
        """The section 7 columns of a closing bar, in `METRIC_FIELDS` order.

        Taker volumes are NaN before the instrument's first bar with a taker row and 0 in later
        bars without one, as the trade volume columns are (FACTORS.md section 4).
        """
        sums = None
        if state is not None:
            for name, (_, value) in state.latest.items():
                self.values[name] = value
            sums = state.taker_sums()
        self.taker_seen = self.taker_seen or sums is not None
        taker = list(sums or (0.0, 0.0)) if self.taker_seen else [NAN, NAN]
        return [*self.values.values(), *taker]


def add_metrics(bars: list, order: np.ndarray, starts: np.ndarray, part: MetricBatch) -> None:
    """Add each bar's slice of `part`; `order`/`starts` group the events by bar (engine._slices)."""
    for g, acc in enumerate(bars):
        take = order[starts[g]:starts[g + 1]]
        if acc.metrics is None:
            acc.metrics = MetricBarState()
        acc.metrics.add(part.ts[take], part, take)
