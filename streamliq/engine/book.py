"""One frequency's clock and state: open-bar events, late counts, and what carries across bars.

Everything is arrays indexed by the engine's instrument id, so a close works on all
instruments at once and a checkpoint is plain arrays.
"""

from __future__ import annotations

import numpy as np

from .config import ROLLING_SERIES, FactorConfig
from .events import SELL, EventBatch, LiquidationBatch, MetricBatch, TickerBatch, TradeBatch
from .features.buckets import Lookback
from .features.market import MarketCarry
from .features.positioning import PositioningCarry
from .features.rolling import RollingState
from .freq import Freq
from .pending import Pending

NOT_STARTED = np.iinfo(np.int64).max
CHANNELS = ("liquidations", "derivative_ticker", "trades", "metrics")


class Book:
    """All instruments' bars at one frequency."""

    def __init__(self, freq: Freq, order: int, config: FactorConfig) -> None:
        self.freq = freq
        self.order = order
        self.config = config
        self.closed_through: int | None = None  # the last bar index closed for everyone
        self.last_event_bar: int | None = None  # the last bar holding an event (for flush)
        self.late_total = 0
        self.first_bar = np.zeros(0, np.int64)  # per instrument: its first bar (NOT_STARTED)
        self.pending = {channel: Pending() for channel in CHANNELS}
        self.late = Pending()  # (inst, bar of arrival) of late events
        self.market = MarketCarry()
        self.positioning = PositioningCarry()
        depth = max([*config.z_windows, *(n - 1 for n in config.pct_windows),
                     *(w for w, _, _ in config.exceedance_pairs), 1])
        self.rolling = RollingState(len(ROLLING_SERIES), depth)
        self.lookback = Lookback(config.bucket_pairs)

    def grow(self, n: int) -> None:
        """Room for `n` instruments."""
        extra = n - len(self.first_bar)
        if extra > 0:
            self.first_bar = np.append(self.first_bar, np.full(extra, NOT_STARTED))
            self.market.grow(n)
            self.positioning.grow(n)
            self.rolling.grow(n)

    def add(self, batch: EventBatch, ids: np.ndarray, seen: np.ndarray, n_instruments: int) -> None:
        """File a batch's events under their bars; count the late ones in their arrival bar."""
        self.grow(n_instruments)
        width = self.freq.us
        bar = batch.ts // width
        late = seen >= (bar + 1) * width + self.config.lateness_us
        if late.any():
            late_bar = seen[late] // width
            self.late_total += int(late.sum())
            self._start(ids[late], late_bar)
            self.late.add({"inst": ids[late], "bar": late_bar})
            on_time = np.flatnonzero(~late)
            if len(on_time) == 0:
                return
            batch, ids, bar = batch.take(on_time), ids[on_time], bar[on_time]
        self._start(ids, bar)
        self.pending[batch.channel].add({"inst": ids, "bar": bar, **_fields(batch)})

    def _start(self, ids: np.ndarray, bar: np.ndarray) -> None:
        np.minimum.at(self.first_bar, ids, bar)
        top = int(bar.max())
        self.last_event_bar = top if self.last_event_bar is None else max(self.last_event_bar, top)


def _fields(batch: EventBatch) -> dict[str, np.ndarray]:
    """The columns a close needs of a batch (liquidations: notional rather than price)."""
    if isinstance(batch, LiquidationBatch):
        return {"ts": batch.ts, "notional": batch.price * batch.amount, "amount": batch.amount,
                "is_long": batch.side == SELL}
    if isinstance(batch, TradeBatch):
        return {"side": batch.side, "price": batch.price, "amount": batch.amount}
    if isinstance(batch, TickerBatch | MetricBatch):
        return {name: getattr(batch, name) for name in batch._columns() if name not in ("instrument", "arrival")}
    raise TypeError(f"not an event batch: {type(batch).__name__}")
