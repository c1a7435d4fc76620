"""Rolling features across bars (FACTORS.md section 6) for every row of a close at once.

Most bar values are 0 (an empty bar), which the computation exploits without giving up
exactness or batching-independence:

- Counts of non-zero values in a window are integer prefix differences (exact).
- Window sums for the z-scores add up the window's non-zero values only (`numpy.add.reduceat`
  over slices of the non-zero entries), so a row's sum depends on its window alone, never on
  where a close began. With a zero in the window the variance is at least mean^2 / (N - 1), so
  `sum(x^2) - sum(x)^2 / N` keeps ~12 digits; windows without a zero are computed exactly,
  two-pass, from the window itself.
- Ranks and exceedance thresholds are trivial for a zero value or a window of zeros; only the
  other rows gather their windows.

An instrument's last `max window` values and its number of rows so far are its state.
"""

from __future__ import annotations

import numpy as np

from ..layout import Layout
from .quantiles import row_quantiles


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


class _Extended:
    """The rows of a close, each instrument's preceded by its remembered values."""

    def __init__(self, series: np.ndarray, layout: Layout, state: RollingState) -> None:
        ids = layout.ids
        self.counts = np.diff(layout.first_row)
        self.seen = state.seen[ids]
        self.held = np.minimum(self.seen, state.depth)
        lengths = self.held + self.counts
        self.first = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(lengths, out=self.first[1:])
        self.seg = np.repeat(np.arange(len(ids)), lengths)
        offset = np.arange(int(self.first[-1])) - self.first[self.seg]
        self.absolute = self.seen[self.seg] - self.held[self.seg] + offset  # the instrument's row number
        ext = np.empty((int(self.first[-1]), series.shape[1]))
        history = offset < self.held[self.seg]
        ext[history] = state.values[ids[self.seg[history]], state.depth - self.held[self.seg[history]]
                                    + offset[history]]
        self.row_pos = np.flatnonzero(~history)  # ext position of every row, in row order
        ext[self.row_pos] = series
        self.values = ext
        self.prior = self.absolute[self.row_pos]  # rows of the instrument before each row
        nonzero = np.zeros((len(ext) + 1, ext.shape[1]), np.int64)
        np.cumsum(ext != 0, axis=0, out=nonzero[1:])
        self.nonzero_before = nonzero  # [i]: non-zero values at ext positions < i
        self._explicit: tuple[np.ndarray, np.ndarray] | None = None  # rows with a non-zero value, x and x^2

    def nonzero_in(self, n: int) -> np.ndarray:
        """(rows, series): non-zero values among the n values before each row (valid once prior >= n)."""
        end = self.row_pos
        return self.nonzero_before[end] - self.nonzero_before[np.maximum(end - n, 0)]

    def windows(self, rows: np.ndarray, n: int, column: int) -> np.ndarray:
        """(len(rows), n): the n values before each of `rows` in one series, oldest first."""
        series = np.ascontiguousarray(self.values[:, column])
        return np.lib.stride_tricks.sliding_window_view(series, n)[self.row_pos[rows] - n]

    def window_sums(self, n: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(len(rows), series) sums of x and of x^2 over the n values before each of `rows`.

        Each sum is `numpy.add.reduceat` over the window's non-zero values alone (a zero adds
        nothing), so it depends on the window's values only, never on where a close began.
        """
        if self._explicit is None:
            positions = np.flatnonzero((self.values != 0).any(axis=1))
            values = self.values[positions]
            padded = np.zeros((len(positions) + 1, 2 * values.shape[1]))  # a zero row: index len is valid
            padded[:-1, :values.shape[1]] = values
            padded[:-1, values.shape[1]:] = values * values
            self._explicit = (positions, padded)
        positions, values = self._explicit
        end = self.row_pos[rows]
        lo = np.searchsorted(positions, end - n)
        hi = np.searchsorted(positions, end)
        bounds = np.empty(2 * len(lo), np.int64)
        bounds[0::2], bounds[1::2] = lo, hi
        sums = np.add.reduceat(values, bounds, axis=0)[0::2]
        sums[lo == hi] = 0.0  # reduceat gives values[lo] for an empty slice
        width = values.shape[1] // 2
        return sums[:, :width], sums[:, width:]


def rolling_columns(series: np.ndarray, names: tuple[str, ...], layout: Layout, state: RollingState,
                    z_windows: tuple[int, ...], pct_windows: tuple[int, ...],
                    exceedance: tuple[tuple[int, float, str], ...]) -> dict[str, np.ndarray]:
    """`{name}_z{N}`, `{name}_pct{N}`, `{name}_exq..` of the rows; `series` is (rows, len(names)).

    Updates `state` with the rows.
    """
    ext = _Extended(series, layout, state)
    out: dict[str, np.ndarray] = {}
    for n in z_windows:
        z = _zscores(series, n, ext)
        out.update({f"{name}_z{n}": z[:, i] for i, name in enumerate(names)})
    for n in pct_windows:
        pct = _ranks(series, n, ext)
        out.update({f"{name}_pct{n}": pct[:, i] for i, name in enumerate(names)})
    for w, q, suffix in exceedance:
        exq = _exceedance(series, w, q, ext)
        out.update({f"{name}_{suffix}": exq[:, i] for i, name in enumerate(names)})
    _remember(ext, layout, state)
    return out


def _zscores(series: np.ndarray, n: int, ext: _Extended) -> np.ndarray:
    """(x - mean) / std (ddof=1) of the previous n values; NaN before n values or when all are equal."""
    count = ext.nonzero_in(n)
    z = np.full(series.shape, np.nan)  # NaN for a window of zeros
    mixed = np.flatnonzero(((count > 0) & (count < n)).any(axis=1) & (ext.prior >= n))
    total, squares = ext.window_sums(n, mixed)
    mean = total / n
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.maximum(squares - total * mean, 0.0) / (n - 1)
        z[mixed] = np.where(count[mixed] > 0, (series[mixed] - mean) / np.sqrt(variance), np.nan)
    for column in range(series.shape[1]):
        full = np.flatnonzero((count[:, column] == n) & (ext.prior >= n))  # no zero: exact, two-pass
        if len(full):
            window = ext.windows(full, n, column)
            centre = window.sum(axis=1) / n
            deviation = window - centre[:, None]
            spread = np.sqrt((deviation * deviation).sum(axis=1) / (n - 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                exact = (series[full, column] - centre) / spread
            exact[window.min(axis=1) == window.max(axis=1)] = np.nan
            z[full, column] = exact
    z[ext.prior < n] = np.nan
    return z


def _ranks(series: np.ndarray, n: int, ext: _Extended) -> np.ndarray:
    """pandas `rolling(n).rank(pct=True)`: the average rank of x among the last n values, over n."""
    zeros = (n - 1) - ext.nonzero_in(n - 1)
    below = np.zeros(series.shape)
    ties = zeros + 1.0  # for x = 0: every zero ties, nothing is below
    for column in range(series.shape[1]):
        positive = np.flatnonzero((series[:, column] != 0) & (ext.prior >= n - 1))
        if len(positive):
            window = ext.windows(positive, n - 1, column)
            x = series[positive, column][:, None]
            below[positive, column] = (window < x).sum(axis=1)
            ties[positive, column] = (window == x).sum(axis=1) + 1
    pct = (below + (ties + 1) / 2) / n
    pct[ext.prior < n - 1] = np.nan
    return pct


def _exceedance(series: np.ndarray, w: int, q: float, ext: _Extended) -> np.ndarray:
    """1.0 where x > numpy.quantile(previous w values, q), else 0.0 (NaN before w values).

    The sorted window starts with its zeros: the threshold is 0 unless the interpolation reaches
    past them, and only those rows gather their window.
    """
    virtual = (w - 1) * q
    reach = min(int(np.floor(virtual)) + 1, w - 1)  # the highest sorted index the threshold uses
    count = ext.nonzero_in(w)
    threshold = np.zeros(series.shape)
    for column in range(series.shape[1]):
        needed = np.flatnonzero((w - count[:, column] <= reach) & (ext.prior >= w))
        if len(needed):
            window = np.sort(ext.windows(needed, w, column), axis=1)
            threshold[needed, column] = row_quantiles(window, np.full(len(needed), w), q)
    out = (series > threshold).astype(np.float64)
    out[ext.prior < w] = np.nan
    return out


def _remember(ext: _Extended, layout: Layout, state: RollingState) -> None:
    """Keep each instrument's last `depth` values and count its rows."""
    ids = layout.ids
    depth = state.depth
    ends = ext.first[1:]
    keep = np.minimum(ends - ext.first[:-1], depth)
    seg = np.repeat(np.arange(len(ids)), keep)
    offset = np.arange(len(seg)) - np.repeat(np.cumsum(keep) - keep, keep)
    state.values[ids[seg], depth - keep[seg] + offset] = ext.values[ends[seg] - keep[seg] + offset]
    state.seen[ids] += ext.counts
