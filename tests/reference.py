"""Independent reference implementation of FACTORS.md (sections 1-6 and 8).

This module recomputes every factor of ``/work/shared/FACTORS.md`` for one
frequency with plain pandas/numpy, following the readings of
``docs/spec-readings.md``. It is deliberately written without looking at (or
importing) the streaming engine in ``streamliq/``: tests compare the engine's
output against :func:`reference_factors`. Clarity beats speed here: the code
loops over symbols and bars and calls the pandas/numpy functions the contract
names (``Series.std/skew/kurt``, ``numpy.quantile``, ``rolling().rank``).

Readings taken where the contract leaves room:

* An event belongs to bar ``ts // F`` (epoch aligned); it is late iff
  ``arrival >= (bar + 1) * F + lateness_us``. Late events are dropped from
  everything and only add 1 to ``late_events`` of bar ``arrival // F`` of the
  same (exchange, symbol).
* Rows of a symbol run from its first bar (its on-time events' ts-bars and late
  events' arrival-bars, all channels) to the run's last bar (same quantity,
  maximum over all symbols and channels).
* Carried ticker fields: last non-NaN value ordered by (bar, arrival), i.e. the
  latest bar <= the current one that carries the field, last in arrival order.
* ``x_z{N}`` is computed on the explicit window of the N previous values
  (``numpy.mean`` and ``numpy.std(ddof=1)``), NaN when the window's values are
  all identical; this equals ``shift(1).rolling(N)`` up to rounding.
* Sums (qty, notional, volumes, time-concentration buckets) use ``math.fsum``
  (correctly rounded), so the reference carries no accumulation error.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["hours_label", "output_columns", "quantile_label", "reference_factors"]

SIDE_PREFIXES: tuple[tuple[str, str | None], ...] = (
    ("long", "sell"),
    ("short", "buy"),
    ("all", None),
)
SIDE_STATS: tuple[str, ...] = (
    "count",
    "qty",
    "notional",
    "max",
    "mean",
    "std",
    "skew",
    "kurt",
    "vwap",
)
TICKER_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "last_price",
    "index_price",
    "funding_rate",
    "open_interest",
    "basis",
    "ret",
    "oi_change",
    "liq_oi_ratio",
    "pain_long",
    "pain_short",
)
CARRIED_FIELDS: tuple[str, ...] = (
    "last_price",
    "index_price",
    "funding_rate",
    "open_interest",
)
TRADE_COLUMNS: tuple[str, ...] = (
    "volume_qty",
    "volume_notional",
    "taker_buy_qty",
    "taker_sell_qty",
    "blood_content",
)
ROLLING_SERIES: tuple[str, ...] = (
    "all_notional",
    "long_notional",
    "short_notional",
    "all_count",
    "all_max",
)
META_COLUMNS: tuple[str, ...] = (
    "exchange",
    "symbol",
    "freq",
    "bar_start",
    "bar_end",
    "n_events",
    "late_events",
    "gap",
)
EQUAL_VARIANCE_REL: float = 1e-14
HOUR_US: int = 3_600_000_000


# --------------------------------------------------------------------------- names


def _trim_number(x: float) -> str:
    """Print ``x`` as an int when whole, else without trailing zeros."""
    r = round(float(x), 9)
    if r == int(r):
        return str(int(r))
    return f"{r:.9f}".rstrip("0").rstrip(".")


def quantile_label(q: float) -> str:
    """``0.9 -> '90'``, ``0.995 -> '99.5'`` (percent, decimals only when needed)."""
    return _trim_number(q * 100.0)


def hours_label(h: float) -> str:
    """``24 -> '24'``; a fractional number of hours keeps its decimals (``1.5 -> '1.5'``)."""
    return _trim_number(h)


def output_columns(
    z_windows: Iterable[int] = (24, 168),
    pct_windows: Iterable[int] = (168,),
    bucket_quantiles: Iterable[float] = (0.9,),
    bucket_hours: Iterable[float] = (24,),
    mining_windows: Iterable[int] = (24,),
    mining_quantiles: Iterable[float] = (0.9,),
) -> list[str]:
    """Ordered output column names for the given parameters."""
    z_windows, pct_windows = tuple(z_windows), tuple(pct_windows)
    mining_windows, mining_quantiles = tuple(mining_windows), tuple(mining_quantiles)
    cols: list[str] = list(META_COLUMNS)
    for prefix, _ in SIDE_PREFIXES:
        cols += [f"{prefix}_{stat}" for stat in SIDE_STATS]
    cols += ["imbalance", "whale_index", "time_concentration"]
    cols += list(TICKER_COLUMNS)
    cols += list(TRADE_COLUMNS)
    for q, h in itertools.product(tuple(bucket_quantiles), tuple(bucket_hours)):
        base = f"big_q{quantile_label(q)}_h{hours_label(h)}"
        cols += [
            f"{base}_threshold",
            f"{base}_count",
            f"{base}_notional",
            f"{base}_share",
        ]
    for x in ROLLING_SERIES:
        cols += [f"{x}_z{n}" for n in z_windows]
        cols += [f"{x}_pct{n}" for n in pct_windows]
        cols += [
            f"{x}_exq{quantile_label(q)}w{w}" for w, q in itertools.product(mining_windows, mining_quantiles)
        ]
    return cols


def _column_dtype(col: str) -> str:
    if col in ("exchange", "symbol", "freq"):
        return "str"
    if col in ("bar_start", "bar_end"):
        return "datetime64[us, UTC]"
    if col in ("n_events", "late_events") or col in {f"{p}_count" for p, _ in SIDE_PREFIXES}:
        return "int64"
    if col == "gap":
        return "bool"
    return "float64"


# --------------------------------------------------------------------------- inputs


def _split_on_time(df: pd.DataFrame | None, f_us: int, lateness_us: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (on-time events with column ``bar``, late events with ``arr_bar``).

    Both keep the replay order (stable sort by ``arrival``, ties in file order).
    """
    if df is None:
        empty = pd.DataFrame(
            {
                "exchange": pd.Series([], dtype="str"),
                "symbol": pd.Series([], dtype="str"),
                "ts": pd.Series([], dtype="int64"),
                "arrival": pd.Series([], dtype="int64"),
            }
        )
        on = empty.assign(bar=pd.Series([], dtype="int64"))
        late = empty.assign(arr_bar=pd.Series([], dtype="int64"))
        return on, late
    d = df.reset_index(drop=True).copy()
    d["ts"] = d["ts"].astype("int64")
    d["arrival"] = d["arrival"].astype("int64")
    d = d.sort_values("arrival", kind="stable").reset_index(drop=True)
    ts = d["ts"].to_numpy(dtype=np.int64)
    arrival = d["arrival"].to_numpy(dtype=np.int64)
    bar = ts // f_us  # floor division: epoch-aligned bar index
    is_late = arrival >= (bar + 1) * f_us + lateness_us
    on = d.loc[~is_late].copy()
    on["bar"] = bar[~is_late]
    late = d.loc[is_late].copy()
    late["arr_bar"] = arrival[is_late] // f_us
    return on.reset_index(drop=True), late.reset_index(drop=True)


def _by_key(df: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    if len(df) == 0:
        return {}
    return {(str(k[0]), str(k[1])): g for k, g in df.groupby(["exchange", "symbol"], sort=True)}


# --------------------------------------------------------------------------- per bar


def _side_stats(v: np.ndarray, amount: np.ndarray) -> dict[str, float | int]:
    """Section 3 statistics for one side's notionals ``v`` in one bar."""
    n = len(v)
    if n == 0:
        return {
            "count": 0,
            "qty": 0.0,
            "notional": 0.0,
            "max": 0.0,
            "mean": math.nan,
            "std": math.nan,
            "skew": math.nan,
            "kurt": math.nan,
            "vwap": math.nan,
        }
    notional = math.fsum(v)
    qty = math.fsum(amount)
    mean = notional / n
    std = var = skew = kurt = math.nan
    if n >= 2:
        s = pd.Series(v, dtype="float64")
        std = float(s.std())
        var = float(s.var())
        all_equal = var <= EQUAL_VARIANCE_REL * mean * mean
        if n >= 3 and not all_equal:
            skew = float(s.skew())
        if n >= 4 and not all_equal:
            kurt = float(s.kurt())
    return {
        "count": n,
        "qty": qty,
        "notional": notional,
        "max": float(np.max(v)),
        "mean": mean,
        "std": std,
        "skew": skew,
        "kurt": kurt,
        "vwap": notional / qty if qty != 0 else math.nan,
    }


def _time_concentration(ts: np.ndarray, v: np.ndarray, bar_start_us: int, f_us: int) -> float:
    """``sum_k (notional_k / all_notional)^2`` over 60 equal sub-intervals."""
    total = math.fsum(v)
    if len(v) == 0 or total == 0:
        return math.nan
    k = ((ts - bar_start_us) * 60) // f_us
    per_k: dict[int, list[float]] = {}
    for kk, vv in zip(k.tolist(), v.tolist(), strict=True):
        per_k.setdefault(kk, []).append(vv)
    return math.fsum((math.fsum(part) / total) ** 2 for part in per_k.values())


def _bar_index(
    frame: pd.DataFrame | None, columns: tuple[str, ...]
) -> tuple[dict[int, slice], dict[str, np.ndarray]]:
    """Group a channel's on-time events by bar.

    Returns ``{bar: slice}`` into arrays of ``columns`` sorted stably by bar, so
    that events keep their arrival (replay) order inside a bar.
    """
    if frame is None or len(frame) == 0:
        return {}, {}
    bar = frame["bar"].to_numpy(dtype=np.int64)
    order = np.argsort(bar, kind="stable")
    arrays = {c: frame[c].to_numpy()[order] for c in columns}
    bar = bar[order]
    uniq, starts = np.unique(bar, return_index=True)
    ends = np.append(starts[1:], len(bar))
    index = {int(b): slice(int(s), int(e)) for b, s, e in zip(uniq, starts, ends, strict=True)}
    return index, arrays


# --------------------------------------------------------------------------- rolling


def _zscore(x: np.ndarray, n: int) -> np.ndarray:
    """(x_t - mean(prev n)) / std(prev n, ddof=1); NaN if < n previous or all equal."""
    out = np.full(len(x), np.nan)
    if len(x) <= n:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(x, n)[:-1]  # x[t-n:t], t >= n
    mean = windows.mean(axis=1)
    std = windows.std(axis=1, ddof=1)
    equal = (windows == windows[:, :1]).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x[n:] - mean) / std
    z[equal] = np.nan
    out[n:] = z
    return out


def _exceed_quantile(x: np.ndarray, w: int, q: float) -> np.ndarray:
    """1.0 if x_t > numpy.quantile(x[t-w:t], q) else 0.0; NaN with < w previous."""
    out = np.full(len(x), np.nan)
    if len(x) <= w:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(x, w)[:-1]
    theta = np.quantile(windows, q, axis=1)
    out[w:] = np.where(x[w:] > theta, 1.0, 0.0)
    return out


# --------------------------------------------------------------------------- symbol


def _symbol_frame(
    key: tuple[str, str],
    first_bar: int,
    last_bar: int,
    liq: pd.DataFrame | None,
    liq_late: pd.DataFrame | None,
    tick: pd.DataFrame | None,
    tick_late: pd.DataFrame | None,
    trd: pd.DataFrame | None,
    trd_late: pd.DataFrame | None,
    *,
    has_ticker: bool,
    has_trades: bool,
    f_us: int,
    freq_name: str,
    z_windows: tuple[int, ...],
    pct_windows: tuple[int, ...],
    bucket_quantiles: tuple[float, ...],
    bucket_hours: tuple[float, ...],
    mining_windows: tuple[int, ...],
    mining_quantiles: tuple[float, ...],
) -> pd.DataFrame:
    bars = np.arange(first_bar, last_bar + 1, dtype=np.int64)
    nb = len(bars)
    cols: dict[str, np.ndarray] = {}

    # ---- metadata
    n_events = np.zeros(nb, dtype=np.int64)
    late_events = np.zeros(nb, dtype=np.int64)
    for on in (liq, tick, trd):
        if on is not None:
            for b in on["bar"].to_numpy():
                n_events[b - first_bar] += 1
    for late in (liq_late, tick_late, trd_late):
        if late is not None:
            for b in late["arr_bar"].to_numpy():
                late_events[b - first_bar] += 1

    # ---- section 3: liquidation statistics
    liq_idx, la = _bar_index(liq, ("ts", "side", "price", "amount"))
    if la:
        la["v"] = la["price"].astype(np.float64) * la["amount"].astype(np.float64)
    side_cols: dict[str, np.ndarray] = {}
    for prefix, _ in SIDE_PREFIXES:
        for stat in SIDE_STATS:
            dtype = np.int64 if stat == "count" else np.float64
            side_cols[f"{prefix}_{stat}"] = np.zeros(nb, dtype=dtype)
    imbalance = np.full(nb, np.nan)
    whale = np.full(nb, np.nan)
    tconc = np.full(nb, np.nan)
    empty = np.array([], dtype=np.float64)
    for i, b in enumerate(bars):
        sl = liq_idx.get(int(b))
        for prefix, side in SIDE_PREFIXES:
            if sl is None:
                sub_v, sub_a = empty, empty
            else:
                mask = np.ones(sl.stop - sl.start, dtype=bool)
                if side is not None:
                    mask = la["side"][sl] == side
                sub_v = la["v"][sl][mask]
                sub_a = la["amount"][sl][mask].astype(np.float64)
            for stat, val in _side_stats(sub_v, sub_a).items():
                side_cols[f"{prefix}_{stat}"][i] = val
        all_n = side_cols["all_notional"][i]
        if all_n != 0 and sl is not None:
            ln, sn = side_cols["long_notional"][i], side_cols["short_notional"][i]
            imbalance[i] = (ln - sn) / (ln + sn)
            whale[i] = side_cols["all_max"][i] / all_n
            tconc[i] = _time_concentration(la["ts"][sl].astype(np.int64), la["v"][sl], int(b) * f_us, f_us)
    cols.update(side_cols)
    cols["imbalance"] = imbalance
    cols["whale_index"] = whale
    cols["time_concentration"] = tconc

    # ---- section 4: ticker
    t_open = np.full(nb, np.nan)
    t_high = np.full(nb, np.nan)
    t_low = np.full(nb, np.nan)
    t_close = np.full(nb, np.nan)
    carried = {f: np.full(nb, np.nan) for f in CARRIED_FIELDS}
    if has_ticker:
        tick_idx, ta = _bar_index(tick, ("mark_price", *CARRIED_FIELDS))
        ta = {c: a.astype(np.float64) for c, a in ta.items()}
        prev_close = math.nan
        last_known = {f: math.nan for f in CARRIED_FIELDS}
        for i, b in enumerate(bars):
            sl = tick_idx.get(int(b))
            marks = empty
            if sl is not None:
                marks = ta["mark_price"][sl]
                marks = marks[~np.isnan(marks)]  # arrival order kept
            if len(marks):
                t_open[i], t_close[i] = marks[0], marks[-1]
                t_high[i], t_low[i] = marks.max(), marks.min()
            else:
                t_open[i] = t_high[i] = t_low[i] = t_close[i] = prev_close
            prev_close = t_close[i]
            if sl is not None:
                for f in CARRIED_FIELDS:
                    vals = ta[f][sl]
                    vals = vals[~np.isnan(vals)]
                    if len(vals):
                        last_known[f] = float(vals[-1])
            for f in CARRIED_FIELDS:
                carried[f][i] = last_known[f]
    prev_close_arr = np.concatenate([[np.nan], t_close[:-1]])
    prev_oi = np.concatenate([[np.nan], carried["open_interest"][:-1]])
    index_price = np.where(carried["index_price"] == 0, np.nan, carried["index_price"])
    prev_oi = np.where(prev_oi == 0, np.nan, prev_oi)  # section 4: NaN when 0 or NaN, not inf
    with np.errstate(divide="ignore", invalid="ignore"):
        basis = (t_close - index_price) / index_price
        ret = np.log(t_close / prev_close_arr)
        oi_change = carried["open_interest"] / prev_oi - 1.0
        liq_oi_ratio = side_cols["all_qty"] / prev_oi
        pain_long = t_close / side_cols["long_vwap"] - 1.0
        pain_short = t_close / side_cols["short_vwap"] - 1.0
    cols.update(
        {
            "open": t_open,
            "high": t_high,
            "low": t_low,
            "close": t_close,
            **carried,
            "basis": basis,
            "ret": ret,
            "oi_change": oi_change,
            "liq_oi_ratio": liq_oi_ratio,
            "pain_long": pain_long,
            "pain_short": pain_short,
        }
    )

    # ---- section 4: trades
    vol_q = np.full(nb, np.nan)
    vol_n = np.full(nb, np.nan)
    buy_q = np.full(nb, np.nan)
    sell_q = np.full(nb, np.nan)
    trade_idx, tra = _bar_index(trd, ("side", "price", "amount"))
    if has_trades and trade_idx:
        amount = tra["amount"].astype(np.float64)
        tv = tra["price"].astype(np.float64) * amount
        first_trade_bar = min(trade_idx)
        for i, b in enumerate(bars):
            if b < first_trade_bar:
                continue
            sl = trade_idx.get(int(b))
            if sl is None:
                vol_q[i] = vol_n[i] = buy_q[i] = sell_q[i] = 0.0
                continue
            a, sides = amount[sl], tra["side"][sl]
            vol_q[i] = math.fsum(a)
            vol_n[i] = math.fsum(tv[sl])
            buy_q[i] = math.fsum(a[sides == "buy"])
            sell_q[i] = math.fsum(a[sides == "sell"])
    blood = np.full(nb, np.nan)
    ok = ~np.isnan(vol_q) & (vol_q != 0)
    blood[ok] = side_cols["all_qty"][ok] / vol_q[ok]
    cols.update(
        {
            "volume_qty": vol_q,
            "volume_notional": vol_n,
            "taker_buy_qty": buy_q,
            "taker_sell_qty": sell_q,
            "blood_content": blood,
        }
    )

    # ---- section 5: dynamic size buckets (on-time liquidations, both sides)
    if la:
        order = np.argsort(la["ts"].astype(np.int64), kind="stable")
        ts_sorted = la["ts"].astype(np.int64)[order]
        v_sorted = la["v"][order]
    else:
        ts_sorted = np.array([], dtype=np.int64)
        v_sorted = empty
    for q, h in itertools.product(bucket_quantiles, bucket_hours):
        base = f"big_q{quantile_label(q)}_h{hours_label(h)}"
        h_us = round(h * HOUR_US)
        thr = np.full(nb, np.nan)
        cnt = np.full(nb, np.nan)
        big = np.full(nb, np.nan)
        share = np.full(nb, np.nan)
        for i, b in enumerate(bars):
            s = int(b) * f_us
            lo = np.searchsorted(ts_sorted, s - h_us, side="left")
            hi = np.searchsorted(ts_sorted, s, side="left")
            window = v_sorted[lo:hi]
            if len(window) == 0:
                continue
            theta = float(np.quantile(window, q))
            thr[i] = theta
            sl = liq_idx.get(int(b))
            bar_v = la["v"][sl] if sl is not None else empty
            sel = bar_v[bar_v > theta]
            cnt[i] = float(len(sel))
            big[i] = math.fsum(sel)
            all_n = side_cols["all_notional"][i]
            if all_n != 0:
                share[i] = big[i] / all_n
        cols[f"{base}_threshold"] = thr
        cols[f"{base}_count"] = cnt
        cols[f"{base}_notional"] = big
        cols[f"{base}_share"] = share

    # ---- section 6: rolling features
    for x in ROLLING_SERIES:
        series = side_cols[x].astype(np.float64)
        for n in z_windows:
            cols[f"{x}_z{n}"] = _zscore(series, n)
        for n in pct_windows:
            cols[f"{x}_pct{n}"] = pd.Series(series).rolling(n).rank(pct=True).to_numpy(dtype=np.float64)
        for w, q in itertools.product(mining_windows, mining_quantiles):
            cols[f"{x}_exq{quantile_label(q)}w{w}"] = _exceed_quantile(series, w, q)

    starts = bars * f_us
    meta = {
        "exchange": np.array([key[0]] * nb, dtype=object),
        "symbol": np.array([key[1]] * nb, dtype=object),
        "freq": np.array([freq_name] * nb, dtype=object),
        "bar_start": pd.Series(starts.astype("datetime64[us]")).dt.tz_localize("UTC"),
        "bar_end": pd.Series((starts + f_us).astype("datetime64[us]")).dt.tz_localize("UTC"),
        "n_events": n_events,
        "late_events": late_events,
        "gap": np.zeros(nb, dtype=bool),
    }
    frame = pd.DataFrame({**meta, **cols})
    return frame


# --------------------------------------------------------------------------- public


def reference_factors(
    liquidations: pd.DataFrame,
    ticker: pd.DataFrame | None = None,
    trades: pd.DataFrame | None = None,
    *,
    freq_seconds: int,
    freq_name: str,
    lateness_us: int = 5_000_000,
    z_windows: tuple[int, ...] = (24, 168),
    pct_windows: tuple[int, ...] = (168,),
    bucket_quantiles: tuple[float, ...] = (0.9,),
    bucket_hours: tuple[float, ...] = (24,),
    mining_windows: tuple[int, ...] = (24,),
    mining_quantiles: tuple[float, ...] = (0.9,),
) -> pd.DataFrame:
    """Compute the FACTORS.md rows of one frequency for a finite replay.

    Returns one row per (exchange, symbol, bar_start), sorted by exchange,
    symbol, bar_start, with a RangeIndex and the contract's columns.
    """
    f_us = int(freq_seconds) * 1_000_000
    columns = output_columns(
        z_windows,
        pct_windows,
        bucket_quantiles,
        bucket_hours,
        mining_windows,
        mining_quantiles,
    )
    liq_on, liq_late = _split_on_time(liquidations, f_us, lateness_us)
    tick_on, tick_late = _split_on_time(ticker, f_us, lateness_us)
    trd_on, trd_late = _split_on_time(trades, f_us, lateness_us)

    first: dict[tuple[str, str], int] = {}
    last_bar: int | None = None
    for frame, bar_col in (
        (liq_on, "bar"),
        (tick_on, "bar"),
        (trd_on, "bar"),
        (liq_late, "arr_bar"),
        (tick_late, "arr_bar"),
        (trd_late, "arr_bar"),
    ):
        for key, g in _by_key(frame).items():
            b_min = int(g[bar_col].min())
            first[key] = min(first.get(key, b_min), b_min)
        if len(frame):
            b_max = int(frame[bar_col].max())
            last_bar = b_max if last_bar is None else max(last_bar, b_max)

    if not first or last_bar is None:
        return pd.DataFrame({c: pd.Series([], dtype=_column_dtype(c)) for c in columns})

    groups = {
        name: _by_key(frame)
        for name, frame in (
            ("liq", liq_on),
            ("liq_late", liq_late),
            ("tick", tick_on),
            ("tick_late", tick_late),
            ("trd", trd_on),
            ("trd_late", trd_late),
        )
    }
    frames = []
    for key in sorted(first):
        frames.append(
            _symbol_frame(
                key,
                first[key],
                last_bar,
                groups["liq"].get(key),
                groups["liq_late"].get(key),
                groups["tick"].get(key),
                groups["tick_late"].get(key),
                groups["trd"].get(key),
                groups["trd_late"].get(key),
                has_ticker=ticker is not None,
                has_trades=trades is not None,
                f_us=f_us,
                freq_name=freq_name,
                z_windows=tuple(z_windows),
                pct_windows=tuple(pct_windows),
                bucket_quantiles=tuple(bucket_quantiles),
                bucket_hours=tuple(bucket_hours),
                mining_windows=tuple(mining_windows),
                mining_quantiles=tuple(mining_quantiles),
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["exchange", "symbol", "bar_start"], kind="stable")
    out = out.reset_index(drop=True)[columns]
    return out.astype({c: _column_dtype(c) for c in columns})
