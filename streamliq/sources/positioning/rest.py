"""One row of a Binance REST positioning response as a one-event MetricBatch (for live pollers).

The REST JSON fields are the dump CSV columns (`longShortRatio`, `buyVol`, ...), so a poller
and a replay of the dumps feed the engine the same values at the same publication time:
`ts = timestamp + period` for the `/futures/data/*` statistics (see `spec`). `/fapi/v1/openInterest`
(endpoint `openInterest`) is a snapshot measured at `time` and is public at `time`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from ...engine.events import METRIC_FIELDS, MetricBatch
from ...errors import InputError
from .spec import PERIODS_US, REST_DUMPS, Source, exchange_of

REST_ENDPOINTS: dict[str, Source] = {
    **{name: replace(source, time_column="timestamp") for name, source in REST_DUMPS.items()
       if name != "openInterest"},
    "openInterestHist": Source("openInterestHist", "timestamp", {"sumOpenInterest": "metric_open_interest"}),
    "openInterest": Source("openInterest", "time", {"openInterest": "metric_open_interest"}),
}
SNAPSHOT_ENDPOINTS = frozenset({"openInterest"})  # stamped when measured, not by a period


def metric_event_from_rest(endpoint: str, row: Mapping[str, object], symbol: str | None = None,
                           period: str | None = None, arrival: int | None = None) -> MetricBatch:
    """A MetricBatch of one event from `row`, one element of `GET /futures/data/{endpoint}`.

    `symbol` is needed when the row has none (`takerlongshortRatio`) and must agree when it has
    one; `period` is the `period` parameter of the request (`5m`, `1h`, ...), required except for
    `openInterest`; `arrival` is the local receive time in µs (default: the publication time).
    Raises InputError naming the endpoint and field on a malformed row.
    """
    source = REST_ENDPOINTS.get(endpoint)
    if source is None:
        raise InputError(f"unknown positioning endpoint {endpoint!r}: expected one of {', '.join(REST_ENDPOINTS)}")
    row_symbol = str(row.get("symbol") or "").strip().upper()
    symbol = (symbol or "").strip().upper() or row_symbol
    if not symbol:
        raise InputError(f"{endpoint}: the row has no symbol and none was given")
    if row_symbol and row_symbol != symbol:
        raise InputError(f"{endpoint}: the row is for {row_symbol}, not {symbol}")
    ts = _time_us(endpoint, source.time_column, row.get(source.time_column))
    if endpoint not in SNAPSHOT_ENDPOINTS:
        if period not in PERIODS_US:
            raise InputError(f"{endpoint}: period {period!r} is not one of {', '.join(PERIODS_US)}")
        ts += PERIODS_US[period]
    values = dict.fromkeys(METRIC_FIELDS, math.nan)
    for column, name in source.fields.items():
        values[name] = _number(endpoint, column, row.get(column))
    return MetricBatch(instruments=((exchange_of(symbol), symbol),), instrument=np.zeros(1, np.int32),
                       ts=np.array([ts], np.int64), arrival=np.array([ts if arrival is None else arrival], np.int64),
                       **{name: np.array([value]) for name, value in values.items()})


def _time_us(endpoint: str, field: str, value: object) -> int:
    """A millisecond time (integer, or digits in a string as in the doc examples) in µs."""
    text = str(value).strip() if value is not None else ""
    if not text.isdigit() or len(text) != 13:
        raise InputError(f"{endpoint}: field '{field}': not a time in milliseconds (got {value!r})")
    return int(text) * 1000


def _number(endpoint: str, field: str, value: object) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{endpoint}: field '{field}': not a number (got {value!r})") from None
