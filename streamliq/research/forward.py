"""Forward-return labels, exact and without look-ahead across holes.

For a row at bar `t` of an (exchange, symbol, freq) series, with entry delay `d` bars and
horizon `h` bars, the entry is the close of bar `t+d` and the exit the close of bar `t+d+h`:

- `fwd_ret_h`    = ln(close[t+d+h] / close[t+d])
- `fwd_absret_h` = |fwd_ret_h|
- `fwd_maxdd_h`  = min over j in t+d+1 .. t+d+h of ln(close[j] / close[t+d])
- `fwd_maxup_h`  = max over the same bars

NaN when either end's close is missing or not positive, when any bar `t+d+1 .. t+d+h` is
absent from the frame or has `gap = true`, or past the end of the data; `fwd_maxdd_h` and
`fwd_maxup_h` are also NaN when a close inside the window is missing.

"Absent" is judged on the time grid, not on row order: each series is laid on its own grid of
bars `bar_start // freq` with padding after its last bar, so a filtered file (rows removed)
cannot make bar `t+5` look like `t+4`, and no window can reach into the next series.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.freq import parse_freq
from ..errors import InputError

SERIES_KEY = ["exchange", "symbol", "freq"]
KINDS = ("ret", "absret", "maxdd", "maxup")
_EPOCH = pd.Timestamp(0, tz="UTC")


def label_name(kind: str, horizon: int) -> str:
    """`fwd_ret_4`, `fwd_maxdd_24`, ..."""
    return f"fwd_{kind}_{horizon}"


def labels(frame: pd.DataFrame, horizons: Iterable[int] = (1, 4, 24), entry_delay: int = 0,
           kinds: Iterable[str] = KINDS) -> pd.DataFrame:
    """A copy of `frame` (factor rows) with the forward label columns added, for every horizon.

    Columns come grouped by kind: every `fwd_ret_h`, then every `fwd_absret_h`, `fwd_maxdd_h`,
    `fwd_maxup_h`. The rows and their order are those of `frame`.
    """
    horizons = _check_horizons(horizons)
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise InputError(f"unknown label kind {', '.join(unknown)}; use {', '.join(KINDS)}")
    window = ForwardWindow(frame, max(horizons), entry_delay)
    columns: dict[str, np.ndarray] = {}
    for h in horizons:
        ret = window.ret(h)
        low, high = window.extremes(h) if {"maxdd", "maxup"} & set(kinds) else (ret, ret)
        values = {"ret": ret, "absret": np.abs(ret), "maxdd": low, "maxup": high}
        columns.update({label_name(kind, h): values[kind] for kind in kinds})
    ordered = {label_name(kind, h): columns[label_name(kind, h)] for kind in kinds for h in horizons}
    kept = frame.drop(columns=[c for c in ordered if c in frame.columns])  # labels made again replace old ones
    return pd.concat([kept, pd.DataFrame(ordered, index=frame.index)], axis=1)


def _check_horizons(horizons: Iterable[int]) -> list[int]:
    values = sorted({int(h) for h in horizons})
    if not values or values[0] < 1:
        raise InputError(f"horizons must be whole numbers of bars >= 1 (got {list(horizons)})")
    return values


@dataclass
class _Grid:
    entry: np.ndarray  # grid index of each row's entry bar t+d
    log_close: np.ndarray  # ln(close) on the grid; NaN where the bar is absent or its close is not positive
    bad_before: np.ndarray  # bad_before[j] = number of absent or gap bars among grid[0:j]


class ForwardWindow:
    """The frame's series laid on a bar grid once; labels of any horizon up to `max_horizon`."""

    def __init__(self, frame: pd.DataFrame, max_horizon: int, entry_delay: int = 0) -> None:
        if "close" not in frame.columns:
            raise InputError("the factor rows have no 'close' column: labels need the close price")
        missing = [c for c in (*SERIES_KEY, "bar_start") if c not in frame.columns]
        if missing:
            raise InputError(f"the factor rows have no column {', '.join(missing)}")
        if int(entry_delay) < 0:
            raise InputError(f"the entry delay must be 0 or more bars (got {entry_delay})")
        self.max_horizon = int(max_horizon)
        self.entry_delay = int(entry_delay)
        self.grid = _lay_on_grid(frame, self.entry_delay + self.max_horizon, self.entry_delay)

    def ret(self, h: int) -> np.ndarray:
        """`fwd_ret_h` of every row."""
        self._check(h)
        g = self.grid
        exit_ = g.entry + h
        clean = (g.bad_before[exit_ + 1] - g.bad_before[g.entry + 1]) == 0
        return np.where(clean, g.log_close[exit_] - g.log_close[g.entry], np.nan)

    def extremes(self, h: int) -> tuple[np.ndarray, np.ndarray]:
        """(`fwd_maxdd_h`, `fwd_maxup_h`) of every row."""
        self._check(h)
        g = self.grid
        windows = np.lib.stride_tricks.sliding_window_view(g.log_close, h)[g.entry + 1]
        defined = ~np.isnan(self.ret(h))
        base = g.log_close[g.entry]
        low = np.where(defined, windows.min(axis=1) - base, np.nan)
        high = np.where(defined, windows.max(axis=1) - base, np.nan)
        return low, high

    def _check(self, h: int) -> None:
        if not 1 <= h <= self.max_horizon:
            raise ValueError(f"horizon {h} outside 1..{self.max_horizon}")


def _lay_on_grid(frame: pd.DataFrame, pad: int, entry_delay: int) -> _Grid:
    n = len(frame)
    if n == 0:
        return _Grid(np.zeros(0, np.int64), np.full(pad + 1, np.nan), np.zeros(pad + 2, np.int64))
    codes = frame.groupby(SERIES_KEY, sort=False).ngroup().to_numpy()
    step_us = frame["freq"].map({f: parse_freq(f).us for f in frame["freq"].unique()}).to_numpy(np.int64)
    start_us = ((frame["bar_start"] - _EPOCH) // pd.Timedelta(microseconds=1)).to_numpy(np.int64)
    bar = start_us // step_us
    first = np.full(codes.max() + 1, np.iinfo(np.int64).max)
    last = np.full(codes.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(first, codes, bar)
    np.maximum.at(last, codes, bar)
    sizes = last - first + 1 + pad
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    position = offsets[codes] + bar - first[codes]
    size = int(sizes.sum())
    if len(np.unique(position)) != n:
        dup = frame[pd.Series(position).duplicated(keep=False).to_numpy()].iloc[0]
        raise InputError(f"duplicate rows for {dup['exchange']} {dup['symbol']} {dup['freq']} bar "
                         f"{dup['bar_start']}: a series may hold each bar once")
    present = np.zeros(size, bool)
    present[position] = True
    gap = frame["gap"].fillna(False).to_numpy(bool) if "gap" in frame.columns else np.zeros(n, bool)
    bad = ~present
    bad[position[gap]] = True
    close = pd.to_numeric(frame["close"], errors="coerce").to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_row = np.where(close > 0, np.log(close), np.nan)
    log_close = np.full(size, np.nan)
    log_close[position] = log_row
    bad_before = np.concatenate(([0], np.cumsum(bad)))
    return _Grid(position + entry_delay, log_close, bad_before)
