"""The cross-venue aggregate rows of a live run (FACTORS.md section 10): which coin each followed
instrument counts towards, from the venues' contract specs.

The engine builds the rows (`BarEngine(config, aggregates=mapping)`, mapping an instrument
`(exchange, symbol)` to `(coin, base_per_unit)`); this module only makes the mapping and is the
one place that hands it over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..engine import BarEngine
from ..engine.config import FactorConfig
from ..venues.registry import venue
from ..venues.specs import InstrumentSpec

Instrument = tuple[str, str]


def aggregate_mapping(specs: Iterable[InstrumentSpec]) -> dict[Instrument, tuple[str, float]]:
    """(exchange, symbol) -> (coin, base_per_unit) for every spec."""
    return {(spec.exchange, spec.symbol): (spec.base, spec.base_per_unit) for spec in specs}


def followed_specs(records: Iterable[dict], instruments: Mapping[str, tuple[str, ...] | None]) -> list[InstrumentSpec]:
    """The specs of the followed instruments in `instruments` records (venue -> symbols, None: all)."""
    specs = []
    for record in records:
        symbols = instruments.get(record["v"], ())
        specs += [spec for spec in venue(record["v"]).parse_instruments(record["m"])
                  if symbols is None or spec.symbol in symbols]
    return specs


def make_engine(config: FactorConfig, aggregates: Mapping[Instrument, tuple[str, float]] | None) -> BarEngine:
    """A BarEngine, with aggregate rows over `aggregates` when given."""
    return BarEngine(config, aggregates=None if aggregates is None else dict(aggregates))
