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

    A name column may be given as codes into a table of labels (`coded`): the engine knows
    each row's instrument id, and a writer turns codes into an Arrow dictionary without
    touching a Python string per row. Its object array is made on first access.

    A block may also hold its rows in a pending order (`in_order`): each column is gathered on
    first access, so that a writer thread, not the engine, pays for putting a close in the
    output order, while the engine closes the next bars.
    """

    __slots__ = ("_codes", "_columns", "_order", "_pending", "names")

    def __init__(self, names: list[str], columns: dict[str, np.ndarray],
                 coded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self.names = names
        self._columns = columns
        self._codes = coded or {}
        self._pending: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]] = {}  # columns before `_order`
        self._order: np.ndarray | None = None

    @classmethod
    def empty(cls, names: list[str]) -> RowBlock:
        """A block of no rows with the dtypes of `names` (see `column_dtype`)."""
        return cls(names, {name: np.empty(0, column_dtype(name)) for name in names})

    def in_order(self, order: np.ndarray) -> RowBlock:
        """The rows in `order` (like `take`), each column gathered when first used."""
        block = RowBlock(self.names, {}, {})
        block._pending = {**self._columns, **self._codes}  # a name column's codes stand for it
        block._order = order
        return block

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """Every column by name (coded name columns made into object arrays now)."""
        for name in self.names:
            self[name]
        return self._columns

    def coded(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(codes, labels) of a name column given as codes (`labels[codes]` is the column), or None."""
        coded = self._codes.get(name)
        if coded is None:
            pending = self._pending.get(name)
            if isinstance(pending, tuple):
                coded = self._codes[name] = (pending[0][self._order], pending[1])
                self._pending.pop(name, None)
        return coded

    def __len__(self) -> int:
        if self._order is not None:
            return len(self._order)
        if not self.names:
            return 0
        name = self.names[0]
        return len(self._codes[name][0] if name in self._codes else self._columns[name])

    def __getitem__(self, name: str) -> np.ndarray:
        values = self._columns.get(name)
        if values is None:
            pending = self._pending.get(name)
            if pending is not None and not isinstance(pending, tuple):  # gathered once; a racing
                values = self._columns[name] = pending[self._order]  # thread may gather it too
                self._pending.pop(name, None)
            elif self.coded(name) is not None:
                codes, labels = self._codes[name]
                values = self._columns[name] = labels[codes]
            else:  # another thread gathered it meanwhile
                values = self._columns.get(name)
        if values is None:
            raise KeyError(name)
        return values

    def take(self, index: np.ndarray | slice) -> RowBlock:
        """The selected rows (a boolean mask, an index array or a slice)."""
        block = RowBlock(self.names, {name: values[index] for name, values in self._columns.copy().items()},
                         {name: (codes[index], labels) for name, (codes, labels) in self._codes.copy().items()})
        if self._order is not None:  # columns not gathered yet stay so: only the order is taken
            block._pending = self._pending.copy()  # copies are atomic: a writer thread may be gathering
            block._order = self._order[index]
        return block

    def to_dicts(self) -> list[dict]:
        """The rows as dicts of Python values, keyed in column order (bar times as int µs)."""
        columns = [self[name].tolist() for name in self.names]
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
        coded = {}
        for name in names:
            parts = [block.coded(name) for block in blocks]
            if all(part is not None for part in parts):
                coded[name] = _concat_codes(parts)
        columns = {name: np.concatenate([block[name] for block in blocks]) for name in names if name not in coded}
        return RowBlock(names, columns, coded)


def _concat_codes(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Coded columns as one: (codes, labels) over the union of their label tables.

    Blocks of one engine share a table until an instrument is added; then later blocks carry a
    larger one. Codes are remapped through the union (a few hundred labels), never decoded."""
    tables = list({id(labels): labels for _, labels in parts}.values())
    if len(tables) == 1:
        return np.concatenate([codes for codes, _ in parts]), tables[0]
    labels, union_code = np.unique(np.concatenate(tables), return_inverse=True)
    offsets = dict(zip((id(t) for t in tables), np.cumsum([0] + [len(t) for t in tables[:-1]]).tolist(), strict=True))
    union_code = union_code.reshape(-1)
    return np.concatenate([union_code[offsets[id(table)] + codes] for codes, table in parts]), labels


def column_dtype(name: str) -> np.dtype:
    """The numpy dtype of an output column."""
    if name in STRING_COLUMNS:
        return np.dtype(object)
    if name in TIME_COLUMNS or name in INT_COLUMNS:
        return np.dtype(np.int64)
    if name == "gap":
        return np.dtype(bool)
    return np.dtype(np.float64)
