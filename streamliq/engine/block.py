"""RowBlock: closed factor rows, column by column (numpy arrays), in the documented row order.

The engine returns one block per close: every instrument's every due bar at once. Sinks that
write columns (Parquet, CSV, the pandas API) take the arrays as they are; the ones that send
rows one at a time (JSON lines, WebSocket, Redis, a Python callback) turn only what they send
into dicts with `to_dicts()` or by iterating the block.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .config import INT_COLUMNS

TIME_COLUMNS = ("bar_start", "bar_end")  # integer µs since the epoch, UTC
STRING_COLUMNS = ("exchange", "symbol", "freq")


class RowBlock:
    """Rows as columns: `columns[name]` is a numpy array of `len(self)` values.

    `exchange`, `symbol` and `freq` are object arrays of str, bar times int64 µs, counts int64,
    `gap` bool and every factor float64 (NaN where FACTORS.md says undefined).
    """

    __slots__ = ("columns", "names")

    def __init__(self, names: list[str], columns: dict[str, np.ndarray]) -> None:
        self.names = names
        self.columns = columns

    @classmethod
    def empty(cls, names: list[str]) -> RowBlock:
        """A block of no rows with the dtypes of `names` (see `column_dtype`)."""
        return cls(names, {name: np.empty(0, column_dtype(name)) for name in names})

    def __len__(self) -> int:
        return len(self.columns[self.names[0]]) if self.names else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def take(self, index: np.ndarray | slice) -> RowBlock:
        """The selected rows (a boolean mask, an index array or a slice)."""
        return RowBlock(self.names, {name: values[index] for name, values in self.columns.items()})

    def to_dicts(self) -> list[dict]:
        """The rows as dicts of Python values, keyed in column order (bar times as int µs)."""
        columns = [self.columns[name].tolist() for name in self.names]
        return [dict(zip(self.names, values, strict=True)) for values in zip(*columns, strict=True)]

    def __iter__(self) -> Iterator[dict]:
        return iter(self.to_dicts())

    @staticmethod
    def concat(blocks: list[RowBlock], names: list[str]) -> RowBlock:
        """One block of `blocks`' rows, in the given order."""
        blocks = [block for block in blocks if len(block)]
        if not blocks:
            return RowBlock.empty(names)
        if len(blocks) == 1:
            return blocks[0]
        return RowBlock(names, {name: np.concatenate([b.columns[name] for b in blocks]) for name in names})


def column_dtype(name: str) -> np.dtype:
    """The numpy dtype of an output column."""
    if name in STRING_COLUMNS:
        return np.dtype(object)
    if name in TIME_COLUMNS or name in INT_COLUMNS:
        return np.dtype(np.int64)
    if name == "gap":
        return np.dtype(bool)
    return np.dtype(np.float64)
