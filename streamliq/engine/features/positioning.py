"""FACTORS.md section 7 for every row of a close: as-of positioning values and taker volumes.

A metric event lands in the bar that holds its `ts` (the time the value became public), so a
bar only ever sees values with `ts < bar_end`. Per bar and field the value with the largest
`ts` wins (ties: the later arrival), so a poller re-fetching an older row cannot replace a
newer value; it is carried forward to later bars. Taker volumes are summed over the bar.
"""

from __future__ import annotations

import numpy as np

from ..events import METRIC_ASOF_FIELDS
from ..layout import Layout, any_so_far, ffill, last_per_segment, row_sums


class PositioningCarry:
    """Per instrument id: the as-of values carried and whether a taker row was seen."""

    def __init__(self) -> None:
        self.values = {name: np.empty(0) for name in METRIC_ASOF_FIELDS}
        self.taker_seen = np.zeros(0, bool)

    def grow(self, n: int) -> None:
        """Room for `n` instruments."""
        extra = n - len(self.taker_seen)
        if extra > 0:
            self.values = {name: np.append(v, np.full(extra, np.nan)) for name, v in self.values.items()}
            self.taker_seen = np.append(self.taker_seen, np.zeros(extra, bool))

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (for a checkpoint)."""
        return {**{f"metric_{k}": v for k, v in self.values.items()}, "metric_taker_seen": self.taker_seen}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Undo `arrays`."""
        self.values = {name: arrays[f"metric_{name}"] for name in METRIC_ASOF_FIELDS}
        self.taker_seen = arrays["metric_taker_seen"].astype(bool)


def positioning_columns(events: dict[str, np.ndarray] | None, rows: np.ndarray | None, layout: Layout,
                        carry: PositioningCarry) -> dict[str, np.ndarray]:
    """The section 7 columns of every row; updates `carry`."""
    n = layout.n_rows
    ids = layout.ids
    out: dict[str, np.ndarray] = {}
    for name in METRIC_ASOF_FIELDS:
        latest = np.full(n, np.nan)
        if events is not None and len(rows):
            values = events[name]
            valid = np.flatnonzero(~np.isnan(values))
            order = valid[np.lexsort((valid, events["ts"][valid], rows[valid]))]
            kept = rows[order]
            if len(kept):
                ends = np.append(np.flatnonzero(kept[1:] != kept[:-1]), len(kept) - 1)
                latest[kept[ends]] = values[order[ends]]
        out[name] = ffill(latest, layout, carry.values[name][ids])
        if n:
            carry.values[name][ids] = last_per_segment(out[name], layout)
    buy = sell = np.zeros(n)
    has_taker = np.zeros(n, bool)
    if events is not None and len(rows):
        buy_values, sell_values = events["taker_buy_vol"], events["taker_sell_vol"]
        buy_valid, sell_valid = ~np.isnan(buy_values), ~np.isnan(sell_values)
        buy = row_sums(rows[buy_valid], buy_values[buy_valid], n)
        sell = row_sums(rows[sell_valid], sell_values[sell_valid], n)
        has_taker = np.bincount(rows[buy_valid | sell_valid], minlength=n) > 0
    seen = any_so_far(has_taker, layout, carry.taker_seen[ids])
    if n:
        carry.taker_seen[ids] = last_per_segment(seen, layout)
    out["taker_buy_vol"] = np.where(seen, buy, np.nan)
    out["taker_sell_vol"] = np.where(seen, sell, np.nan)
    return out
