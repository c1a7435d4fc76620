"""FACTORS.md section 10: cross-venue aggregate rows, as a transformation of the fed batches.

Every fed batch of member instruments is repeated as a batch of the aggregate instruments
`("all", coin)`: liquidations and trades with `amount * base_per_unit` (single coins) and
`price / base_per_unit` (USD per coin, so `price * amount` stays the event's USD notional),
ticker and metric events as all-NaN events (they count in `n_events` but set no value, so the
ticker and section 7 columns stay NaN). The engine then treats an aggregate like any
instrument, which gives section 10 for free: the same statistics over the union in arrival
order, lateness decided per event from its own `ts`/`arrival` (so a copy is late iff its
original is), `n_events`/`late_events` summed over the members, and a series that starts at the
first bar in which any member has an event. Aggregates live in the engine so that every driver
(replay, pandas API, live, partitioned) behaves the same.

The engine imports nothing outside itself, so membership comes in as plain data: a mapping
`Instrument -> (coin, base_per_unit)`; instruments it does not hold join no aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..events import EventBatch, Instrument, LiquidationBatch, TradeBatch

AGGREGATE_EXCHANGE = "all"
Members = Mapping[Instrument, tuple[str, float]]  # instrument -> (coin, base_per_unit)


class Aggregates:
    """Turns member batches into aggregate batches; `groups` lists each aggregate's members seen."""

    def __init__(self, members: Members) -> None:
        self.members = members
        self.groups: dict[Instrument, set[Instrument]] = {}  # ("all", coin) -> members seen so far
        self._known: dict[Instrument, tuple[Instrument, float] | None] = {}

    def member(self, instrument: Instrument) -> tuple[Instrument, float] | None:
        """(aggregate instrument, base_per_unit) of `instrument`, or None when it joins none."""
        if instrument not in self._known:
            entry = None if instrument[0] == AGGREGATE_EXCHANGE else self.members.get(instrument)
            if entry is not None:
                coin, per_unit = entry
                aggregate = (AGGREGATE_EXCHANGE, coin)
                self.groups.setdefault(aggregate, set()).add(instrument)
                entry = (aggregate, float(per_unit))
            self._known[instrument] = entry
        return self._known[instrument]

    def batch_for(self, batch: EventBatch) -> tuple[EventBatch, np.ndarray] | None:
        """The aggregate batch of `batch` and the positions of its events in `batch` (None: none)."""
        entries = [self.member(instrument) for instrument in batch.instruments]
        aggregates = sorted({entry[0] for entry in entries if entry is not None})
        if not aggregates:
            return None
        position = {aggregate: i for i, aggregate in enumerate(aggregates)}
        code = np.array([position[e[0]] if e else -1 for e in entries], dtype=np.int32)
        per_unit = np.array([e[1] if e else np.nan for e in entries])
        rows = code[batch.instrument]
        index = np.flatnonzero(rows >= 0)
        if len(index) == 0:
            return None
        part = batch.take(index)
        if isinstance(part, LiquidationBatch | TradeBatch):
            k = per_unit[part.instrument]
            values = {"side": part.side, "price": part.price / k, "amount": part.amount * k}
        else:  # ticker and metric events: counted, carrying no value
            values = {name: np.full(len(index), np.nan) for name in part._columns()
                      if name not in ("instrument", "ts", "arrival")}
        union = type(part)(instruments=tuple(aggregates), instrument=rows[index], ts=part.ts,
                           arrival=part.arrival, **values)
        return union, index
