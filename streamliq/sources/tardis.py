"""Reading one Tardis CSV file as event batches, in bounded memory.

The fast path lets pyarrow convert typed columns. When pyarrow refuses a value (a bad number)
the rest of the file is re-read as text and checked column by column, so the error can name
the line, field and value, or, with `skip_bad_rows`, the row can be counted and dropped.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import igzip
from isal.isal_zlib import error as IsalError

from ..arrays import to_numpy
from ..badinput import BadInputCounter
from ..engine.events import (
    ALLOWED_SIDES,
    BATCH_TYPES,
    SIDE_CODES,
    TICKER_FIELDS,
    UNKNOWN,
    VALUE_RULES,
    EventBatch,
    invalid_values,
)
from ..errors import InputError, bad_row_message
from .discovery import TardisFile
from .units import UnitConverter, default_converter, missing_spec_message

KEY_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp")
VALUE_COLUMNS = {
    "liquidations": ("side", "price", "amount"),
    "trades": ("side", "price", "amount"),
    "derivative_ticker": TICKER_FIELDS,
}
_DICT = pa.dictionary(pa.int32(), pa.string())
_TYPES = {"exchange": _DICT, "symbol": _DICT, "side": _DICT,
          "timestamp": pa.int64(), "local_timestamp": pa.int64()}
_READ_ERRORS = (OSError, EOFError, IsalError)  # EOFError: a truncated gzip file; IsalError: corrupt data
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:nan)$"
_INT_RE = r"^[+-]?\d+$"


class TardisFileReader:
    """Yields the events of one file as batches; `bytes_read` tracks compressed bytes."""

    def __init__(self, item: TardisFile, symbols: frozenset[str] | None, skip_symbols: frozenset[str],
                 skip_bad_rows: bool, bad_rows: BadInputCounter, block_size: int = 1 << 23,
                 units: UnitConverter | None = None) -> None:
        """`units` brings amounts and open interest to base units (default: the shipped spec table)."""
        self.item = item
        self.units = units or default_converter()
        self.symbols = symbols
        self.skip_symbols = skip_symbols
        self.skip_bad_rows = skip_bad_rows
        self.bad_rows = bad_rows
        self.block_size = block_size
        self.columns = (*KEY_COLUMNS, *VALUE_COLUMNS[item.channel])
        self.bytes_read = 0
        self.rows_done = 0  # data rows consumed so far (line number = rows_done + 2)
        self.last_arrival = np.iinfo(np.int64).min
        self._raw: BinaryIO | None = None
        self._shape_error: str | None = None

    @property
    def path(self) -> str:
        return str(self.item.path)

    def __iter__(self) -> Iterator[EventBatch]:
        self._check_header()
        try:
            try:
                for table in self._tables(text=False):
                    yield from self._convert(table, text=False)
            except pa.ArrowInvalid:
                self._raise_bad_shape()
                for table in self._tables(text=True):
                    yield from self._convert(table, text=True)
        except pa.ArrowInvalid as exc:
            self._raise_bad_shape()
            raise InputError(f"{self.path}: cannot parse the file: {exc}") from None
        except _READ_ERRORS as exc:
            raise InputError(f"{self.path}: cannot read the file: {exc}") from None
        finally:
            self._close()
        self.bytes_read = self.item.path.stat().st_size

    def _invalid_row(self, row: pacsv.InvalidRow) -> str:
        """pyarrow's hook for a row with the wrong number of fields: skip it or stop."""
        line = row.number if row.number is not None else self._line_of(row.text)
        message = (f"{self.path}:{line}: row has {row.actual_columns} fields, the header has "
                   f"{row.expected_columns} (got {row.text[:80]!r})")
        if self.skip_bad_rows:
            self.bad_rows.record("wrong number of fields", message)
            return "skip"
        self._shape_error = message
        return "error"

    def _line_of(self, text: str) -> int | str:
        """The line number of the first line equal to `text` (pyarrow does not always know it)."""
        opener = gzip.open if self.item.path.suffix == ".gz" else open
        with opener(self.item.path, "rt", encoding="utf-8", newline="") as handle:
            for number, line in enumerate(handle, start=1):
                if line.rstrip("\r\n") == text:
                    return number
        return "?"

    def _raise_bad_shape(self) -> None:
        """Turn a stop requested by `_invalid_row` into the InputError it prepared."""
        if self._shape_error is not None:
            raise InputError(self._shape_error) from None

    # -- reading ----------------------------------------------------------------------------
    def _check_header(self) -> None:
        header = read_header(self.item.path)
        names = header.split(",")
        for column in self.columns:
            if column not in names:
                raise InputError(f"{self.path}:1: missing column '{column}' (header: {header[:200]})")

    def _tables(self, text: bool) -> Iterator[pa.RecordBatch]:
        self._close()
        self._raw = open(self.item.path, "rb")  # noqa: SIM115 - closed by _close
        stream = pa.PythonFile(_opened(self._raw, self.item.path), mode="r")
        types = {c: pa.string() for c in self.columns} if text else {
            c: _TYPES.get(c, pa.float64()) for c in self.columns}
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=self.block_size, skip_rows_after_names=self.rows_done),
            parse_options=pacsv.ParseOptions(invalid_row_handler=self._invalid_row),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(self.columns),
                                                 strings_can_be_null=True),
        )
        for batch in reader:
            self.bytes_read = self._raw.tell()
            yield batch

    def _close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    # -- converting -------------------------------------------------------------------------
    def _convert(self, table: pa.RecordBatch, text: bool) -> Iterator[EventBatch]:
        first_line = self.rows_done + 2
        self.rows_done += table.num_rows
        bad = np.zeros(table.num_rows, dtype=bool)
        columns: dict = {}
        for name in self.columns:
            values, problems = self._column(table.column(name), name, text)
            for why, mask in problems:
                bad |= self._bad(mask & ~bad, name, why, table.column(name), first_line)
            columns[name] = values
        arrival = columns["local_timestamp"]
        running = np.maximum.accumulate(np.where(bad, np.iinfo(np.int64).min, arrival))
        backwards = ~bad & (arrival < np.maximum(np.concatenate(([self.last_arrival], running[:-1])),
                                                 self.last_arrival))
        bad |= self._bad(backwards, "local_timestamp", "goes back in time (files must be in "
                         "local_timestamp order)", table.column("local_timestamp"), first_line)
        if (~bad).any():
            self.last_arrival = max(self.last_arrival, int(arrival[~bad].max()))
        keep = ~bad
        symbols, symbol_index = columns["symbol"]
        if self.symbols is not None or self.skip_symbols:
            wanted = np.array([(self.symbols is None or s in self.symbols) and s not in self.skip_symbols
                               for s in symbols], dtype=bool)
            keep &= wanted[symbol_index]
        if not keep.any():
            return
        batch = self._batch({name: values if isinstance(values, tuple) else values[keep]
                             for name, values in columns.items()}, keep)
        batch = self._in_base_units(batch, first_line + np.flatnonzero(keep))
        if len(batch):
            yield batch

    def _in_base_units(self, batch: EventBatch, lines: np.ndarray) -> EventBatch:
        """FACTORS.md section 9: a symbol without a contract spec stops the replay (or is skipped)."""
        batch, missing = self.units.convert(batch)
        for (exchange, symbol), rows in missing:
            message = f"{self.path}:{int(lines[np.argmax(rows)])}: {missing_spec_message(exchange, symbol)}"
            if not self.skip_bad_rows:
                raise InputError(message)
            self.bad_rows.record(f"no contract spec for {symbol} ({exchange})", message, int(rows.sum()))
        return batch

    def _batch(self, columns: dict, keep: np.ndarray) -> EventBatch:
        exchanges, exchange_index = columns["exchange"]
        symbols, symbol_index = columns["symbol"]
        key = exchange_index[keep].astype(np.int64) * len(symbols) + symbol_index[keep]
        # keys are small (dictionary codes): the distinct ones by counting, not by sorting
        present = np.bincount(key, minlength=len(exchanges) * len(symbols)) > 0
        unique = np.flatnonzero(present)
        instrument = (np.cumsum(present) - 1)[key]
        instruments = tuple((exchanges[k // len(symbols)], symbols[k % len(symbols)])
                            for k in unique.tolist())
        fields = {name: columns[name] for name in VALUE_COLUMNS[self.item.channel]}
        return BATCH_TYPES[self.item.channel](
            instruments=instruments, instrument=instrument.astype(np.int32).reshape(-1),
            ts=columns["timestamp"], arrival=columns["local_timestamp"], **fields)

    def _column(self, column: pa.ChunkedArray | pa.Array, name: str, text: bool):
        """Numpy values of a column and a list of (why, bad-row mask)."""
        if name in ("exchange", "symbol", "side"):
            names, index = _dictionary(column)
            missing = index == len(names) - 1
            problems = [("missing value", missing)]
            if name != "side":
                names = [n.upper() for n in names] if name == "symbol" else names
                return (names, index), problems
            allowed = ALLOWED_SIDES[self.item.channel]
            is_allowed = np.array([n in allowed for n in names], dtype=bool)
            problems.append((f"unknown side, expected one of {', '.join(allowed)}",
                             ~missing & ~is_allowed[index]))
            codes = np.array([SIDE_CODES.get(n, UNKNOWN) for n in names], dtype=np.int8)
            return codes[index], problems
        integer = name in ("timestamp", "local_timestamp")
        problems = []
        if text:
            column = pc.utf8_trim_whitespace(column)
            empty = pc.fill_null(pc.equal(column, ""), True)
            ok = pc.match_substring_regex(column, _INT_RE if integer else _FLOAT_RE)
            problems.append(("not a number", _np_bool(pc.and_(pc.invert(empty), pc.invert(ok)))))
            column = pc.cast(pc.if_else(pc.and_(pc.invert(empty), ok), column, None),
                             pa.int64() if integer else pa.float64())
        if integer:
            if column.null_count:
                problems.append(("missing value", _np_bool(pc.is_null(column))))
            return to_numpy(column, null=0).astype(np.int64, copy=False), problems
        values = to_numpy(column, null=np.nan).astype(np.float64, copy=False)
        if name in VALUE_RULES:
            problems.append((VALUE_RULES[name], invalid_values(name, values)))
        return values, problems

    def _bad(self, mask: np.ndarray, field: str, why: str, column, first_line: int) -> np.ndarray:
        if not mask.any():
            return mask
        first = int(np.argmax(mask))
        value = column[first].as_py()
        message = bad_row_message(self.path, first_line + first, field, value, why)
        if not self.skip_bad_rows:
            raise InputError(message)
        self.bad_rows.record(f"{field}: {why}", message, int(mask.sum()))
        return mask


def read_header(path: Path) -> str:
    """The first line of a Tardis file; InputError when it is empty or cannot be read."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            header = handle.readline().rstrip("\r\n")
    except (*_READ_ERRORS, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the file: {exc}") from None
    if not header:
        raise InputError(f"{path}: empty file (not even a header line)")
    return header


def check_readable(item: TardisFile, chunk: int = 1 << 24) -> None:
    """Raise InputError unless `item` has a first line and decompresses to its end.

    `--skip-bad-rows` skips an unreadable file (empty, truncated gzip) as a whole, before any of
    its rows is used, so that the rows of its day are those of a day without the file (`gap`).
    This costs one decompression pass, and only with `--skip-bad-rows`.
    """
    read_header(item.path)
    if item.path.suffix != ".gz":
        return
    try:
        with open(item.path, "rb") as raw, igzip.open(raw, "rb") as stream:
            while stream.read(chunk):
                pass
    except _READ_ERRORS as exc:
        raise InputError(f"{item.path}: cannot read the file: {exc}") from None


def _opened(raw: BinaryIO, path: Path) -> BinaryIO:
    """The text of a file: gzip is decompressed by ISA-L's igzip, about 3x faster than zlib (which
    pyarrow's own gzip stream uses); decompressing was a third of a dense replay's CPU time."""
    return igzip.open(raw, "rb") if path.suffix == ".gz" else raw


def _dictionary(column) -> tuple[list[str], np.ndarray]:
    """A string column as (distinct values + a last '' for missing, index per row)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    names = [*column.dictionary.to_pylist(), ""]
    index = to_numpy(column.indices, null=len(names) - 1).astype(np.intp, copy=False)
    empty = [i for i, n in enumerate(names[:-1]) if n == ""]
    if empty:
        index = np.where(np.isin(index, empty), len(names) - 1, index)
    return names, index


def _np_bool(array) -> np.ndarray:
    return to_numpy(array, null=False)
