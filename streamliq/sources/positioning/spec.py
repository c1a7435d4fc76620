"""Binance positioning statistics: the sources, their columns, and when a value became public.

The publication-time rule (the heart of "no look-ahead"): every row of a statistic is stamped
with a time inside or at the edge of the period it describes, and the documentation disagrees
on which edge (the SDK calls the ratio endpoints' `timestamp` the period end, taker volume's the
period start, the dumps call it `open_time`). streamliq takes the time as the period's OPEN and
publishes the value one period later: `ts = time + period`. If the stamp really was the end, the
value is used one period later than it could have been; it is never used before it existed.
"""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_US = 60_000_000
PERIODS_US = {"5m": 5 * MINUTE_US, "15m": 15 * MINUTE_US, "30m": 30 * MINUTE_US, "1h": 60 * MINUTE_US,
              "2h": 120 * MINUTE_US, "4h": 240 * MINUTE_US, "6h": 360 * MINUTE_US, "12h": 720 * MINUTE_US,
              "1d": 1440 * MINUTE_US}
VISION_PERIOD_US = PERIODS_US["5m"]  # data.binance.vision `metrics` rows are 5-minute statistics


@dataclass(frozen=True)
class Source:
    """One kind of positioning row: its columns and which MetricBatch field each one feeds."""

    name: str
    time_column: str
    fields: dict[str, str]  # source column -> MetricBatch field
    checked: tuple[str, ...] = ()  # other numeric columns: validated and compared, not emitted
    has_symbol: bool = True

    @property
    def value_columns(self) -> tuple[str, ...]:
        return (*self.fields, *self.checked)


def _ratio(name: str, field: str) -> Source:
    return Source(name, "open_time", {"longShortRatio": field}, ("longAccount", "shortAccount"))


# REST dumps, one folder per endpoint (`{DIR}/{name}/{name}_{YYYY-MM}.csv`)
REST_DUMPS = {
    source.name: source for source in (
        _ratio("topLongShortPositionRatio", "top_pos_ls_ratio"),
        _ratio("topLongShortAccountRatio", "top_acct_ls_ratio"),
        _ratio("globalLongShortAccountRatio", "global_acct_ls_ratio"),
        Source("takerlongshortRatio", "open_time", {"buySellRatio": "taker_buy_sell_ratio",
                                                     "buyVol": "taker_buy_vol", "sellVol": "taker_sell_vol"},
               has_symbol=False),
        Source("openInterest", "open_time", {"openInterest": "metric_open_interest"}),
    )
}

# data.binance.vision daily `metrics` files; column meanings per the reference, section 5.2
VISION_COLUMNS = ("create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
                  "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio", "count_long_short_ratio",
                  "sum_taker_long_short_vol_ratio")
VISION_METRICS = Source(
    "metrics", "create_time",
    {"sum_open_interest": "metric_open_interest", "sum_toptrader_long_short_ratio": "top_pos_ls_ratio",
     "count_toptrader_long_short_ratio": "top_acct_ls_ratio", "count_long_short_ratio": "global_acct_ls_ratio",
     "sum_taker_long_short_vol_ratio": "taker_buy_sell_ratio"},
    ("sum_open_interest_value",),
)


def exchange_of(symbol: str) -> str:
    """The Tardis exchange id a Binance futures symbol trades on (`BTCUSD_PERP` is COIN-M)."""
    return "binance-delivery" if "_" in symbol else "binance-futures"


def period_name(period_us: int) -> str:
    """`300000000` -> `5m` (a Binance statistics period), else the minutes."""
    for name, size in PERIODS_US.items():
        if size == period_us:
            return name
    return f"{period_us / MINUTE_US:g} minutes"
