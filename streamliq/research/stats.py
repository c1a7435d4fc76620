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

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_ROWS = 3  # fewer rows give no correlation
# A variance from sums of squares is "zero" below this share of the sum of squares: a constant
# column's ranks leave a rounding residue of ~1e-16 of it, any real spread far more than 1e-10.
RELATIVE_ZERO = 1e-10


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks from 1 (ties share their mean rank)."""
    return pd.Series(values).rank(method="average").to_numpy()


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation; NaN with fewer than 3 rows or a constant side."""
    if len(x) < MIN_ROWS:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    return float(np.dot(dx, dy) / denominator) if denominator > 0 else float("nan")


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
    long_run = np.dot(centered, centered) / count
    for lag in range(1, min(lags, count - 1) + 1):
        weight = 1.0 - lag / (lags + 1)
        long_run += 2.0 * weight * np.dot(centered[lag:], centered[:-lag]) / count
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


def ic_stats(factor: np.ndarray, label: np.ndarray, series: np.ndarray, bars: np.ndarray, lags: int) -> IcStats:
    """Pooled and per-series ICs of `factor` against `label` (rows aligned; NaN rows are dropped).

    `series` holds each row's series code (0..S-1), `bars` its bar as an integer sorting in time.
    """
    keep = np.isfinite(factor) & np.isfinite(label)
    x, y, codes, bar = factor[keep], label[keep], series[keep], bars[keep]
    n = len(x)
    if n < MIN_ROWS:
        nan = float("nan")
        return IcStats(n, nan, nan, nan, nan, nan, 0, nan, 0)
    rx, ry = ranks(x), ranks(y)
    rank = pearson(rx, ry)
    per_series = grouped_rank_ic(x, y, codes)
    per_series = per_series[np.isfinite(per_series)]
    t, n_bars = float("nan"), 0
    sx, sy = rx.std(ddof=1), ry.std(ddof=1)
    if sx > 0 and sy > 0:
        product = (rx - rx.mean()) / sx * (ry - ry.mean()) / sy
        bar_ids, inverse = np.unique(bar, return_inverse=True)
        t, n_bars = newey_west_t(np.bincount(inverse, weights=product), lags), len(bar_ids)
    return IcStats(
        rows=n, rank_ic=rank, pearson_ic=pearson(x, y),
        symbol_ic_mean=float(per_series.mean()) if len(per_series) else float("nan"),
        symbol_ic_std=float(per_series.std(ddof=1)) if len(per_series) > 1 else float("nan"),
        symbols_positive=float((per_series > 0).mean()) if len(per_series) else float("nan"),
        symbols=len(per_series), t_nw=t, bars=n_bars)


def grouped_rank_ic(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation within each group (index = group code; NaN below 3 rows)."""
    frame = pd.DataFrame({"g": groups, "x": x, "y": y})
    by = frame.groupby("g", sort=False)
    rx, ry = by["x"].rank().to_numpy(), by["y"].rank().to_numpy()
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


def rank_correlation_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Pairwise-complete Pearson correlation of the columns' ranks (each ranked over its defined rows)."""
    ranked = frame.rank(method="average").to_numpy(np.float64)
    mask = np.isfinite(ranked)
    values = np.where(mask, ranked, 0.0)
    m = mask.astype(np.float64)
    n = m.T @ m
    sx = values.T @ m  # sx[i, j]: sum of column i over rows where j is defined too
    sxx = (values * values).T @ m
    sxy = values.T @ values
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i, var_j = sxx - sx * sx / n, (sxx - sx * sx / n).T
        corr = cov / np.sqrt(var_i * var_j)
        corr[(n < MIN_ROWS) | ~(var_i > RELATIVE_ZERO * sxx) | ~(var_j > RELATIVE_ZERO * sxx.T)] = np.nan
    return np.clip(corr, -1.0, 1.0)
