"""Time cells of positioning files: nanoseconds since the epoch, or a UTC datetime string.

REST dumps write `open_time` as integer nanoseconds in some files and as a datetime string
(`2025-01-01 00:05:00`, ISO 8601, naive = UTC) in others; data.binance.vision writes strings.
Each cell is recognized on its own. Anything else (milliseconds, seconds, text) is an error:
a wrong unit would silently move every value by orders of magnitude.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NS_LOW = 946_684_800 * 10**9  # 2000-01-01: integer times must be nanoseconds in [2000, 2100)
NS_HIGH = 4_102_444_800 * 10**9  # 2100-01-01
_INT_RE = r"^\d+$"
_DATETIME_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
NOT_A_TIME = "not a time: expected nanoseconds since the epoch or a datetime like 2025-01-01 00:05:00"
WRONG_UNIT = "an integer time must be nanoseconds since the epoch (19 digits, years 2000-2099)"


def parse_times_us(cells: pd.Series) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Microseconds since the epoch (rounded up) and a list of (why, bad-row mask)."""
    text = cells.str.strip()
    is_int = text.str.fullmatch(_INT_RE).to_numpy(dtype=bool)
    is_datetime = text.str.fullmatch(_DATETIME_RE).to_numpy(dtype=bool)
    ns = np.zeros(len(text), dtype=np.int64)
    in_range = np.zeros(len(text), dtype=bool)
    if is_int.any():
        digits = text[is_int]
        fits = (digits.str.len() <= 19).to_numpy(dtype=bool)
        values = np.where(fits, pd.to_numeric(digits.where(fits, "0")).to_numpy(dtype=np.int64), 0)
        in_range[is_int] = fits & (values >= NS_LOW) & (values < NS_HIGH)
        ns[is_int] = values
    impossible = np.zeros(len(text), dtype=bool)
    if is_datetime.any():
        moments = pd.to_datetime(text[is_datetime], format="ISO8601", utc=True, errors="coerce")
        missing = moments.isna().to_numpy()
        impossible[is_datetime] = missing
        ns[is_datetime] = np.where(missing, 0, moments.array.as_unit("ns").asi8)
    us = -(-ns // 1000)
    problems = [(NOT_A_TIME, ~is_int & ~is_datetime), (WRONG_UNIT, is_int & ~in_range),
                ("impossible date", impossible)]
    return us, problems
