"""An independent as-of computation of FACTORS.md section 7 from the raw files, in plain pandas.

It does not import streamliq. Publication time = the row's time + 5 minutes (the test files are
5-minute statistics); each bar takes, per field, the last non-empty value published strictly
before `bar_end` (`merge_asof(allow_exact_matches=False)`); taker volumes are summed over the
rows published inside the bar, NaN before the symbol's first such bar and 0 after it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PERIOD = pd.Timedelta(minutes=5)
RATIO_FIELDS = {"topLongShortPositionRatio": "top_pos_ls_ratio", "topLongShortAccountRatio": "top_acct_ls_ratio",
                "globalLongShortAccountRatio": "global_acct_ls_ratio"}
SECTION7 = ["top_pos_ls_ratio", "top_acct_ls_ratio", "global_acct_ls_ratio", "taker_buy_sell_ratio",
            "metric_open_interest", "taker_buy_vol", "taker_sell_vol"]


def parse_time(cells: pd.Series) -> pd.Series:
    """Integer nanoseconds or a datetime string, to UTC timestamps."""
    text = cells.astype(str)
    numeric = text.str.isdigit()
    out = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns, UTC]")
    out[numeric] = pd.to_datetime(text[numeric].astype("int64"), unit="ns", utc=True)
    out[~numeric] = pd.to_datetime(text[~numeric], utc=True)
    return out


def dump_rows(folder: Path, symbol_of_taker: str) -> pd.DataFrame:
    """Every distinct row of a REST-dump folder as (published, symbol, field values)."""
    parts = []
    for path in sorted(folder.glob("*/*_*.csv")):
        name = path.parent.name
        raw = pd.read_csv(path, dtype={"open_time": str})
        raw["open_time"] = parse_time(raw["open_time"])
        raw = raw.drop_duplicates()
        if "symbol" not in raw:
            raw["symbol"] = symbol_of_taker
        out = pd.DataFrame({"published": raw["open_time"] + PERIOD, "symbol": raw["symbol"]})
        if name in RATIO_FIELDS:
            out[RATIO_FIELDS[name]] = raw["longShortRatio"]
        elif name == "takerlongshortRatio":
            out["taker_buy_sell_ratio"] = raw["buySellRatio"]
            out["taker_buy_vol"] = raw["buyVol"]
            out["taker_sell_vol"] = raw["sellVol"]
        else:
            out["metric_open_interest"] = raw["openInterest"]
        parts.append(out)
    rows = pd.concat(parts, ignore_index=True).drop_duplicates()
    return rows.sort_values("published", kind="stable").reset_index(drop=True)


def asof_columns(bars: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Section 7 columns for `bars` (symbol, freq, bar_start, bar_end) from published `rows`."""
    out = bars[["symbol", "freq", "bar_start", "bar_end"]].copy()
    out["bar_end"] = pd.to_datetime(out["bar_end"], utc=True).astype("datetime64[ns, UTC]")
    out = out.sort_values("bar_end", kind="stable").reset_index(drop=True)
    for field in SECTION7[:5]:
        values = rows[["published", "symbol", field]].dropna() if field in rows else None
        if values is None or values.empty:
            out[field] = np.nan
            continue
        joined = pd.merge_asof(out[["bar_end", "symbol"]], values.rename(columns={field: "value"}),
                               left_on="bar_end", right_on="published", by="symbol",
                               allow_exact_matches=False, direction="backward")
        out[field] = joined["value"].to_numpy()
    for field in SECTION7[5:]:
        out[field] = np.nan
        if field not in rows:
            continue
        for (symbol, _freq), index in out.groupby(["symbol", "freq"]).groups.items():
            bars_of = out.loc[index]
            width = (bars_of["bar_end"] - pd.to_datetime(bars_of["bar_start"], utc=True)).iloc[0]
            taker = rows[(rows["symbol"] == symbol) & rows[field].notna()]
            start = taker["published"].dt.floor(width)
            sums = taker.groupby(start)[field].sum()
            bar_start = pd.to_datetime(bars_of["bar_start"], utc=True).astype("datetime64[ns, UTC]")
            summed = bar_start.map(sums).fillna(0.0)
            seen = bar_start >= sums.index.min() if len(sums) else bar_start != bar_start
            out.loc[index, field] = np.where(seen, summed, np.nan)
    return out
