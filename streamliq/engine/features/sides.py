"""FACTORS.md section 3 for every row of a close at once: segment reductions over liquidations.

The liquidations come sorted by row with arrival order kept inside a row, so each row's values
are one contiguous segment. Sums use `numpy.add.reduceat`, which sums a segment exactly as
`segment.sum()` does (pairwise), so `X_std` follows pandas' two-pass formula bit for bit on
identical values. Skewness and kurtosis come from moments of `v - K` with K the row's first
value (shifted moments: raw power sums lose 1e-5..1e-3 relative on price-like values).
"""

from __future__ import annotations

import numpy as np

from ..layout import segment_starts

CONSTANT_VARIANCE_RATIO = 1e-14  # "all v equal": sample variance at most this times mean^2
SUB_INTERVALS = 60  # time_concentration splits a bar into this many equal parts
SIDES = (("long", True), ("short", False), ("all", None))


def side_columns(prefix: str, row: np.ndarray, notional: np.ndarray, amount: np.ndarray,
                 n_rows: int) -> dict[str, np.ndarray]:
    """`{prefix}_count .. {prefix}_vwap` of one side; `row` sorted (arrival order within a row)."""
    count = np.zeros(n_rows, np.int64)
    qty = np.zeros(n_rows)
    total = np.zeros(n_rows)
    largest = np.zeros(n_rows)
    mean = np.full(n_rows, np.nan)
    std = np.full(n_rows, np.nan)
    skew = np.full(n_rows, np.nan)
    kurt = np.full(n_rows, np.nan)
    vwap = np.full(n_rows, np.nan)
    starts = segment_starts(row)
    if len(starts):
        rows = row[starts]
        n = np.diff(np.append(starts, len(row)))
        count[rows] = n
        seg_qty = np.add.reduceat(amount, starts)
        seg_total = np.add.reduceat(notional, starts)
        qty[rows] = seg_qty
        total[rows] = seg_total
        largest[rows] = np.maximum.reduceat(notional, starts)
        seg_mean = seg_total / n
        mean[rows] = seg_mean
        each = np.repeat(np.arange(len(starts)), n)  # the segment of every value
        deviation = seg_mean[each] - notional
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.add.reduceat(deviation * deviation, starts) / (n - 1)
            std[rows] = np.where(n >= 2, np.sqrt(variance), np.nan)
            skew[rows], kurt[rows] = _shape(notional, starts, n, each)
            vwap[rows] = np.where(seg_qty > 0, seg_total / seg_qty, np.nan)
    return {f"{prefix}_count": count, f"{prefix}_qty": qty, f"{prefix}_notional": total,
            f"{prefix}_max": largest, f"{prefix}_mean": mean, f"{prefix}_std": std,
            f"{prefix}_skew": skew, f"{prefix}_kurt": kurt, f"{prefix}_vwap": vwap}


def _shape(values: np.ndarray, starts: np.ndarray, n: np.ndarray,
           each: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected skewness and excess kurtosis per segment (pandas), from shifted moments."""
    shift = values[starts]
    shifted = values - shift[each]
    centre = np.add.reduceat(shifted, starts) / n
    centered = shifted - centre[each]
    squared = centered * centered
    m2 = np.add.reduceat(squared, starts)
    m3 = np.add.reduceat(squared * centered, starts)
    m4 = np.add.reduceat(squared * squared, starts)
    value_mean = shift + centre
    variance = m2 / (n - 1)
    varied = variance > CONSTANT_VARIANCE_RATIO * value_mean * value_mean
    skew = n * np.sqrt(n - 1) / (n - 2) * m3 / m2**1.5
    kurt = (n * (n + 1) * (n - 1) * m4 / ((n - 2) * (n - 3) * m2 * m2)
            - 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    return np.where(varied & (n >= 3), skew, np.nan), np.where(varied & (n >= 4), kurt, np.nan)


def liquidation_columns(row: np.ndarray, ts: np.ndarray, notional: np.ndarray, amount: np.ndarray,
                        is_long: np.ndarray, bar_start: np.ndarray, width_us: int,
                        n_rows: int) -> dict[str, np.ndarray]:
    """Sections 3's columns of every row: the three sides, imbalance, whale index, time concentration.

    The events must be sorted by row, arrival order kept within a row.
    """
    out: dict[str, np.ndarray] = {}
    for prefix, side in SIDES:
        if side is None:
            out.update(side_columns(prefix, row, notional, amount, n_rows))
        else:
            keep = is_long == side
            out.update(side_columns(prefix, row[keep], notional[keep], amount[keep], n_rows))
    all_notional = out["all_notional"]
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = all_notional > 0
        out["imbalance"] = np.where(positive, (out["long_notional"] - out["short_notional"]) / all_notional, np.nan)
        out["whale_index"] = np.where(positive, out["all_max"] / all_notional, np.nan)
        out["time_concentration"] = _concentration(row, ts, notional, bar_start, width_us, all_notional)
    return out


def _concentration(row: np.ndarray, ts: np.ndarray, notional: np.ndarray, bar_start: np.ndarray,
                   width_us: int, all_notional: np.ndarray) -> np.ndarray:
    """sum_k (notional_k / all_notional)^2 over the bar's 60 sub-intervals (NaN without notional)."""
    out = np.full(len(all_notional), np.nan)
    if len(row) == 0:
        return out
    sub = ((ts - bar_start[row]) * SUB_INTERVALS) // width_us
    key = row * SUB_INTERVALS + sub
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = segment_starts(key)
    cell_rows = key[starts] // SUB_INTERVALS
    share = np.add.reduceat(notional[order], starts) / all_notional[cell_rows]
    row_starts = segment_starts(cell_rows)
    rows = cell_rows[row_starts]
    out[rows] = np.add.reduceat(share * share, row_starts)
    out[all_notional <= 0] = np.nan
    return out
