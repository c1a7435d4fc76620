"""Dynamic size buckets (FACTORS.md section 5) for every row of a close at once.

A row's threshold is `numpy.quantile` of the notionals of its instrument's liquidations with
`ts` in `[bar_start - H, bar_start)`. All liquidations of the lookback and of the close are
sorted by (instrument, ts), so each row's sample is a slice found by binary search, and the
quantiles of all distinct slices come at once: from one `SliceQuantiles` index when the slices
overlap much (a day of bars), else by sorting a copy of each slice (a live close of one bar).
No `numpy.quantile` call per bar.
"""

from __future__ import annotations

import numpy as np

from ..layout import row_sums
from .quantiles import SliceQuantiles, sorted_slices_quantile

US_PER_HOUR = 3_600_000_000


class Lookback:
    """Past liquidations (instrument id, ts, notional) that a later row's lookback may hold."""

    def __init__(self, pairs: tuple[tuple[float, float, str], ...]) -> None:
        self.pairs = [(q, round(h * US_PER_HOUR), prefix) for q, h, prefix in pairs]
        self.horizon_us = max((lookback for _, lookback, _ in self.pairs), default=0)
        self.inst = np.empty(0, np.int64)
        self.ts = np.empty(0, np.int64)
        self.notional = np.empty(0)

    def columns(self, layout_inst: np.ndarray, bar_start: np.ndarray, bar_end: np.ndarray,
                row: np.ndarray, inst: np.ndarray, ts: np.ndarray, notional: np.ndarray,
                all_notional: np.ndarray, next_bar_start: int) -> dict[str, np.ndarray]:
        """The size-bucket columns of the rows (`layout_inst`, `bar_start`) of a close.

        `row`, `inst`, `ts`, `notional` are the close's on-time liquidations; they join the
        lookback, which then forgets what no bar from `next_bar_start` on can see.
        """
        n_rows = len(bar_start)
        out: dict[str, np.ndarray] = {}
        if not self.pairs:
            return out
        all_inst = np.concatenate([self.inst, inst])
        all_ts = np.concatenate([self.ts, ts])
        base = min(int(all_ts.min(initial=bar_start.min())), int(bar_start.min())) - self.horizon_us
        span = max(int(all_ts.max(initial=bar_end.max())), int(bar_end.max())) - base + 1
        keys = all_inst * span + (all_ts - base)
        order = np.argsort(keys, kind="stable")  # the lookback is sorted already: a merge of two runs
        keys, all_inst, all_ts = keys[order], all_inst[order], all_ts[order]
        all_notional_values = np.concatenate([self.notional, notional])[order]
        starts = np.flatnonzero(np.append(True, all_inst[1:] != all_inst[:-1]))  # each instrument's first
        for q, lookback, prefix in self.pairs:
            row_key = layout_inst * span + (bar_start - base)
            lo = np.searchsorted(keys, row_key - lookback, side="left")
            hi = np.searchsorted(keys, row_key, side="left")
            theta = _thresholds(all_notional_values, starts, lo, hi, q)
            with np.errstate(invalid="ignore"):
                big = notional > theta[row]
            count = np.bincount(row[big], minlength=n_rows).astype(np.float64)
            big_notional = row_sums(row[big], notional[big], n_rows)
            undefined = np.isnan(theta)
            count[undefined] = np.nan
            big_notional[undefined] = np.nan
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(all_notional > 0, big_notional / all_notional, np.nan)
            out.update({f"{prefix}_threshold": theta, f"{prefix}_count": count,
                        f"{prefix}_notional": big_notional, f"{prefix}_share": share})
        keep = all_ts >= next_bar_start - self.horizon_us
        self.inst, self.ts, self.notional = all_inst[keep], all_ts[keep], all_notional_values[keep]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The lookback as named arrays (for a checkpoint)."""
        return {"lookback_inst": self.inst, "lookback_ts": self.ts, "lookback_notional": self.notional}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Undo `arrays`."""
        self.inst, self.ts, self.notional = arrays["lookback_inst"], arrays["lookback_ts"], arrays["lookback_notional"]


def _thresholds(values: np.ndarray, starts: np.ndarray, lo: np.ndarray, hi: np.ndarray, q: float) -> np.ndarray:
    """numpy.quantile(values[lo:hi], q) per row; NaN for an empty slice (no slice crosses `starts`).

    Rows come instrument by instrument, oldest first, so rows sharing a slice are neighbours:
    each distinct slice is computed once.
    """
    theta = np.full(len(lo), np.nan)
    filled = np.flatnonzero(hi > lo)
    if len(filled) == 0:
        return theta
    lo, hi = lo[filled], hi[filled]
    new = np.ones(len(lo), bool)
    new[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    distinct = np.flatnonzero(new)
    if (hi[distinct] - lo[distinct]).sum() <= len(values):  # a close of a bar or two (live): few values in all
        result = sorted_slices_quantile(values, lo[distinct], hi[distinct], q)
    else:
        result = SliceQuantiles(values, starts).quantile(lo[distinct], hi[distinct], q)
    theta[filled] = result[np.cumsum(new) - 1]
    return theta
