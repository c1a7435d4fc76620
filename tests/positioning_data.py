"""Positioning test data: REST-dump folders and data.binance.vision metrics files, with the
faults real dumps have (rows repeated three to five times, months that overlap, both time
formats, empty cells, holes)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

FIVE_MIN = pd.Timedelta(minutes=5)
RATIOS = ("topLongShortPositionRatio", "topLongShortAccountRatio", "globalLongShortAccountRatio")
COLUMNS = {
    **{name: ["open_time", "symbol", "longAccount", "longShortRatio", "shortAccount"] for name in RATIOS},
    "takerlongshortRatio": ["open_time", "buySellRatio", "sellVol", "buyVol"],
    "openInterest": ["open_time", "symbol", "openInterest"],
}
VISION_HEADER = ("create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
                 "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio")


def endpoint_rows(name: str, symbol: str, times: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    """Plausible rows of one endpoint; every value is distinct, so a wrong row is noticed."""
    n = len(times)
    frame = pd.DataFrame({"open_time": times, "symbol": symbol})
    if name in RATIOS:
        long = np.round(rng.uniform(0.3, 0.7, n), 4) + np.arange(n) * 1e-8
        frame["longAccount"] = long
        frame["shortAccount"] = 1 - long
        frame["longShortRatio"] = long / (1 - long)
        frame.loc[rng.random(n) < 0.03, "longShortRatio"] = np.nan  # an empty cell: nothing new
    elif name == "takerlongshortRatio":
        frame["buyVol"] = np.round(rng.lognormal(5, 1, n), 3)
        frame["sellVol"] = np.round(rng.lognormal(5, 1, n), 3)
        frame["buySellRatio"] = frame["buyVol"] / frame["sellVol"]
    else:
        frame["openInterest"] = np.round(50_000 + np.cumsum(rng.normal(0, 30, n)), 3)
    return frame


def with_duplicates(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Most rows once, a third of them three to five times in a row, a few again further down."""
    repeats = np.where(rng.random(len(frame)) < 0.33, rng.integers(3, 6, len(frame)), 1)
    out = frame.loc[frame.index.repeat(repeats)]
    again = frame.sample(frac=0.05, random_state=int(rng.integers(1 << 30)))
    return pd.concat([out, again]).sort_values("open_time", kind="stable")


def time_text(times: pd.Series, fmt: str) -> pd.Series:
    """`ns`: integer nanoseconds since the epoch; `str`: `YYYY-MM-DD HH:MM:SS`."""
    if fmt == "ns":
        return times.astype("datetime64[ns]").astype("int64").astype(str)
    return times.dt.strftime("%Y-%m-%d %H:%M:%S")


def write_dumps(folder: Path, symbol: str, start: str, end: str, seed: int = 1,
                hole: tuple[str, str] | None = None, names=tuple(COLUMNS), overlap: int = 3) -> None:
    """`{folder}/{name}/{name}_{YYYY-MM}.csv` for each endpoint: 5-minute rows in [start, end).

    Odd months write nanosecond times, even months strings; each month's file repeats the last
    `overlap` rows of the month before (as a dumper re-fetching a window does).
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, end, freq="5min", inclusive="left")
    if hole:
        times = times[(times < hole[0]) | (times >= hole[1])]
    for name in names:
        frame = with_duplicates(endpoint_rows(name, symbol, times, rng), rng)
        month = frame["open_time"].dt.strftime("%Y-%m")
        previous = None
        for key, part in frame.groupby(month, sort=True):
            if previous is not None and overlap:
                part = pd.concat([previous.tail(overlap), part])
            previous = frame[month == key]
            out = part[COLUMNS[name]].copy()
            out["open_time"] = time_text(out["open_time"], "ns" if int(key[-2:]) % 2 else "str")
            path = folder / name / f"{name}_{key}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            out.to_csv(path, index=False, lineterminator="\n")


def write_vision_day(folder: Path, symbol: str, day: str, seed: int = 2, zipped: bool = False,
                     header: bool = True) -> Path:
    """`{folder}/{SYMBOL}-metrics-{day}.csv` (or `.zip`): 288 five-minute rows, some ratio cells empty."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(day, periods=288, freq="5min")
    n = len(times)
    frame = pd.DataFrame({
        "create_time": times.strftime("%Y-%m-%d %H:%M:%S"), "symbol": symbol,
        "sum_open_interest": np.round(100_000 + np.cumsum(rng.normal(0, 50, n)), 3),
        "sum_open_interest_value": np.round(rng.uniform(6e9, 7e9, n), 4),
        "count_toptrader_long_short_ratio": np.round(rng.uniform(0.8, 2, n), 8),
        "sum_toptrader_long_short_ratio": np.round(rng.uniform(0.8, 2, n), 8),
        "count_long_short_ratio": np.round(rng.uniform(0.8, 2, n), 8),
        "sum_taker_long_short_vol_ratio": np.round(rng.uniform(0.5, 1.5, n), 6),
    })
    frame.loc[rng.random(n) < 0.05, "sum_toptrader_long_short_ratio"] = np.nan
    name = f"{symbol}-metrics-{day}"
    text = frame.to_csv(index=False, header=header, lineterminator="\n")
    folder.mkdir(parents=True, exist_ok=True)
    if zipped:
        path = folder / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.csv", text)
        return path
    path = folder / f"{name}.csv"
    path.write_text(text)
    return path
