"""The bar chain of one instrument at one frequency: open bars in, closed factor rows out."""

from __future__ import annotations

import math

import numpy as np

from .config import ROLLING_SERIES, FactorConfig
from .features.bars import EMPTY_SIDE, SUB_INTERVALS, BarAccumulator, side_columns
from .features.buckets import SizeBuckets
from .features.metric_bars import MetricCarry
from .features.rolling import RollingFeatures
from .freq import Freq
from .gaps import Outages

NAN = math.nan
_EMPTY = BarAccumulator()
CARRIED_TICKER_FIELDS = ("last_price", "index_price", "funding_rate", "open_interest")


class InstrumentSeries:
    """Open bars and cross-bar state (carried ticker values, rolling windows, lookbacks)."""

    def __init__(self, exchange: str, symbol: str, freq: Freq, config: FactorConfig,
                 columns: list[str]) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.freq = freq
        self.columns = columns
        self.open_bars: dict[int, BarAccumulator] = {}
        self.next_bar: int | None = None  # the next bar to close, once the first has closed
        self.carried: dict[str, float] = dict.fromkeys(CARRIED_TICKER_FIELDS, NAN)
        self.prev_close = NAN
        self.prev_open_interest = NAN
        self.traded = False
        self.metric_carry = MetricCarry() if config.metrics else None
        self.last_row: dict | None = None
        self.last_row_empty = False  # the last closed bar had no events at all
        self.settled = False  # empty bars repeat the last row (see _settled)
        self.buckets = SizeBuckets(config.bucket_pairs)
        self.rolling = [
            RollingFeatures(config.z_windows, config.pct_windows, config.exceedance_pairs)
            for _ in ROLLING_SERIES
        ]

    def bar(self, index: int) -> BarAccumulator:
        """The open bar `index`, created on first use."""
        acc = self.open_bars.get(index)
        if acc is None:
            acc = self.open_bars[index] = BarAccumulator()
        return acc

    def first_open(self) -> int | None:
        """The next bar this instrument will close (None before it has seen anything)."""
        if self.next_bar is not None:
            return self.next_bar
        return min(self.open_bars) if self.open_bars else None

    def close_through(self, last: int, outages: Outages) -> tuple[int, list[dict]]:
        """Close every bar up to and including `last`: (first bar index, rows in bar order).

        `outages` decides each row's `gap` flag; it changes no factor value.
        """
        first = self.first_open()
        if first is None or first > last:
            return 0, []
        rows = []
        for index in range(first, last + 1):
            acc = self.open_bars.pop(index, None)
            if acc is None and (self.settled or self._settled(index)):
                self.settled = True
                row = self.last_row.copy()
                row["bar_start"] = index * self.freq.us
                row["bar_end"] = row["bar_start"] + self.freq.us
            else:
                row = self._close(index, acc or _EMPTY)
                self.last_row_empty = acc is None
                self.settled = False
            row["gap"] = outages.covers((self.exchange, self.symbol), row["bar_start"], row["bar_end"])
            self.last_row = row
            rows.append(row)
        self.next_bar = last + 1
        return first, rows

    def _settled(self, index: int) -> bool:
        """Whether an empty bar `index` would repeat the last row but for its times.

        True after an empty bar whose rolling windows already held only empty-bar values (0) and
        whose size-bucket lookbacks held no liquidation: ticker values are then carried
        unchanged, `ret` and `oi_change` are 0 again, and every window stays as it is. Long
        silences (an illiquid symbol, a gap between recordings) then cost a dict copy a bar.
        """
        return (self.last_row_empty
                and all(features.settled_at(0.0) for features in self.rolling)
                and self.buckets.empty_at((index - 1) * self.freq.us))


    def _close(self, index: int, acc: BarAccumulator) -> dict:
        bar_start = index * self.freq.us
        bar_end = bar_start + self.freq.us
        values: list = [
            self.exchange, self.symbol, self.freq.name, bar_start, bar_end, acc.n_events, acc.late_events, False,
        ]
        liq_ts, notional, amount, is_long = acc.liquidation_arrays()
        long_side = side_columns(notional[is_long], amount[is_long]) if len(notional) else EMPTY_SIDE
        short_side = side_columns(notional[~is_long], amount[~is_long]) if len(notional) else EMPTY_SIDE
        all_side = side_columns(notional, amount)
        values += [*long_side, *short_side, *all_side]
        all_count, all_qty, all_notional, all_max = all_side[:4]
        long_notional, short_notional = long_side[2], short_side[2]
        if all_notional > 0:
            sub_interval = ((liq_ts - bar_start) * SUB_INTERVALS) // self.freq.us
            shares = np.bincount(sub_interval, weights=notional, minlength=SUB_INTERVALS) / all_notional
            values += [(long_notional - short_notional) / all_notional, all_max / all_notional,
                       float(np.dot(shares, shares))]
        else:
            values += [NAN, NAN, NAN]
        values += self._ticker_columns(acc, all_qty, long_side[8], short_side[8])
        values += self._trade_columns(acc, all_qty)
        values += self.buckets.update(bar_start, bar_end, liq_ts, notional, all_notional)
        series = (all_notional, long_notional, short_notional, float(all_count), all_max)
        for features, x in zip(self.rolling, series, strict=True):
            values += features.update(x)
        if self.metric_carry is not None:
            values += self.metric_carry.close(acc.metrics)
        return dict(zip(self.columns, values, strict=True))

    def _ticker_columns(self, acc: BarAccumulator, all_qty: float, long_vwap: float,
                        short_vwap: float) -> list[float]:
        if math.isnan(acc.mark_open):
            open_ = high = low = close = self.prev_close
        else:
            open_, high, low, close = acc.mark_open, acc.mark_high, acc.mark_low, acc.mark_close
        carried = self.carried
        carried.update(acc.last_values)
        index_price = carried["index_price"]
        open_interest = carried["open_interest"]
        prev_close, prev_oi = self.prev_close, self.prev_open_interest
        ret = math.log(close / prev_close) if close > 0 and prev_close > 0 else NAN
        oi_change = open_interest / prev_oi - 1 if prev_oi != 0 and not math.isnan(prev_oi) else NAN
        liq_oi = all_qty / prev_oi if prev_oi != 0 and not math.isnan(prev_oi) else NAN
        self.prev_close, self.prev_open_interest = close, open_interest
        return [
            open_, high, low, close, carried["last_price"], index_price, carried["funding_rate"],
            open_interest,
            (close - index_price) / index_price if index_price != 0 else NAN,
            ret, oi_change, liq_oi,
            close / long_vwap - 1, close / short_vwap - 1,
        ]

    def _trade_columns(self, acc: BarAccumulator, all_qty: float) -> list[float]:
        sums = acc.trade_sums()
        self.traded = self.traded or sums is not None
        if not self.traded:
            return [NAN] * 5
        volume, notional, buy, sell = sums or (0.0, 0.0, 0.0, 0.0)
        return [volume, notional, buy, sell, all_qty / volume if volume > 0 else NAN]
