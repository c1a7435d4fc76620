"""`streamliq replay --recorded DIR`: a live recording through the same core as the live run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..engine import BarEngine
from ..engine.block import RowBlock
from ..engine.config import FactorConfig
from .core import LiveCore
from .records import read_records


class RecordedReplay:
    """Iterate over the rows a recording produces; they equal the rows the live run emitted
    (given the same factor parameters): the same records, applied to the same core."""

    def __init__(self, directory: str | Path, config: FactorConfig) -> None:
        self.directory = directory
        self.core = LiveCore(BarEngine(config))
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
