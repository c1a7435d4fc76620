"""Venue quantities to base-asset units (FACTORS.md section 9), batch by batch, before the engine.

`UnitConverter.convert` applies each instrument's `InstrumentSpec` to liquidation and trade
amounts and to ticker open interest. Inverse open interest needs a price: the row's mark price,
else the instrument's last mark price seen by this converter (NaN before the first, which, as an
empty field, changes nothing downstream).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

import numpy as np

from ..engine.events import EventBatch, Instrument, LiquidationBatch, TickerBatch, TradeBatch
from ..venues.specs import SPEC_COLUMNS, InstrumentSpec, SpecTable, implicit_spec, spec_table

log = logging.getLogger("streamliq")
Missing = list[tuple[Instrument, np.ndarray]]  # instruments without a spec and their rows (a mask)


def missing_spec_message(exchange: str, symbol: str, flag: str = "--instruments FILE",
                         skip: str | None = "--skip-bad-rows") -> str:
    """Why a contract-denominated symbol without a spec stops the run, and the ways out."""
    text = (f"no contract spec for symbol '{symbol}' of exchange '{exchange}': its amounts are contracts "
            f"(or USD), not coins, and streamliq will not guess; add a row for it with {flag} "
            f"(CSV columns {','.join(SPEC_COLUMNS)})")
    return text + (f", or skip and count its rows with {skip}" if skip else "")


class UnitConverter:
    """Converts batches with a `SpecTable`; remembers mark prices for inverse open interest."""

    def __init__(self, table: SpecTable) -> None:
        self.table = table
        self.marks: dict[Instrument, float] = {}  # last mark price per inverse instrument
        self._unknown_venues: set[str] = set()

    def spec(self, instrument: Instrument) -> InstrumentSpec | None:
        """The instrument's spec; None for one of a venue streamliq has no units for (read as given)."""
        exchange, symbol = instrument
        spec = self.table.lookup(exchange, symbol)
        if spec is None and not self.table.needs_spec(exchange, symbol) and exchange not in self._unknown_venues:
            self._unknown_venues.add(exchange)
            log.warning("no contract specs for exchange %r: its amounts are read as base-asset units "
                        "(add --instruments rows if they are contracts)", exchange)
        return spec

    def convert(self, batch: EventBatch) -> tuple[EventBatch, Missing]:
        """`batch` in base units, without the rows of instruments that need a spec and have none."""
        specs = [self.spec(instrument) for instrument in batch.instruments]
        lacking = np.array([spec is None and self.table.needs_spec(*instrument)
                            for spec, instrument in zip(specs, batch.instruments, strict=True)])
        missing = [(batch.instruments[i], batch.instrument == i) for i in np.flatnonzero(lacking)]
        if missing:
            batch = batch.take(~lacking[batch.instrument])
        if all(spec is None or not spec.contract_denominated for spec in specs) or len(batch) == 0:
            return batch, missing
        value = np.array([spec.contract_value if spec else 1.0 for spec in specs])[batch.instrument]
        inverse = np.array([spec is not None and spec.kind == "inverse" for spec in specs])
        if isinstance(batch, LiquidationBatch | TradeBatch):
            amount = batch.amount * value
            amount = np.where(inverse[batch.instrument], amount / batch.price, amount)
            return _replace(batch, amount=amount), missing
        if isinstance(batch, TickerBatch):
            price = self._mark_prices(batch, np.flatnonzero(inverse))
            open_interest = batch.open_interest * value
            open_interest = np.where(inverse[batch.instrument], open_interest / price, open_interest)
            return _replace(batch, open_interest=open_interest), missing
        return batch, missing

    def _mark_prices(self, batch: TickerBatch, inverse: np.ndarray) -> np.ndarray:
        """Per row, the mark price to divide inverse open interest by (last known, carried forward)."""
        price = np.full(len(batch), np.nan)
        for i in inverse.tolist():
            rows = np.flatnonzero(batch.instrument == i)
            marks = batch.mark_price[rows]
            valid = ~np.isnan(marks)
            last = np.maximum.accumulate(np.where(valid, np.arange(len(rows)), -1))
            seed = self.marks.get(batch.instruments[i], np.nan)
            price[rows] = np.where(last >= 0, marks[np.maximum(last, 0)], seed)
            if valid.any():
                self.marks[batch.instruments[i]] = float(marks[valid][-1])
        return price

    def members(self) -> AggregateMembers:
        """The aggregate membership (FACTORS.md section 10) these specs imply, for `BarEngine`."""
        return AggregateMembers(self.table)


class AggregateMembers(Mapping[Instrument, tuple[str, float]]):
    """Instrument -> (base coin, base_per_unit), read from the spec table on demand.

    Instruments of venues without specs join when their symbol reads as a USD-M style coin
    symbol (`BTCUSDT`, `1000PEPEUSDT`); the others join no aggregate.
    """

    def __init__(self, table: SpecTable) -> None:
        self.table = table
        self._seen: dict[Instrument, tuple[str, float]] = {}

    def __getitem__(self, instrument: Instrument) -> tuple[str, float]:
        exchange, symbol = instrument
        spec = self.table.lookup(exchange, symbol) or implicit_spec("binance-futures", symbol)
        if spec is None:
            raise KeyError(instrument)
        self._seen[instrument] = (spec.base, spec.base_per_unit)
        return self._seen[instrument]

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._seen)

    def __len__(self) -> int:
        return len(self._seen)


def _replace(batch: EventBatch, **columns: np.ndarray) -> EventBatch:
    values = {name: getattr(batch, name) for name in batch._columns()}
    return type(batch)(instruments=batch.instruments, **{**values, **columns})


@cache
def _shipped_table() -> SpecTable:
    return spec_table()


def default_converter(instruments: str | Path | None = None) -> UnitConverter:
    """A converter with the shipped spec table, extended by the `--instruments` CSV file if given."""
    return UnitConverter(_shipped_table() if instruments is None else spec_table(instruments))
