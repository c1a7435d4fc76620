"""Information coefficients and a Newey-West t-statistic, vectorized with numpy and pandas.

Rank IC is the Spearman correlation: Pearson's correlation of average ranks (ties share
their mean rank), the same number as `scipy.stats.spearmanr`. The t-statistic is the one of
the pooled rank IC, made robust to the overlap of `h`-bar forward returns: with `a` and `b`
the standardized pooled ranks of factor and label, the pooled rank IC is
`sum(a*b) / (n-1)`; the sum is split by bar, `x_bar = sum of a*b over the rows of that bar`,
and `t` is the Newey-West t-statistic of the mean of `x_bar` (bars with rows, in time order,
Bartlett weights, `h - 1` lags). Summing by bar first keeps the symbols of one bar, whose
returns move together, from counting as independent evidence (Driscoll-Kraay style).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

MIN_ROWS = 3  # fewer rows give no correlation
# A variance from sums of squares is "zero" below this share of the sum of squares: a constant
# column's ranks leave a rounding residue of ~1e-16 of it, any real spread far more than 1e-10.
RELATIVE_ZERO = 1e-10


def ranks(values: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Average ranks from 1 (ties share their mean rank), over all values or within each group."""
    ranked = Sorted(values, groups).ranks(np.ones(len(values), dtype=bool))
    return ranked.pooled if groups is None else ranked.within


@dataclass(frozen=True)
class Ranked:
    """Average ranks of some rows: pooled, and within each group when groups were given."""

    pooled: np.ndarray
    within: np.ndarray | None


class Sorted:
    """A column sorted once (and by group, then value, when `groups` is given); the ranks of any
    subset of its finite rows follow in linear time, with no new sort.

    The report ranks each factor against several labels whose missing rows differ: one sort per
    column instead of one per (factor, label) pair. numpy's sort, not pandas' `rank`: this is the
    report's inner loop.
    """

    REMEMBERED = 4  # subsets whose ranks are kept: factors with the same missing rows come in runs

    def __init__(self, values: np.ndarray, groups: np.ndarray | None = None) -> None:
        self.values, self.groups = values, groups
        # NaN last; ties are averaged, so their order does not matter. int32 halves the memory traffic.
        self.order = np.argsort(values).astype(np.int32)
        self.by_group = None
        if groups is not None:
            self.by_group = self.order[np.argsort(groups[self.order], kind="stable")]
        self._remembered: dict[bytes, Ranked] = {}

    def ranks(self, keep: np.ndarray) -> Ranked:
        """Ranks among the rows `keep` (finite values only), indexed like `values[keep]`."""
        key = hashlib.blake2b(np.packbits(keep).tobytes(), digest_size=16).digest()
        if key not in self._remembered:
            if len(self._remembered) >= self.REMEMBERED:
                self._remembered.pop(next(iter(self._remembered)))
            self._remembered[key] = self._ranks(keep)
        return self._remembered[key]

    def _ranks(self, keep: np.ndarray) -> Ranked:
        index = np.cumsum(keep, dtype=np.int32) - 1  # row -> its position in the subset
        values = self.values[keep]
        pooled = _run_ranks(index[self.order[keep[self.order]]], values, None)
        within = None
        if self.by_group is not None:
            within = _run_ranks(index[self.by_group[keep[self.by_group]]], values, self.groups[keep])
        return Ranked(pooled, within)


def _run_ranks(order: np.ndarray, values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Ranks from an order that sorts by (group, value): runs of equal values get their mean position."""
    n = len(order)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    sorted_values = values[order]
    new_group = np.zeros(n, dtype=bool)
    new_group[0] = True
    if groups is not None:
        sorted_groups = groups[order]
        new_group[1:] = sorted_groups[1:] != sorted_groups[:-1]
    new_run = new_group.copy()
    new_run[1:] |= sorted_values[1:] != sorted_values[:-1]
    position = np.arange(n)
    if groups is not None:
        group_starts = np.flatnonzero(new_group)
        position -= np.repeat(group_starts, np.diff(np.append(group_starts, n)))
    run_starts = np.flatnonzero(new_run)
    run_sizes = np.diff(np.append(run_starts, n))
    mean_rank = position[run_starts] + (run_sizes + 1) / 2.0
    out[order] = np.repeat(mean_rank, run_sizes)
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # Not np.dot: BLAS threads cost milliseconds per call on a busy machine, a plain sum microseconds.
    return float(np.einsum("i,i->", a, b))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation; NaN with fewer than 3 rows or a constant side."""
    if len(x) < MIN_ROWS:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(_dot(dx, dx) * _dot(dy, dy))
    return _dot(dx, dy) / denominator if denominator > 0 else float("nan")


def rank_ic(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of two aligned, finite arrays."""
    return pearson(ranks(x), ranks(y)) if len(x) >= MIN_ROWS else float("nan")


def newey_west_t(series: np.ndarray, lags: int) -> float:
    """t-statistic of the mean of `series` with a Newey-West (Bartlett) long-run variance.

    `var(mean) = (g0 + 2 * sum_{l=1..L} (1 - l/(L+1)) * g_l) / T` with `g_l` the lag-`l`
    autocovariance (divided by T). NaN with fewer than 2 values or no variance.
    """
    x = np.asarray(series, dtype=np.float64)
    count = len(x)
    if count < 2:
        return float("nan")
    centered = x - x.mean()
    long_run = _dot(centered, centered) / count
    for lag in range(1, min(lags, count - 1) + 1):
        weight = 1.0 - lag / (lags + 1)
        long_run += 2.0 * weight * _dot(centered[lag:], centered[:-lag]) / count
    if not long_run > 0:
        return float("nan")
    return float(x.mean() / np.sqrt(long_run / count))


@dataclass(frozen=True)
class IcStats:
    """The numbers of one factor at one horizon."""

    rows: int  # rows where factor and label are both finite
    rank_ic: float
    pearson_ic: float
    symbol_ic_mean: float
    symbol_ic_std: float
    symbols_positive: float  # share of series with a positive rank IC
    symbols: int  # series with a rank IC
    t_nw: float
    bars: int  # bars of the per-bar series


def ic_stats(factor: np.ndarray, label: np.ndarray, series: np.ndarray, bars: np.ndarray, lags: int,
             sorted_factor: Sorted | None = None, sorted_label: Sorted | None = None) -> IcStats:
    """Pooled and per-series ICs of `factor` against `label` (rows aligned; NaN rows are dropped).

    `series` holds each row's series code (0..S-1), `bars` its bar's index (0..B-1, in time order).
    `sorted_factor`/`sorted_label`: the columns already sorted with `series` as groups, when the
    caller reuses them for several pairs.
    """
    keep = np.isfinite(factor) & np.isfinite(label)
    x, y, codes, bar = factor[keep], label[keep], series[keep], bars[keep]
    n = len(x)
    if n < MIN_ROWS:
        nan = float("nan")
        return IcStats(n, nan, nan, nan, nan, nan, 0, nan, 0)
    ranked_x = (sorted_factor or Sorted(factor, series)).ranks(keep)
    ranked_y = (sorted_label or Sorted(label, series)).ranks(keep)
    rx, ry = ranked_x.pooled, ranked_y.pooled
    rank = pearson(rx, ry)
    per_series = grouped_pearson(ranked_x.within, ranked_y.within, codes)
    per_series = per_series[np.isfinite(per_series)]
    t, n_bars = float("nan"), 0
    sx, sy = rx.std(ddof=1), ry.std(ddof=1)
    if sx > 0 and sy > 0:
        product = (rx - rx.mean()) / sx * (ry - ry.mean()) / sy
        present = np.bincount(bar) > 0  # bars with rows, in time order
        t, n_bars = newey_west_t(np.bincount(bar, weights=product)[present], lags), int(present.sum())
    return IcStats(
        rows=n, rank_ic=rank, pearson_ic=pearson(x, y),
        symbol_ic_mean=float(per_series.mean()) if len(per_series) else float("nan"),
        symbol_ic_std=float(per_series.std(ddof=1)) if len(per_series) > 1 else float("nan"),
        symbols_positive=float((per_series > 0).mean()) if len(per_series) else float("nan"),
        symbols=len(per_series), t_nw=t, bars=n_bars)


def grouped_pearson(rx: np.ndarray, ry: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Pearson's correlation within each group (index = group code; NaN below 3 rows or a constant side).

    Given within-group ranks, this is each group's Spearman correlation.
    """
    size = int(groups.max()) + 1 if len(groups) else 0

    def total(w: np.ndarray) -> np.ndarray:
        return np.bincount(groups, weights=w, minlength=size)

    n = np.bincount(groups, minlength=size).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sx, sy = total(rx), total(ry)
        cov = total(rx * ry) - sx * sy / n
        vx, vy = total(rx * rx) - sx * sx / n, total(ry * ry) - sy * sy / n
        ic = cov / np.sqrt(vx * vy)
        ic[(n < MIN_ROWS) | ~(vx > RELATIVE_ZERO * total(rx * rx)) | ~(vy > RELATIVE_ZERO * total(ry * ry))] = np.nan
    return ic


def rank_correlation_matrix(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Pairwise-complete Pearson correlation of the columns' ranks (each ranked over its defined rows)."""
    values = np.zeros((len(next(iter(columns.values()), [])), len(columns)))
    mask = np.zeros(values.shape, dtype=bool)
    for i, column in enumerate(columns.values()):
        mask[:, i] = np.isfinite(column)
        values[mask[:, i], i] = ranks(column[mask[:, i]])
    m = mask.astype(np.float64)

    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # a.T @ b without BLAS: its threads spin on a busy machine (seconds instead of a tenth).
        return np.einsum("ri,rj->ij", a, b)

    n = cross(m, m)
    sx = cross(values, m)  # sx[i, j]: sum of column i over rows where j is defined too
    sxx = cross(values * values, m)
    sxy = cross(values, values)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i, var_j = sxx - sx * sx / n, (sxx - sx * sx / n).T
        corr = cov / np.sqrt(var_i * var_j)
        corr[(n < MIN_ROWS) | ~(var_i > RELATIVE_ZERO * sxx) | ~(var_j > RELATIVE_ZERO * sxx.T)] = np.nan
    return np.clip(corr, -1.0, 1.0)
