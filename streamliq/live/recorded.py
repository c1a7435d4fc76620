"""`streamliq replay --recorded DIR`: a live recording through the same core as the live run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..engine.block import RowBlock
from ..engine.config import FactorConfig
from ..venues.registry import DEFAULT
from .aggregates import aggregate_mapping, followed_specs, make_engine
from .core import LiveCore
from .records import read_records


class RecordedReplay:
    """Iterate over the rows a recording produces; they equal the rows the live run emitted
    (given the same factor parameters): the same records, applied to the same core.

    `aggregate` adds the cross-venue rows, their coins read from the recording's first
    instruments records (the ones the live run built its engine with)."""

    def __init__(self, directory: str | Path, config: FactorConfig, aggregate: bool = False) -> None:
        self.directory = directory
        mapping = aggregate_mapping(_recorded_specs(directory)) if aggregate else None
        self.core = LiveCore(make_engine(config, mapping))
        self.records = 0

    def __iter__(self) -> Iterator[dict]:
        for block in self.blocks():
            yield from block.to_dicts()

    def blocks(self) -> Iterator[RowBlock]:
        """The rows of every tick of the recording, as the engine closed them."""
        for record in read_records(self.directory):
            self.records += 1
            block = self.core.apply(record)
            if block is not None and len(block):
                yield block


def _recorded_specs(directory: str | Path) -> list:
    """The specs of the followed instruments in the instruments records before the first frame."""
    followed: dict = {}
    instruments = []
    for record in read_records(directory):
        if record["k"] == "start":
            followed = record.get("venues") or {DEFAULT: record.get("symbols")}
        elif record["k"] == "instruments":
            instruments.append(record)
        elif record["k"] == "ws":
            break
    return followed_specs(instruments, followed)
