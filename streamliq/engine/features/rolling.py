"""Rolling features across bars (FACTORS.md section 6) for every row of a close at once.

Most bar values are 0 (an empty bar), so a window is computed from its non-zero entries alone:
each non-zero value is added to the rows whose windows hold it, one offset `d` at a time
(`Python` loops over window offsets, numpy over values), and the zeros are accounted for by
count. The work grows with the non-zero values times the window length, not with the rows, and
every row's sums run in the same order (newest value first) however the closes were cut, so
rows are identical bit for bit for any batching.

An instrument's last `depth` values and its number of rows so far are its state.
"""

from __future__ import annotations

import numpy as np

from ..layout import Layout
from .quantiles import padded, row_quantiles


class RollingState:
    """Per instrument id: the last `depth` values of each series (oldest first) and rows closed."""

    def __init__(self, n_series: int, depth: int) -> None:
        self.depth = depth
        self.values = np.zeros((0, depth, n_series))  # right-aligned: the newest value is [:, -1]
        self.seen = np.zeros(0, np.int64)

    def grow(self, n: int) -> None:
        """Room for `n` instruments."""
        extra = n - len(self.seen)
        if extra > 0:
            self.values = np.concatenate([self.values, np.zeros((extra, *self.values.shape[1:]))])
            self.seen = np.append(self.seen, np.zeros(extra, np.int64))


class _Window:
    """Rows of the close extended by each instrument's history (the values before the close)."""

    def __init__(self, series: np.ndarray, layout: Layout, state: RollingState) -> None:
        ids = layout.ids
        counts = np.diff(layout.first_row)
        self.held = np.minimum(state.seen[ids], state.depth)  # history values per segment
        lengths = self.held + counts
        self.ext_first = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(lengths, out=self.ext_first[1:])
        ext = np.empty((int(self.ext_first[-1]), series.shape[1]))
        self.row_pos = self.ext_first[layout.row_seg] + self.held[layout.row_seg] + (
            np.arange(layout.n_rows) - layout.seg_first)
        ext[self.row_pos] = series
        hist_seg = np.repeat(np.arange(len(ids)), self.held)
        hist_offset = np.arange(len(hist_seg)) - np.repeat(np.cumsum(self.held) - self.held, self.held)
        ext[self.ext_first[hist_seg] + hist_offset] = state.values[
            ids[hist_seg], state.depth - self.held[hist_seg] + hist_offset]
        self.ext = ext
        self.ext_seg = np.repeat(np.arange(len(ids)), lengths)
        # non-zero positions, and where their values land: row = base + d for d = 1.. (when inside)
        self.nonzero = np.flatnonzero((ext != 0).any(axis=1))
        seg = self.ext_seg[self.nonzero]
        self.relative = self.nonzero - self.ext_first[seg] - self.held[seg]  # < 0 in the history
        self.base = layout.first_row[seg] + self.relative
        self.limit = counts[seg]
        self.values = ext[self.nonzero]

    def landing(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values): the non-zero values `d` bars before each row that has them."""
        inside = self.relative + d
        hit = np.flatnonzero((inside >= 0) & (inside < self.limit))
        return self.base[hit] + d, self.values[hit]


def rolling_columns(series: np.ndarray, names: tuple[str, ...], layout: Layout, state: RollingState,
                    z_windows: tuple[int, ...], pct_windows: tuple[int, ...],
                    exceedance: tuple[tuple[int, float, str], ...]) -> dict[str, np.ndarray]:
    """`{name}_z{N}`, `{name}_pct{N}`, `{name}_exq..` of the rows; `series` is (rows, len(names)).

    Updates `state` with the rows.
    """
    n_rows = layout.n_rows
    window = _Window(series, layout, state)
    prior = (state.seen[layout.ids] - layout.first_row[:-1])[layout.row_seg] + np.arange(n_rows)  # rows before
    sums = {n: np.zeros_like(series) for n in z_windows}
    counts = {n: np.zeros(n_rows, np.int64) for n in {*z_windows, *(w for w, _, _ in exceedance),
                                                      *(n - 1 for n in pct_windows)}}
    less = {n: np.zeros(series.shape, np.int64) for n in pct_windows}
    equal = {n: np.zeros(series.shape, np.int64) for n in pct_windows}
    for d in range(1, max([*counts, 0]) + 1):
        rows, values = window.landing(d)
        for n, count in counts.items():
            if d <= n:
                count[rows] += 1
        for n, total in sums.items():
            if d <= n:
                total[rows] += values
        for n in pct_windows:
            if d <= n - 1:
                current = series[rows]
                less[n][rows] += values < current
                equal[n][rows] += values == current
    out: dict[str, np.ndarray] = {}
    for n in z_windows:
        out.update(_zscores(series, names, n, sums[n], counts[n], prior, window, layout))
    for n in pct_windows:
        zeros = (n - 1 - counts[n - 1])[:, None]
        below = less[n] + zeros * (series > 0)
        ties = equal[n] + zeros * (series == 0) + 1
        pct = (below + (ties + 1) / 2) / n
        pct[prior < n - 1] = np.nan
        out.update({f"{name}_pct{n}": pct[:, i] for i, name in enumerate(names)})
    for w, q, suffix in exceedance:
        exq = _exceedance(series, w, q, counts[w], prior, window)
        out.update({f"{name}_{suffix}": exq[:, i] for i, name in enumerate(names)})
    _remember(window, layout, state)
    return out


def _zscores(series: np.ndarray, names: tuple[str, ...], n: int, total: np.ndarray, count: np.ndarray,
             prior: np.ndarray, window: _Window, layout: Layout) -> dict[str, np.ndarray]:
    """(x - mean) / std of the previous n values: a second pass for the squared deviations."""
    mean = total / n
    squares = np.zeros_like(series)
    differ = np.zeros(series.shape, np.int64)
    newest = window.ext[window.row_pos - 1]  # the value just before each row (any one of the window)
    for d in range(1, n + 1):
        rows, values = window.landing(d)
        deviation = values - mean[rows]
        squares[rows] += deviation * deviation
        differ[rows] += values != newest[rows]
    zeros = (n - count)[:, None]
    squares += zeros * mean * mean
    constant = (differ == 0) & ((zeros == 0) | (newest == 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (series - mean) / np.sqrt(squares / (n - 1))
    z[constant | (prior < n)[:, None]] = np.nan
    return {f"{name}_z{n}": z[:, i] for i, name in enumerate(names)}


def _exceedance(series: np.ndarray, w: int, q: float, count: np.ndarray, prior: np.ndarray,
                window: _Window) -> np.ndarray:
    """1.0 where x > numpy.quantile(previous w values, q), else 0.0 (NaN before w values).

    The sorted window starts with its zeros; the threshold is 0 unless the interpolation reaches
    past them, and only those rows gather their window.
    """
    virtual = (w - 1) * q
    reach = min(int(np.floor(virtual)) + 1, w - 1)  # the highest sorted index the threshold uses
    threshold = np.zeros_like(series)
    needed = np.flatnonzero(((w - count) <= reach) & (prior >= w))
    if len(needed):
        starts = window.row_pos[needed] - w
        n = np.full(len(needed), w)
        for i in range(series.shape[1]):
            column = np.ascontiguousarray(window.ext[:, i])
            threshold[needed, i] = row_quantiles(padded(column, starts, n, w), n, q)
    out = (series > threshold).astype(np.float64)
    out[prior < w] = np.nan
    return out


def _remember(window: _Window, layout: Layout, state: RollingState) -> None:
    """Keep each instrument's last `depth` values and count its rows."""
    ids = layout.ids
    depth = state.depth
    ends = window.ext_first[1:]
    keep = np.minimum(ends - window.ext_first[:-1], depth)
    seg = np.repeat(np.arange(len(ids)), keep)
    offset = np.arange(len(seg)) - np.repeat(np.cumsum(keep) - keep, keep)
    state.values[ids[seg], depth - keep[seg] + offset] = window.ext[ends[seg] - keep[seg] + offset]
    state.seen[ids] += np.diff(layout.first_row)
