"""FACTORS.md section 4 for every row of a close: ticker columns (carried) and trade volumes.

Per-row values come from segment reductions; what carries across bars (the last close, the
last known index price, funding, open interest, whether the instrument has traded) is seeded
from the instrument's state and carried forward within its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import TICKER_COLUMNS, TRADE_COLUMNS
from ..events import BUY, SELL
from ..layout import Layout, any_so_far, ffill, last_per_segment, previous, row_sums, segment_starts

CARRIED = ("last_price", "index_price", "funding_rate", "open_interest")


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


@dataclass
class MarketCarry:
    """Per instrument id: what the ticker and trade columns carry into the next close."""

    values: dict[str, np.ndarray] = field(default_factory=lambda: {name: _nan(0) for name in CARRIED})
    close: np.ndarray = field(default_factory=lambda: _nan(0))
    traded: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def grow(self, n: int) -> None:
        """Room for `n` instruments (new ones carry nothing yet)."""
        extra = n - len(self.close)
        if extra > 0:
            self.values = {name: np.append(v, _nan(extra)) for name, v in self.values.items()}
            self.close = np.append(self.close, _nan(extra))
            self.traded = np.append(self.traded, np.zeros(extra, bool))

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (for a checkpoint)."""
        return {**{f"carry_{k}": v for k, v in self.values.items()}, "carry_close": self.close,
                "carry_traded": self.traded}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> MarketCarry:
        """Undo `arrays`."""
        return cls({name: arrays[f"carry_{name}"] for name in CARRIED}, arrays["carry_close"],
                   arrays["carry_traded"].astype(bool))


def ticker_columns(events: dict[str, np.ndarray] | None, rows: np.ndarray | None, layout: Layout,
                   carry: MarketCarry, all_qty: np.ndarray, long_vwap: np.ndarray,
                   short_vwap: np.ndarray) -> dict[str, np.ndarray]:
    """open .. pain_short of every row; updates `carry` with each instrument's last row."""
    n = layout.n_rows
    seeds = layout.ids
    carried_nothing = all(np.isnan(v[seeds]).all() for v in (carry.close, *carry.values.values()))
    if (events is None or len(rows) == 0) and carried_nothing:
        return {name: _nan(n) for name in TICKER_COLUMNS}  # no ticker yet (a liquidation-only run)
    mark_open, mark_high, mark_low, mark_close = _nan(n), _nan(n), _nan(n), _nan(n)
    latest = {name: _nan(n) for name in CARRIED}
    if events is not None and len(rows):
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        mark = events["mark_price"][order]
        valid = ~np.isnan(mark)
        marked = rows[valid]
        mark = mark[valid]
        starts = segment_starts(marked)
        if len(starts):
            cells = marked[starts]
            mark_open[cells] = mark[starts]
            mark_close[cells] = mark[np.append(starts[1:], len(mark)) - 1]
            mark_high[cells] = np.maximum.reduceat(mark, starts)
            mark_low[cells] = np.minimum.reduceat(mark, starts)
        for name in CARRIED:
            values = events[name][order]
            valid = ~np.isnan(values)
            kept = rows[valid]
            ends = np.append(segment_starts(kept)[1:], len(kept)) - 1 if len(kept) else np.empty(0, np.int64)
            latest[name][kept[ends]] = values[valid][ends]
    close = ffill(mark_close, layout, carry.close[seeds])
    empty = np.isnan(mark_close)
    mark_open[empty] = mark_high[empty] = mark_low[empty] = close[empty]
    carried = {name: ffill(latest[name], layout, carry.values[name][seeds]) for name in CARRIED}
    prev_close = previous(close, layout, carry.close[seeds])
    open_interest = carried["open_interest"]
    prev_oi = previous(open_interest, layout, carry.values["open_interest"][seeds])
    index_price = carried["index_price"]
    with np.errstate(invalid="ignore", divide="ignore"):
        usable_oi = (prev_oi != 0) & ~np.isnan(prev_oi)
        out = {
            "open": mark_open, "high": mark_high, "low": mark_low, "close": close,
            "last_price": carried["last_price"], "index_price": index_price,
            "funding_rate": carried["funding_rate"], "open_interest": open_interest,
            "basis": np.where(index_price != 0, (close - index_price) / index_price, np.nan),
            "ret": np.where((close > 0) & (prev_close > 0), np.log(close / prev_close), np.nan),
            "oi_change": np.where(usable_oi, open_interest / prev_oi - 1, np.nan),
            "liq_oi_ratio": np.where(usable_oi, all_qty / prev_oi, np.nan),
            "pain_long": close / long_vwap - 1, "pain_short": close / short_vwap - 1,
        }
    if n:
        carry.close[seeds] = last_per_segment(close, layout)
        for name in CARRIED:
            carry.values[name][seeds] = last_per_segment(carried[name], layout)
    return out


def trade_columns(events: dict[str, np.ndarray] | None, rows: np.ndarray | None, layout: Layout,
                  carry: MarketCarry, all_qty: np.ndarray) -> dict[str, np.ndarray]:
    """volume_qty .. blood_content of every row; NaN before an instrument's first traded bar.

    Sums run in arrival order (`numpy.bincount` adds in array order), the same for any batching.
    """
    n = layout.n_rows
    if (events is None or len(rows) == 0) and not carry.traded[layout.ids].any():
        return {name: _nan(n) for name in TRADE_COLUMNS}  # no trade yet (a liquidation-only run)
    if events is None or len(rows) == 0:
        volume = notional = buy = sell = np.zeros(n)
        has_trades = np.zeros(n, bool)
    else:
        amount = events["amount"]
        side = events["side"]
        volume = row_sums(rows, amount, n)
        notional = row_sums(rows, events["price"] * amount, n)
        buy = row_sums(rows, np.where(side == BUY, amount, 0.0), n)
        sell = row_sums(rows, np.where(side == SELL, amount, 0.0), n)
        has_trades = np.bincount(rows, minlength=n) > 0
    traded = any_so_far(has_trades, layout, carry.traded[layout.ids])
    if n:
        carry.traded[layout.ids] = last_per_segment(traded, layout)
    with np.errstate(invalid="ignore", divide="ignore"):
        blood = np.where(volume > 0, all_qty / volume, np.nan)
    columns = {"volume_qty": volume, "volume_notional": notional, "taker_buy_qty": buy, "taker_sell_qty": sell,
               "blood_content": blood}
    return {name: np.where(traded, values, np.nan) for name, values in columns.items()}
