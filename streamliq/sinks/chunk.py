"""RowChunk: rows on their way to the sinks, columnar until a sink wants them one by one.

The fan-out hands the same chunk to every sink. A file sink writes its block as columns; a
sink that sends rows one at a time iterates it as dicts, made once for all such sinks; the
server keeps references to rows and turns a row into JSON only when somebody asks for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from ..engine.block import RowBlock

_serials = itertools.count(1)


def next_serial() -> int:
    """A number larger than every chunk's so far: taken by a WebSocket subscription, so that the
    server can tell rows published before it (history, like backfill) from live ones."""
    return next(_serials)


class RowChunk(Sequence):
    """A sequence of row dicts backed by a RowBlock (or by dicts a source already made).

    `serial` numbers chunks in the order they were published (a slice keeps its chunk's)."""

    __slots__ = ("_dicts", "block", "serial")

    def __init__(self, rows: RowBlock | Sequence[dict], serial: int | None = None) -> None:
        self.block = rows if isinstance(rows, RowBlock) else None
        self._dicts = None if self.block is not None else list(rows)
        self.serial = next_serial() if serial is None else serial

    def __len__(self) -> int:
        return len(self.block) if self.block is not None else len(self._dicts)

    def dicts(self) -> list[dict]:
        """Every row as a dict (made on first use, then shared)."""
        if self._dicts is None:
            self._dicts = self.block.to_dicts()
        return self._dicts

    def __iter__(self) -> Iterator[dict]:
        return iter(self.dicts())

    def __getitem__(self, index):  # a row, or a chunk of a slice of rows
        if isinstance(index, slice):
            if self._dicts is None:
                return RowChunk(self.block.take(index), self.serial)
            return RowChunk(self._dicts[index], self.serial)
        return self.row(index)

    def row(self, index: int) -> dict:
        """One row as a dict. The whole chunk becomes dicts on the first call: whoever wants one
        row of a chunk (a WebSocket client, an HTTP request) usually wants its neighbours too,
        and one conversion per column is far cheaper than one per value."""
        return self.dicts()[index]

    def release(self) -> None:
        """Forget the dicts (a holder of the chunk that has what it needs, e.g. the server once every
        row's frame is made, keeps the block alone); they are made again if asked for."""
        if self.block is not None:
            self._dicts = None

    def column(self, name: str) -> np.ndarray:
        """One column's values, in row order."""
        if self.block is not None:
            return self.block[name]
        return np.array([row[name] for row in self._dicts])

    def coded(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A name column as (codes, labels), `labels[codes]` being the column."""
        coded = self.block.coded(name) if self.block is not None else None
        if coded is not None:
            return coded
        labels, codes = np.unique(self.column(name).astype(object), return_inverse=True)
        return codes.reshape(-1), labels

    def to_write(self) -> RowBlock | list[dict]:
        """What a file sink writes: the block as it is, or the dicts."""
        return self.block if self.block is not None else self._dicts
