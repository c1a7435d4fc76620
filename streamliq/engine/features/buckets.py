"""Dynamic size buckets (FACTORS.md section 5) for every row of a close at once.

A row's threshold is `numpy.quantile` of the notionals of its instrument's liquidations with
`ts` in `[bar_start - H, bar_start)`. All liquidations of the lookback and of the close are
sorted by (instrument, ts), so each row's sample is a slice found by binary search, and the
quantiles of all distinct slices come at once: from one `SliceQuantiles` index when the slices
overlap much (a day of bars), else by sorting a copy of each slice. No `numpy.quantile` call
per bar.

A live close (one bar per instrument) samples each instrument's whole lookback, a day of
liquidations: sorting it anew every bar made the close cost grow through the day (20 ms and
more at 400 instruments and 100k liquidations a day). Such closes read the quantile off
`SortedLookback`, the lookback kept in value order close by close, at the cost of its changes.
"""

from __future__ import annotations

import numpy as np

from ..layout import row_sums
from .quantiles import SliceQuantiles, sorted_quantile, sorted_slices_quantile

US_PER_HOUR = 3_600_000_000


class Lookback:
    """Past liquidations (instrument id, ts, notional) that a later row's lookback may hold."""

    def __init__(self, pairs: tuple[tuple[float, float, str], ...]) -> None:
        self.pairs = [(q, round(h * US_PER_HOUR), prefix) for q, h, prefix in pairs]
        self.horizon_us = max((lookback for _, lookback, _ in self.pairs), default=0)
        self.inst = np.empty(0, np.int64)
        self.ts = np.empty(0, np.int64)
        self.notional = np.empty(0)
        self.by_value: SortedLookback | None = None  # kept while closes are live-sized

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
        by_value = self._by_value(n_rows, int(np.count_nonzero(np.diff(layout_inst))) + 1)
        if by_value is not None:
            new_before = np.zeros(len(order) + 1, np.int64)  # events of this close before each position
            np.cumsum(order >= len(self.inst), out=new_before[1:])
            first, held = by_value.segments(layout_inst)  # each row's instrument's lookback
            before_lo = np.concatenate(([-1], all_inst))  # [p]: the instrument at position p - 1
        for q, lookback, prefix in self.pairs:
            row_key = layout_inst * span + (bar_start - base)
            lo = np.searchsorted(keys, row_key - lookback, side="left")
            hi = np.searchsorted(keys, row_key, side="left")
            if by_value is None:
                theta = _thresholds(all_notional_values, starts, lo, hi, q)
            else:  # rows sampling all of their instrument's lookback (and nothing of this close)
                whole = ((hi - lo == held) & (held > 0) & (new_before[hi] == new_before[lo])
                         & (before_lo[lo] != layout_inst))
                theta = np.full(n_rows, np.nan)
                theta[whole] = by_value.quantile(first[whole], held[whole], q)
                theta[~whole] = _thresholds(all_notional_values, starts, lo[~whole], hi[~whole], q)
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
        cutoff = next_bar_start - self.horizon_us
        keep = all_ts >= cutoff
        self.inst, self.ts, self.notional = all_inst[keep], all_ts[keep], all_notional_values[keep]
        if by_value is not None:
            by_value.update(inst, ts, notional, cutoff)
        return out

    def _by_value(self, n_rows: int, n_instruments: int) -> SortedLookback | None:
        """The lookback in value order for a live-sized close (at most two bars per instrument,
        built on the first such close), None for a longer one (it is then dropped)."""
        if n_rows > 2 * n_instruments:
            self.by_value = None
        elif self.by_value is None:
            self.by_value = SortedLookback(self.inst, self.ts, self.notional)
        return self.by_value

    def arrays(self) -> dict[str, np.ndarray]:
        """The lookback as named arrays (for a checkpoint)."""
        return {"lookback_inst": self.inst, "lookback_ts": self.ts, "lookback_notional": self.notional}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Undo `arrays`."""
        self.inst, self.ts, self.notional = arrays["lookback_inst"], arrays["lookback_ts"], arrays["lookback_notional"]
        self.by_value = None


class SortedLookback:
    """The lookback's notionals in (instrument, value) order, with their ts, updated per close.

    Keys are complex numbers `instrument + 1j * notional`: numpy orders complex numbers by real,
    then imaginary part, so one sorted array and `searchsorted` serve every instrument at once.
    A close removes what left the lookback (by ts) and inserts its own liquidations: O(changes)
    searches and one copy, no sort of the day.
    """

    def __init__(self, inst: np.ndarray, ts: np.ndarray, notional: np.ndarray) -> None:
        keys = _keys(inst, notional)
        order = np.argsort(keys, kind="stable")
        self.keys, self.ts = keys[order], ts[order]

    def update(self, inst: np.ndarray, ts: np.ndarray, notional: np.ndarray, cutoff: int) -> None:
        """Forget ts before `cutoff`, then add the close's liquidations (those from `cutoff` on)."""
        keep = self.ts >= cutoff
        if not keep.all():
            self.keys, self.ts = self.keys[keep], self.ts[keep]
        kept = ts >= cutoff
        added, added_ts = _keys(inst[kept], notional[kept]), ts[kept]
        order = np.argsort(added, kind="stable")
        at = np.searchsorted(self.keys, added[order])
        self.keys = np.insert(self.keys, at, added[order])
        self.ts = np.insert(self.ts, at, added_ts[order])

    def segments(self, inst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each of `inst`'s values begin in value order, and how many there are."""
        first = np.searchsorted(self.keys, _keys(inst, np.full(len(inst), -np.inf)), side="left")
        return first, np.searchsorted(self.keys, _keys(inst, np.full(len(inst), np.inf)), side="right") - first

    def quantile(self, first: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
        """numpy.quantile of the `count` values from `first` on (count >= 1)."""
        return sorted_quantile(self.keys.imag, first, count, q)


def _keys(inst: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`inst + 1j * values`, built part by part (`1j * inf` would make the real part NaN)."""
    keys = np.empty(len(inst), np.complex128)
    keys.real, keys.imag = inst, values
    return keys


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
