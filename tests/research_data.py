"""Research test helpers: factor rows with holes, and label references written the plain pandas way."""

from __future__ import annotations

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2025-10-01", tz="UTC")


def factor_rows(seed: int = 3, symbols: int = 5, bars: int = 500) -> pd.DataFrame:
    """1h factor rows of several series with every kind of hole, in shuffled order.

    Closes follow a random walk that a planted factor (`signal_z24`) partly foresees at 4 bars;
    the series have NaN closes (before the first ticker and scattered), a zero and a negative
    close, `gap = true` bars, bars removed from the file, and a second exchange. Event columns
    follow the FACTORS.md names (`*_exq90w24`, `big_q90_h24_count`, `*_pct168`, `whale_index`,
    `blood_content`) so the report finds them.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(symbols):
        steps = rng.normal(0, 0.01, bars + 8)
        signal = pd.Series(steps).rolling(4).sum().shift(-4).to_numpy()[:bars] + rng.normal(0, 0.02, bars)
        close = 100 * (s + 1) * np.exp(np.cumsum(steps))[:bars]
        notional = rng.lognormal(8, 2, bars) * (rng.random(bars) < 0.6)
        frame = pd.DataFrame({
            "exchange": "bybit" if s == symbols - 1 else "binance-futures",
            "symbol": f"S{s}USDT", "freq": "1h",
            "bar_start": T0 + HOUR * np.arange(bars), "n_events": rng.poisson(5, bars),
            "late_events": 0, "gap": rng.random(bars) < 0.01,
            "all_notional": notional, "all_count": (notional > 0) * rng.poisson(3, bars).astype(float),
            "whale_index": np.where(notional > 0, rng.beta(2, 2, bars), np.nan),
            "blood_content": rng.gamma(1, 0.05, bars),
            "close": close, "signal_z24": signal, "noise": rng.normal(size=bars),
            "constant": 1.0,
        })
        frame["bar_end"] = frame["bar_start"] + HOUR
        frame["all_notional_pct168"] = frame["all_notional"].rolling(168).rank(pct=True)
        q90 = frame["all_notional"].shift(1).rolling(24).quantile(0.9)
        frame["all_notional_exq90w24"] = np.where(q90.notna(), (frame["all_notional"] > q90).astype(float), np.nan)
        frame["big_q90_h24_count"] = np.where(np.arange(bars) < 24, np.nan, rng.poisson(0.3, bars))
        frame.loc[: 5 + 3 * s, "close"] = np.nan  # no ticker yet
        frame.loc[rng.choice(bars, 6, replace=False), "close"] = np.nan
        frame.loc[rng.choice(bars, 4, replace=False), "signal_z24"] = np.nan
        frame.loc[int(rng.integers(50, bars)), "close"] = 0.0
        frame.loc[int(rng.integers(50, bars)), "close"] = -1.0
        frames.append(frame.drop(index=rng.choice(bars, 8, replace=False)))  # bars missing from the file
    rows = pd.concat(frames, ignore_index=True)
    return rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def reference_labels(rows: pd.DataFrame, h: int, delay: int = 0) -> pd.DataFrame:
    """fwd_ret/absret/maxdd/maxup at horizon `h`, per series with `shift(-k)` on the full hourly grid.

    Missing bars are put back as NaN rows first (so a shift counts bars, not rows), and a window
    with a missing or gap bar is NaN.
    """
    out = []
    for _, series in rows.groupby(["exchange", "symbol", "freq"]):
        series = series.set_index("bar_start").sort_index()
        grid = pd.date_range(series.index.min(), series.index.max(), freq="1h")
        full = series.reindex(grid)
        bad = full["gap"].isna() | full["gap"].fillna(False).astype(bool)  # a missing row is a bad bar
        log_close = np.log(full["close"].where(full["close"] > 0))
        entry = log_close.shift(-delay)
        moves = pd.concat([log_close.shift(-(delay + k)) - entry for k in range(1, h + 1)], axis=1)
        clean = ~pd.concat([bad.shift(-(delay + k), fill_value=True) for k in range(1, h + 1)], axis=1).any(axis=1)
        ret = (log_close.shift(-(delay + h)) - entry).where(clean)
        labelled = pd.DataFrame({
            f"fwd_ret_{h}": ret, f"fwd_absret_{h}": ret.abs(),
            f"fwd_maxdd_{h}": moves.min(axis=1, skipna=False).where(ret.notna()),
            f"fwd_maxup_{h}": moves.max(axis=1, skipna=False).where(ret.notna()),
        }, index=grid)
        out.append(labelled.loc[series.index].assign(
            exchange=series["exchange"].iloc[0], symbol=series["symbol"].iloc[0], bar_start=series.index))
    return pd.concat(out, ignore_index=True)
