"""Normalized event batches: columnar numpy arrays, one class per channel.

A batch holds events of one channel for any number of instruments. `instruments` lists the
distinct `(exchange, symbol)` pairs and `instrument` indexes into it per event, so a batch is
self-contained: a replay chunk of 100k events and a live message of one look the same.
Times are integer microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

Instrument = tuple[str, str]  # (exchange, symbol)

# Side codes. Liquidations: BUY = a short was liquidated, SELL = a long was liquidated.
# Trades: the taker side; UNKNOWN counts in volume only.
BUY, SELL, UNKNOWN = 1, -1, 0
SIDE_CODES = {"buy": BUY, "sell": SELL, "unknown": UNKNOWN}
ALLOWED_SIDES = {"liquidations": ("buy", "sell"), "trades": ("buy", "sell", "unknown")}

TICKER_FIELDS = ("mark_price", "index_price", "last_price", "funding_rate", "open_interest")
# FACTORS.md section 7: carried as-of (the last value with ts < bar_end) ...
METRIC_ASOF_FIELDS = ("top_pos_ls_ratio", "top_acct_ls_ratio", "global_acct_ls_ratio", "taker_buy_sell_ratio",
                      "metric_open_interest")
# ... and summed over the bar
METRIC_SUM_FIELDS = ("taker_buy_vol", "taker_sell_vol")
METRIC_FIELDS = METRIC_ASOF_FIELDS + METRIC_SUM_FIELDS


@functools.cache
def _column_names(kind: type) -> tuple[str, ...]:
    """A batch type's array fields (`dataclasses.fields` builds them anew at every call, and a
    replay of one file per symbol takes and joins batches hundreds of thousands of times)."""
    return tuple(f.name for f in fields(kind) if f.name != "instruments")


@dataclass(frozen=True)
class _Batch:
    instruments: tuple[Instrument, ...]
    instrument: np.ndarray  # int32 index into `instruments`
    ts: np.ndarray  # int64 µs, exchange time
    arrival: np.ndarray  # int64 µs, local receive time

    channel: ClassVar[str]

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: np.ndarray | slice) -> _Batch:
        """A batch of the selected events (a boolean mask, an index array or a slice)."""
        columns = {name: getattr(self, name)[index] for name in self._columns()}
        return type(self)(instruments=self.instruments, **columns)

    @classmethod
    def concat(cls, batches: list[_Batch]) -> _Batch:
        """The batches' events end to end, over the union of their instruments."""
        return cls.join([(batch, 0, len(batch)) for batch in batches])

    @classmethod
    def join(cls, spans: list[tuple[_Batch, int, int]]) -> _Batch:
        """The events `start:stop` of each (batch, start, stop), end to end, over the union of the
        batches' instruments (no batch is made per span)."""
        ids: dict[Instrument, int] = {}
        instrument = [np.array([ids.setdefault(name, len(ids)) for name in batch.instruments],
                               np.int32)[batch.instrument[start:stop]] for batch, start, stop in spans]
        columns = {name: np.concatenate([getattr(batch, name)[start:stop] for batch, start, stop in spans])
                   for name in cls._columns() if name != "instrument"}
        return cls(instruments=tuple(ids), instrument=np.concatenate(instrument), **columns)

    @classmethod
    def _columns(cls) -> tuple[str, ...]:
        return _column_names(cls)


@dataclass(frozen=True)
class _SizedBatch(_Batch):
    """Events with a side code, a price (USD per base unit) and an amount (base units)."""

    side: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    price: np.ndarray = field(default_factory=lambda: np.empty(0))
    amount: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass(frozen=True)
class LiquidationBatch(_SizedBatch):
    """Liquidations: `side` (BUY/SELL code), `price`, `amount` (base units)."""

    channel: ClassVar[str] = "liquidations"


@dataclass(frozen=True)
class TickerBatch(_Batch):
    """Ticker updates; NaN marks a field the update does not carry."""

    mark_price: np.ndarray = field(default_factory=lambda: np.empty(0))
    index_price: np.ndarray = field(default_factory=lambda: np.empty(0))
    last_price: np.ndarray = field(default_factory=lambda: np.empty(0))
    funding_rate: np.ndarray = field(default_factory=lambda: np.empty(0))
    open_interest: np.ndarray = field(default_factory=lambda: np.empty(0))
    channel: ClassVar[str] = "derivative_ticker"


@dataclass(frozen=True)
class TradeBatch(_SizedBatch):
    """Trades: taker `side` (BUY/SELL/UNKNOWN code), `price`, `amount`."""

    channel: ClassVar[str] = "trades"


def _no_values() -> np.ndarray:
    return np.empty(0)


@dataclass(frozen=True)
class MetricBatch(_Batch):
    """Positioning statistics (FACTORS.md section 7, `METRIC_FIELDS`); NaN marks a field the event
    does not carry.

    `ts` is the time the value became public (see `streamliq.sources.positioning.spec`), never
    the open time of the period it describes: the engine uses a value from the bar holding `ts` on.
    """

    top_pos_ls_ratio: np.ndarray = field(default_factory=_no_values)
    top_acct_ls_ratio: np.ndarray = field(default_factory=_no_values)
    global_acct_ls_ratio: np.ndarray = field(default_factory=_no_values)
    taker_buy_sell_ratio: np.ndarray = field(default_factory=_no_values)
    metric_open_interest: np.ndarray = field(default_factory=_no_values)
    taker_buy_vol: np.ndarray = field(default_factory=_no_values)
    taker_sell_vol: np.ndarray = field(default_factory=_no_values)
    channel: ClassVar[str] = "metrics"


EventBatch = LiquidationBatch | TickerBatch | TradeBatch | MetricBatch
BATCH_TYPES: dict[str, type[_Batch]] = {
    cls.channel: cls for cls in (LiquidationBatch, TickerBatch, TradeBatch, MetricBatch)
}

# What a liquidation or trade's numbers must be. A zero amount is data (Tardis files hold
# such rows): the event counts and adds 0. A price of 0 or below, or an amount that is
# negative, NaN or infinite, is bad input.
VALUE_RULES = {"price": "must be a positive number", "amount": "must be a finite number >= 0"}


def invalid_values(name: str, values: np.ndarray) -> np.ndarray:
    """Mask of the `price` or `amount` values `VALUE_RULES` refuses (NaN included)."""
    with np.errstate(invalid="ignore"):
        ok = (values > 0) if name == "price" else (values >= 0)
    return ~(ok & np.isfinite(values))
