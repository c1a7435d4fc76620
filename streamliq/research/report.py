"""The numbers of the factor report: which factor columns predict forward returns, and how surely.

`build_report` returns a plain dict (what `report.json` holds, every number the HTML page
shows). Its parts:

- `table`: per factor and horizon, pooled rank and Pearson ICs, per-series rank ICs, a
  Newey-West t (see `stats`), coverage; best first by |t|.
- `quintiles`, `ic_decay`, `ic_by_month`: for the top factors (the first distinct factors of
  the table). Quintiles are taken over each series' own history: a row is in quintile
  `ceil(5 * rank / n)` of its series' defined factor values (average ranks, so tied values
  share a quintile and a quintile may be empty). This uses the series' whole history, the
  future included: it describes the factor, it is not a tradable rule.
- `events`: event studies of event-like columns (see `event_rules`).
- `correlation`: the rank correlation matrix of the factors.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from ..errors import InputError
from .defaults import MIN_ROWS, TOP_FACTORS
from .forward import SERIES_KEY, ForwardWindow
from .stats import IcStats, Sorted, ic_stats, pearson, rank_correlation_matrix, rank_ic

META_COLUMNS = frozenset({*SERIES_KEY, "bar_start", "bar_end", "gap", "late_events"})
# Price levels rank BTC against PEPE when pooled: not factors, whatever their IC.
PRICE_LEVELS = frozenset({"open", "high", "low", "close", "last_price", "index_price"})
QUINTILES = 5
EVENT_PCT = 0.99
EVENT_QUANTILE = 0.9
BAND_Z = 1.96
# The correlation matrix is a map of redundancy, not a test: above this many rows it is computed
# on every k-th row (a rank correlation's standard error at 50,000 rows is about 0.0045).
CORRELATION_ROWS = 50_000
_EPOCH = pd.Timestamp(0, tz="UTC")

Progress = Callable[[str], None]


def factor_columns(frame: pd.DataFrame, patterns: str | None = None) -> list[str]:
    """The numeric columns that are factors, in file order; `patterns` is comma-separated globs."""
    numeric = [c for c in frame.columns if c not in META_COLUMNS and c not in PRICE_LEVELS
               and not c.startswith("fwd_") and pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    if not patterns:
        return numeric
    globs = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [c for c in numeric if any(fnmatch.fnmatchcase(c, g) for g in globs)]
    if not chosen:
        shown = ", ".join(numeric[:12]) + (", ..." if len(numeric) > 12 else "")
        raise InputError(f"--factors {patterns!r} matches no factor column; the columns are {shown}")
    return chosen


def event_rules(columns: Iterable[str]) -> list[tuple[str, str, float]]:
    """(column, rule, level) of the event-like columns: `value RULE level` marks an event bar.

    `*_exq*` == 1, `big_*_count` > 0, `*_pct*` >= 0.99; `whale_index` and `blood_content` above
    their 90th percentile (pooled over the report's rows), given here as level NaN.
    """
    rules = []
    for column in columns:
        if "_exq" in column:
            rules.append((column, "==", 1.0))
        elif re.fullmatch(r"big_.*_count", column):
            rules.append((column, ">", 0.0))
        elif "_pct" in column:
            rules.append((column, ">=", EVENT_PCT))
        elif column in ("whale_index", "blood_content"):
            rules.append((column, ">", float("nan")))
    return rules


def build_report(frame: pd.DataFrame, horizons: Sequence[int], patterns: str | None = None, entry_delay: int = 0,
                 top: int = TOP_FACTORS, min_rows: int = MIN_ROWS, progress: Progress | None = None) -> dict:
    """The report's numbers for the rows of one frequency (see the module docstring)."""
    say = progress or (lambda _: None)
    if "close" not in frame.columns:
        raise InputError("the factor file has no 'close' column: forward returns need the close price "
                         "(replay with ticker data)")
    if frame.empty:
        raise InputError("the factor file has no rows")
    freqs = frame["freq"].unique()
    if len(freqs) != 1:
        raise InputError(f"the report takes one frequency at a time (rows at {', '.join(sorted(freqs))})")
    horizons = sorted({int(h) for h in horizons})
    frame = frame.reset_index(drop=True)
    factors = factor_columns(frame, patterns)
    longest = max(horizons)
    say(f"labels: {len(frame):,} rows, horizons 1..{longest}")
    window = ForwardWindow(frame, longest, entry_delay)
    forward = {h: window.ret(h) for h in range(1, longest + 1)}
    codes = frame.groupby(SERIES_KEY, sort=False).ngroup().to_numpy()
    start_us = ((frame["bar_start"] - _EPOCH) // pd.Timedelta(microseconds=1)).to_numpy(np.int64)
    bars = np.unique(start_us, return_inverse=True)[1]  # each row's bar as an index in time order
    values = {f: pd.to_numeric(frame[f], errors="coerce").to_numpy(np.float64) for f in factors}
    context = _Context(frame, values, forward, codes, bars)
    coverage = {f: float(np.isfinite(values[f]).mean()) for f in factors}
    # ICs only see rows with a label: on a file where few series have a close, ranking every row
    # for every factor would cost most of the time for nothing.
    labelled = context.subset(np.logical_or.reduce([np.isfinite(y) for y in forward.values()]))

    say(f"ICs: {len(factors)} factors x {len(horizons)} horizons on {len(labelled.codes):,} rows with a label")
    table = _ic_table(labelled, factors, horizons, min_rows, coverage)
    best = list(dict.fromkeys(r["factor"] for r in table if r["ranked"]))[:top]
    best_horizon = {f: next(r["horizon"] for r in table if r["factor"] == f) for f in best}
    say(f"top factors: quintiles, IC decay and IC per month of {len(best)}")
    quintiles = {f: _quintiles(context, f, horizons) for f in best}
    decay = _ic_decay(labelled, best, longest)
    by_month = {f: _ic_by_month(labelled, f, best_horizon[f]) for f in best}
    rules = event_rules(factors)
    say(f"event studies: {len(rules)} event columns")
    events = _event_studies(context, rules, longest)
    say(f"correlation matrix of {len(factors)} factors")
    defined = [f for f in factors if np.isfinite(values[f]).any()]
    step = -(-len(frame) // CORRELATION_ROWS)  # every step-th row: at most CORRELATION_ROWS rows
    matrix = rank_correlation_matrix({f: values[f][::step] for f in defined})
    series = frame[["exchange", "symbol"]].drop_duplicates()
    return _clean({
        "freq": str(freqs[0]), "horizons": horizons, "entry_delay": int(entry_delay), "rows": len(frame),
        "series": len(series), "symbols": sorted(series["symbol"].unique().tolist()),
        "first_bar": frame["bar_start"].min().isoformat(), "last_bar": frame["bar_start"].max().isoformat(),
        "labelled_rows": {str(h): int(np.isfinite(forward[h]).sum()) for h in horizons},
        "min_rows": int(min_rows), "factors": factors, "method": METHOD, "table": table, "top_factors": best,
        "quintiles": quintiles, "ic_decay": {"horizons": list(range(1, longest + 1)), "ic": decay},
        "ic_by_month": by_month, "events": events,
        "correlation": {"factors": defined, "rows_used": len(range(0, len(frame), step)), "matrix": matrix.tolist()},
    })


METHOD = {
    "rank_ic": "Spearman correlation over all rows where factor and label are finite (average ranks)",
    "pearson_ic": "Pearson correlation over the same rows",
    "symbol_ic": "Spearman correlation within each (exchange, symbol) series; mean, sample std (ddof=1) and "
                 "share > 0 over series with at least 3 rows and no constant side",
    "t_nw": "Newey-West t (Bartlett weights, h-1 lags) of the mean of the per-bar series "
            "x_bar = sum over that bar's rows of a*b, a and b the pooled ranks of factor and label "
            "standardized (mean 0, std ddof=1); bars with rows, in time order",
    "coverage": "share of the report's rows where the factor is finite",
    "ranking": "best first by |t_nw| among the rows with at least min_rows aligned rows; then the others",
    "quintiles": "per series, quintile ceil(5*rank/n) of the factor over the series' own defined values "
                 "(average ranks; ties share a quintile); mean forward return of the rows of each quintile",
    "events": "event bars per rule; path k = ln(close[t+d+k]/close[t+d]) for k = 0..max(horizons), over events "
              "whose whole path is defined; band = mean +- 1.96 std/sqrt(n) (events taken as independent); "
              "unconditional = the same over every row with a defined path",
    "correlation": "Pearson correlation of the columns' ranks (each column ranked over its defined rows), "
                   "pairwise complete; on every k-th row when the file has more than 50,000 (rows_used)",
}


class _Context:
    """What every statistic needs, computed once."""

    def __init__(self, frame: pd.DataFrame | None, values: dict[str, np.ndarray], forward: dict[int, np.ndarray],
                 codes: np.ndarray, bars: np.ndarray) -> None:
        self.values, self.forward, self.codes, self.bars = values, forward, codes, bars
        self.rows = len(codes)
        if frame is not None:
            start = frame["bar_start"].dt.tz_convert(None).to_numpy()  # UTC
            self.months = np.datetime_as_string(start.astype("datetime64[M]"))

    def subset(self, keep: np.ndarray) -> _Context:
        """The same arrays for the rows `keep` only."""
        part = _Context(None, {f: v[keep] for f, v in self.values.items()},
                        {h: y[keep] for h, y in self.forward.items()}, self.codes[keep], self.bars[keep])
        part.months = self.months[keep]
        return part


def _ic_table(ctx: _Context, factors: list[str], horizons: list[int], min_rows: int,
              coverage: dict[str, float]) -> list[dict]:
    rows = []
    labels = {h: Sorted(ctx.forward[h], ctx.codes) for h in horizons}
    for factor in factors:
        x = ctx.values[factor]
        sorted_x = Sorted(x, ctx.codes)
        for h in horizons:
            stats: IcStats = ic_stats(x, ctx.forward[h], ctx.codes, ctx.bars, lags=h - 1, sorted_factor=sorted_x,
                                      sorted_label=labels[h])
            ranked = stats.rows >= min_rows and _finite(stats.t_nw)
            rows.append({"factor": factor, "horizon": h, "coverage": coverage[factor], **asdict(stats),
                         "nw_lags": h - 1, "ranked": ranked})
    # Best first: the surest (largest |t|), not the largest IC; then the few-rows ones, undefined t last.
    rows.sort(key=lambda r: (not r["ranked"], not _finite(r["t_nw"]), -abs(r["t_nw"]) if _finite(r["t_nw"]) else 0))
    return rows


def _ic_decay(ctx: _Context, factors: list[str], longest: int) -> dict[str, list[float]]:
    """Pooled rank IC at every horizon 1..longest: each column sorted once."""
    sorted_x = {f: Sorted(ctx.values[f]) for f in factors}
    decay: dict[str, list[float]] = {f: [] for f in factors}
    for h in range(1, longest + 1):
        sorted_y = Sorted(ctx.forward[h])
        for factor in factors:
            keep = np.isfinite(ctx.values[factor]) & np.isfinite(ctx.forward[h])
            if keep.sum() < 3:
                decay[factor].append(float("nan"))
                continue
            decay[factor].append(pearson(sorted_x[factor].ranks(keep).pooled, sorted_y.ranks(keep).pooled))
    return decay


def _quintiles(ctx: _Context, factor: str, horizons: list[int]) -> dict:
    x = ctx.values[factor]
    defined = np.isfinite(x)
    within = Sorted(x, ctx.codes).ranks(defined).within
    sizes = np.bincount(ctx.codes[defined], minlength=int(ctx.codes.max()) + 1)
    quintile = np.full(len(x), np.nan)
    quintile[defined] = np.clip(np.ceil(QUINTILES * within / sizes[ctx.codes[defined]]), 1, QUINTILES)
    out = {}
    for h in horizons:
        y = ctx.forward[h]
        keep = np.isfinite(quintile) & np.isfinite(y)
        index = quintile[keep].astype(np.int64) - 1
        count = np.bincount(index, minlength=QUINTILES)
        total = np.bincount(index, weights=y[keep], minlength=QUINTILES)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        out[str(h)] = {"mean": mean.tolist(), "count": count.tolist()}
    return out


def _ic_by_month(ctx: _Context, factor: str, h: int) -> dict:
    month = ctx.months
    x, y = ctx.values[factor], ctx.forward[h]
    keep = np.isfinite(x) & np.isfinite(y)
    months, ics, counts = [], [], []
    for name in sorted(set(month[keep])):
        rows = keep & (month == name)
        months.append(name)
        ics.append(rank_ic(x[rows], y[rows]))
        counts.append(int(rows.sum()))
    return {"horizon": h, "months": months, "rank_ic": ics, "rows": counts}


def _event_studies(ctx: _Context, rules: list[tuple[str, str, float]], longest: int) -> list[dict]:
    paths = np.column_stack([np.zeros(ctx.rows)] + [ctx.forward[h] for h in range(1, longest + 1)])
    whole = np.isfinite(paths).all(axis=1)
    unconditional = paths[whole].mean(axis=0) if whole.any() else np.full(longest + 1, np.nan)
    studies = []
    for column, rule, level in rules:
        x = ctx.values[column]
        if math.isnan(level):
            finite = x[np.isfinite(x)]
            if not len(finite):
                continue
            level = float(np.quantile(finite, EVENT_QUANTILE))
            label = f"{column} > p90 ({level:.4g})"
        else:
            label = f"{column} {rule} {level:g}"
        with np.errstate(invalid="ignore"):
            flagged = {"==": x == level, ">": x > level, ">=": x >= level}[rule]
        used = flagged & whole
        n = int(used.sum())
        mean = paths[used].mean(axis=0) if n else np.full(longest + 1, np.nan)
        spread = paths[used].std(axis=0, ddof=1) * BAND_Z / math.sqrt(n) if n > 1 else np.full(longest + 1, np.nan)
        studies.append({
            "event": label, "column": column, "rule": rule, "level": level, "flagged": int(flagged.sum()),
            "events": n, "path": mean.tolist(), "band_low": (mean - spread).tolist(),
            "band_high": (mean + spread).tolist(), "unconditional": unconditional.tolist(),
            "excess_at_end": float(mean[-1] - unconditional[-1]),
        })
    studies.sort(key=lambda s: -s["events"])
    return studies


def _finite(value: object) -> bool:
    return isinstance(value, float | int) and math.isfinite(value)


def _clean(value: object) -> object:
    """JSON-ready: NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
