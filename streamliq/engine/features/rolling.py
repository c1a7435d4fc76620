"""Rolling features across bars (FACTORS.md section 6) for every row of a close at once.

The series (notionals, counts, maxima) are non-negative and mostly 0 (an empty bar). A row's
window changes only where a non-zero value enters or leaves it, so an instrument's rows fall
into runs that share one window. Each feature is computed once per run for the rows whose own
value is 0, and once per row only for the rows with a non-zero value; no step costs rows times
window length. Every value depends on its row's window alone, never on where a close began,
so any batching gives the same bits:

- z-scores: window sums add up the window's non-zero values (`numpy.add.reduceat`). With a
  zero in the window the variance is at least mean^2 / (N - 1), so `sum(x^2) - sum(x)^2 / N`
  keeps ~12 digits; windows without a zero are computed exactly, two-pass, from the window.
- percentile ranks: a 0 ties with every zero of its window and has nothing below it; for a
  non-zero value, a wavelet matrix over the non-zero values counts those below and equal to it.
- exceedances: a 0 never exceeds a quantile of non-negative values; a non-zero value needs its
  window only when the quantile reaches past the window's zeros.

An instrument's non-zero values among its last `max window` rows and its number of rows so far
are its state; the zeros are never stored nor built.
"""

from __future__ import annotations

import numpy as np

from ..layout import Layout
from .quantiles import SliceQuantiles, row_quantiles

CHUNK_ROWS = 8192  # rows whose windows are gathered at once (bounds the temporary matrix)
INDEX_COST = 16  # building a wavelet matrix costs about this many comparisons per indexed value
DENSE_RATIO = 8  # up to this many extended values per row, a close tabulates them (see `_Series`)


class RollingState:
    """Per instrument id: its rows closed so far (`seen`) and the non-zero values among its last
    `depth` rows of each series. Most values are 0 (an empty bar), so only the others are kept:
    a close costs what its instruments' non-zero values cost, not instruments times `depth`.

    One entry per value: `series`, `inst`, `row` (the instrument's row number, from 0), `value`.
    """

    def __init__(self, n_series: int, depth: int) -> None:
        self.n_series = n_series
        self.depth = depth
        self.seen = np.zeros(0, np.int64)
        self.series = np.empty(0, np.int64)
        self.inst = np.empty(0, np.int64)
        self.row = np.empty(0, np.int64)
        self.value = np.empty(0)

    def grow(self, n: int) -> None:
        """Room for `n` instruments."""
        extra = n - len(self.seen)
        if extra > 0:
            self.seen = np.append(self.seen, np.zeros(extra, np.int64))

    def dense(self) -> np.ndarray:
        """The last `depth` values of every instrument as (instrument, depth, series), the newest
        at `[:, -1]` and zeros before an instrument's first row (the checkpoint's form)."""
        out = np.zeros((len(self.seen), self.depth, self.n_series))
        out[self.inst, self.depth - (self.seen[self.inst] - self.row), self.series] = self.value
        return out

    def restore(self, dense: np.ndarray, seen: np.ndarray) -> None:
        """Undo `dense`."""
        self.seen = seen
        inst, slot, series = np.nonzero(dense)
        real = slot >= self.depth - np.minimum(seen, self.depth)[inst]
        inst, slot, series = inst[real], slot[real], series[real]
        self.series, self.inst, self.value = series.astype(np.int64), inst.astype(np.int64), dense[inst, slot, series]
        self.row = seen[inst] - self.depth + slot


class _Frame:
    """Where the rows of a close sit in the extended series, all series stacked.

    Per instrument (segment `j` of the layout), the extended series holds its remembered values,
    oldest first, then its rows. The series are laid end to end, each as the layout's segments:
    stacked segment `k` is series `k // m`, instrument segment `k % m` of the `m` in the layout,
    and row `r` of series `c` is stacked row `c * n_rows + r`. Segment `k` starts at position
    `first[k]`, its rows at `row_begin[k]`: stacked row `r` of segment `k` is at `r + shift[k]`.
    Positions only number the values: the extended series is never built (see `_Series`).
    """

    def __init__(self, layout: Layout, state: RollingState) -> None:
        self.state = state
        n_series = state.n_series
        self.ids = layout.ids
        counts = np.diff(layout.first_row)
        seen = state.seen[self.ids]
        held = np.minimum(seen, state.depth)
        first = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(held + counts, out=first[1:])
        self.length = int(first[-1])  # of one series
        self.counts = counts

        def stacked(base: np.ndarray, step: int) -> np.ndarray:
            return (base[None, :] + step * np.arange(n_series)[:, None]).ravel()
        self.first_row = np.append(stacked(layout.first_row[:-1], layout.n_rows), n_series * layout.n_rows)
        self.first = np.append(stacked(first[:-1], self.length), n_series * self.length)
        self.n_rows = int(self.first_row[-1])
        self.seen = np.tile(seen, n_series)
        self.row_begin = self.first[:-1] + np.tile(held, n_series)
        self.shift = self.row_begin - self.first_row[:-1]
        self.first_held_row = np.tile(seen - held, n_series)  # the row number at `first[k]`

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in the extended series, rows of the instrument before it) of each of `rows`."""
        seg = np.searchsorted(self.first_row, rows, side="right") - 1
        return rows + self.shift[seg], self.seen[seg] + rows - self.first_row[seg]

    def early(self, n: int) -> np.ndarray:
        """The rows with fewer than `n` rows of their instrument before them."""
        begin = self.first_row[:-1]
        count = np.clip(n - self.seen, 0, np.diff(self.first_row))
        return np.repeat(begin, count) + _offsets(count)


class _Series:
    """The stacked series of a close: its rows' values, and the positions and values of the
    non-zero values of the extended series (remembered ones and the rows'). Every other value of
    the extended series is 0."""

    def __init__(self, frame: _Frame, values: list[np.ndarray]) -> None:
        self.frame = frame
        self.values = np.concatenate(values)
        state = frame.state
        m = len(frame.ids)
        segment_of = np.full(len(state.seen), -1)
        segment_of[frame.ids] = np.arange(m)
        j = segment_of[state.inst]
        mine = j >= 0
        self._others = ~mine  # remembered values of instruments not in this close
        k = state.series[mine] * m + j[mine]
        remembered = frame.first[k] + state.row[mine] - frame.first_held_row[k]
        self.nonzero_rows = np.flatnonzero(self.values)  # rows with a non-zero value
        position = np.concatenate([remembered, frame.locate(self.nonzero_rows)[0]])
        value = np.concatenate([state.value[mine], self.values[self.nonzero_rows]])
        total = int(frame.first[-1])
        self._before: np.ndarray | None = None  # [p]: non-zero values before position p, for a long close
        if total <= DENSE_RATIO * len(self.values):  # rows outnumber remembered values: tables are cheaper
            flags = np.zeros(total, bool)
            flags[position] = True
            self.nonzero = np.flatnonzero(flags)
            spread = np.zeros(total)
            spread[position] = value
            self.nonzero_values = spread[self.nonzero]
            self._before = np.zeros(total + 1, np.int64)
            np.cumsum(flags, out=self._before[1:])
        else:  # a live close: a few non-zero values among many remembered zeros
            order = np.argsort(position, kind="stable")
            self.nonzero, self.nonzero_values = position[order], value[order]
        self.nonzero_seg = np.searchsorted(frame.first, self.nonzero, side="right") - 1

    def before(self, position: np.ndarray) -> np.ndarray:
        """How many non-zero values lie before each position."""
        if self._before is not None:
            return self._before[position]
        return np.searchsorted(self.nonzero, position, side="left")

    def windows(self, end: np.ndarray, n: int) -> np.ndarray:
        """The n values before each position of `end`, one row each (zeros filled in)."""
        lo, hi = self.before(end - n), self.before(end)
        out = np.zeros((len(end), n))
        count = hi - lo
        window = np.repeat(np.arange(len(end)), count)
        index = np.repeat(lo, count) + _offsets(count)
        out[window, self.nonzero[index] - (end[window] - n)] = self.nonzero_values[index]
        return out

    def remember(self) -> None:
        """Keep the non-zero values of each instrument's last `depth` rows; count its rows."""
        frame, state = self.frame, self.frame.state
        m = len(frame.ids)
        seg = self.nonzero_seg
        inst = frame.ids[seg % m]
        row = frame.first_held_row[seg] + self.nonzero - frame.first[seg]
        keep = row >= state.seen[inst] + frame.counts[seg % m] - state.depth
        others = self._others
        state.series = np.concatenate([state.series[others], seg[keep] // m])
        state.inst = np.concatenate([state.inst[others], inst[keep]])
        state.row = np.concatenate([state.row[others], row[keep]])
        state.value = np.concatenate([state.value[others], self.nonzero_values[keep]])
        state.seen[frame.ids] += frame.counts

    def segment_starts(self) -> np.ndarray:
        """The first non-zero value of each segment that has one (no window crosses a segment)."""
        first = np.flatnonzero(np.append(True, self.nonzero_seg[1:] != self.nonzero_seg[:-1]))
        return first if len(self.nonzero) else np.zeros(1, np.int64)

    def runs(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows sharing the window of n values before them: (first row, rows, lo, hi) per run.

        The run's window holds the non-zero values `nonzero[lo:hi]`; `lo` is -1 for a run
        of rows with fewer than n rows before them.
        """
        frame = self.frame
        seg = self.nonzero_seg
        starts = [frame.first_row[:-1]]
        for entered in (self.nonzero + 1, self.nonzero + n + 1):  # a value enters, then leaves
            inside = (entered >= frame.row_begin[seg]) & (entered < frame.first[1:][seg])
            starts.append(entered[inside] - frame.shift[seg[inside]])
        starts.append(frame.first_row[:-1] + np.clip(n - frame.seen, 0, None))  # the first full window
        starts = np.sort(np.concatenate(starts), kind="stable")  # sorted runs: a merge
        starts = starts[np.append(True, starts[1:] != starts[:-1]) & (starts < frame.n_rows)]
        lengths = np.diff(np.append(starts, frame.n_rows))
        position, prior = frame.locate(starts)
        hi = self.before(position)
        lo = np.where(prior >= n, self.before(np.maximum(position - n, 0)), -1)
        return starts, lengths, lo, hi

    def run_of(self, starts: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The run of each of `rows`."""
        return np.searchsorted(starts, rows, side="right") - 1

    def valid_nonzero_rows(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows with a non-zero value and at least n rows before them, and their positions."""
        position, prior = self.frame.locate(self.nonzero_rows)
        full = prior >= n
        return self.nonzero_rows[full], position[full]


def rolling_columns(series: list[np.ndarray], names: tuple[str, ...], layout: Layout, state: RollingState,
                    z_windows: tuple[int, ...], pct_windows: tuple[int, ...],
                    exceedance: tuple[tuple[int, float, str], ...]) -> dict[str, np.ndarray]:
    """`{name}_z{N}`, `{name}_pct{N}`, `{name}_exq..` of the rows; `series[i]` is column `names[i]`.

    Updates `state` with the rows.
    """
    frame = _Frame(layout, state)
    stacked = _Series(frame, series)
    out: dict[str, np.ndarray] = {}
    n = layout.n_rows
    for window in z_windows:
        z = _zscores(stacked, window)
        out.update({f"{name}_z{window}": z[i * n:(i + 1) * n] for i, name in enumerate(names)})
    for window in pct_windows:
        pct = _ranks(stacked, window)
        out.update({f"{name}_pct{window}": pct[i * n:(i + 1) * n] for i, name in enumerate(names)})
    for w, q, suffix in exceedance:
        exq = _exceedance(stacked, w, q)
        out.update({f"{name}_{suffix}": exq[i * n:(i + 1) * n] for i, name in enumerate(names)})
    stacked.remember()
    return out


def _zscores(series: _Series, n: int) -> np.ndarray:
    """(x - mean) / std (ddof=1) of the previous n values; NaN before n values or when all are equal."""
    starts, lengths, lo, hi = series.runs(n)
    count = hi - lo
    mean = np.full(len(starts), np.nan)  # NaN for a window of zeros or too few rows
    spread = np.full(len(starts), np.nan)
    values = series.nonzero_values
    mixed = np.flatnonzero((lo >= 0) & (count > 0) & (count < n))
    if len(mixed):
        total, squares = _window_sums(values, lo[mixed], hi[mixed])
        mean[mixed] = total / n
        spread[mixed] = np.sqrt(np.maximum(squares - total * mean[mixed], 0.0) / (n - 1))
    full = np.flatnonzero((lo >= 0) & (count == n))  # no zero: exact, two-pass
    if len(full):
        window = np.lib.stride_tricks.sliding_window_view(values, n)[lo[full]]
        centre = window.sum(axis=1) / n
        deviation = window - centre[:, None]
        exact = np.sqrt((deviation * deviation).sum(axis=1) / (n - 1))
        exact[window.min(axis=1) == window.max(axis=1)] = np.nan
        mean[full], spread[full] = centre, exact
    rows = series.nonzero_rows
    run = series.run_of(starts, rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.repeat((0.0 - mean) / spread, lengths)
        z[rows] = (series.values[rows] - mean[run]) / spread[run]
    return z


def _window_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of x and of x^2 over `values[lo:hi]` (non-empty slices), each from its slice alone."""
    bounds = np.empty(2 * len(lo), np.int64)
    bounds[0::2], bounds[1::2] = lo, hi
    padded = np.append(values, 0.0)  # `hi` may be len(values)
    total = np.add.reduceat(padded, bounds)[0::2]
    squares = np.add.reduceat(padded * padded, bounds)[0::2]
    return total, squares


def _ranks(series: _Series, n: int) -> np.ndarray:
    """pandas `rolling(n).rank(pct=True)`: the average rank of x among the last n values, over n."""
    _, lengths, lo, hi = series.runs(n - 1)
    ties = (n - 1) - (hi - lo) + 1.0  # a 0 ties with every zero and itself; nothing is below it
    zero_pct = (0.0 + (ties + 1) / 2) / n
    zero_pct[lo < 0] = np.nan
    pct = np.repeat(zero_pct, lengths)
    rows, position = series.valid_nonzero_rows(n - 1)
    if len(rows) * (n - 1) <= INDEX_COST * len(series.nonzero_values):  # few rows (a live close): compare
        for begin in range(0, len(rows), CHUNK_ROWS):
            window = series.windows(position[begin:begin + CHUNK_ROWS], n - 1)
            x = series.values[rows[begin:begin + CHUNK_ROWS]][:, None]
            below, tied = (window < x).sum(axis=1), (window == x).sum(axis=1) + 1.0
            pct[rows[begin:begin + CHUNK_ROWS]] = (below + (tied + 1) / 2) / n
    else:  # many rows: one wavelet matrix over the non-zero values counts below and equal for all
        lo = series.before(position - (n - 1))
        hi = series.before(position)  # also the index of the row's own non-zero value
        index = SliceQuantiles(series.nonzero_values, series.segment_starts())
        below_x, at_most_x = index.rank_bounds()
        smaller = index.count_below(lo, hi, below_x[hi])
        tied = index.count_below(lo, hi, at_most_x[hi]) - smaller + 1.0
        below = (n - 1) - (hi - lo) + smaller  # every zero of the window is below a positive x
        pct[rows] = (below + (tied + 1) / 2) / n
    return pct


def _exceedance(series: _Series, w: int, q: float) -> np.ndarray:
    """1.0 where x > numpy.quantile(previous w values, q), else 0.0 (NaN before w values).

    The sorted window starts with its zeros: the threshold is 0 unless the interpolation reaches
    past them, and only those rows gather their window.
    """
    virtual = (w - 1) * q
    reach = min(int(np.floor(virtual)) + 1, w - 1)  # the highest sorted index the threshold uses
    out = np.zeros(series.frame.n_rows)
    rows, position = series.valid_nonzero_rows(w)
    count = series.before(position) - series.before(position - w)
    threshold = np.zeros(len(rows))
    needed = np.flatnonzero(w - count <= reach)
    for begin in range(0, len(needed), CHUNK_ROWS):
        chunk = needed[begin:begin + CHUNK_ROWS]
        window = np.sort(series.windows(position[chunk], w), axis=1)
        threshold[chunk] = row_quantiles(window, np.full(len(chunk), w), q)
    out[rows] = series.values[rows] > threshold
    out[series.frame.early(w)] = np.nan
    return out


def _offsets(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., count - 1 for each count, concatenated."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


