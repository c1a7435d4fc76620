"""Factor rows at the edges: the engine's RowBlocks (or rows as dicts) to Arrow, pandas or JSON.

Bar times are integer µs inside and become UTC timestamps here (FACTORS.md section 8). A block
becomes an Arrow record batch without copying its numeric columns; dicts are for the sinks that
send rows one at a time.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from .arrays import to_arrow as array_to_arrow
from .engine.block import RowBlock
from .engine.config import INT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

TIME_COLUMNS = ("bar_start", "bar_end")
_FEW_ROWS = 16  # up to this many rows, `rows_to_json` goes row by row
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def arrow_schema(columns: list[str]) -> pa.Schema:
    """The output schema: strings, UTC timestamps, int64 counts, bool gap, float64 factors.

    No column holds a null (an undefined factor is NaN), so every field is non-nullable: a
    Parquet writer then stores no definition levels, which makes writing a third faster.
    """
    def kind(name: str) -> pa.DataType:
        if name in ("exchange", "symbol", "freq"):
            return pa.string()
        if name in TIME_COLUMNS:
            return pa.timestamp("us", tz="UTC")
        if name in INT_COLUMNS:
            return pa.int64()
        if name == "gap":
            return pa.bool_()
        return pa.float64()
    return pa.schema([pa.field(name, kind(name), nullable=False) for name in columns])


def rows_to_arrow(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows as an Arrow table of `schema`.

    Values are picked row by row and transposed: visiting each row dict once is about four
    times faster than a pass over every row per column, which misses the CPU cache on each
    lookup once millions of rows are spread over memory.
    """
    if not rows:
        return schema.empty_table()
    columns = zip(*map(itemgetter(*schema.names), rows), strict=True)
    arrays = [pa.array(values, type=kind) for values, kind in zip(columns, schema.types, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def block_to_arrow(block: RowBlock, schema: pa.Schema) -> pa.RecordBatch:
    """A block as an Arrow record batch of `schema`.

    Numeric columns are not copied (nor is pandas imported, see `arrays`), and coded name
    columns become dictionaries decoded in Arrow, so no Python object is made per row.
    """
    arrays = []
    for name, kind in zip(schema.names, schema.types, strict=True):
        coded = block.coded(name)
        if coded is not None:
            arrays.append(_decoded(*coded))
        elif pa.types.is_string(kind):
            arrays.append(pa.array(block[name], type=kind))
        else:
            arrays.append(array_to_arrow(block[name], kind))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _decoded(codes: np.ndarray, labels: np.ndarray) -> pa.Array:
    """`labels[codes]` as an Arrow string array, decoded from a dictionary in Arrow."""
    encoded = [str(label).encode() for label in labels]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    dictionary = pa.Array.from_buffers(pa.string(), len(encoded),
                                       [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
    indices = array_to_arrow(codes, pa.int64())  # codes index `labels`: no bounds check needed
    return pa.DictionaryArray.from_arrays(indices, dictionary, safe=False).cast(pa.string())


def to_arrow(rows: RowBlock | list[dict], schema: pa.Schema) -> pa.Table:
    """A block or a list of row dicts as an Arrow table of `schema`."""
    if isinstance(rows, RowBlock):
        return pa.Table.from_batches([block_to_arrow(rows, schema)], schema=schema)
    return rows_to_arrow(rows, schema)


def rows_to_frame(rows: RowBlock | list[dict], columns: list[str]) -> pd.DataFrame:
    """Rows as a DataFrame with the output dtypes (datetime64[us, UTC] bar times)."""
    return to_arrow(rows, arrow_schema(columns)).to_pandas()


def format_time(us: int) -> str:
    """ISO 8601 UTC with a Z (`2025-01-26T16:15:00Z`, microseconds only when present)."""
    moment = _EPOCH + timedelta(microseconds=us)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else f"{text}Z"


def rows_to_json(rows: RowBlock | list[dict], index: np.ndarray | None = None) -> list[str]:
    """Rows (those at `index`, default all) as the JSON objects `row_to_json` makes, byte for byte.

    A block is encoded a column at a time: each value's text comes from a C-level repr over its
    column (floats by `float.__repr__`, as `json` does; NaN and infinities as null; bar times
    formatted as one array), and each row is one join: ~1.7x faster than a dict per row (the
    shortest float repr, ~0.27 µs a value, is most of what is left).
    """
    if not isinstance(rows, RowBlock):
        chosen = rows if index is None else [rows[i] for i in index.tolist()]
        return [row_to_json(row) for row in chosen]
    index = np.arange(len(rows)) if index is None else index
    if len(index) <= _FEW_ROWS:  # a column at a time costs more than it saves
        values = zip(*(rows[name][index].tolist() for name in rows.names), strict=True)
        return [row_to_json(dict(zip(rows.names, row, strict=True))) for row in values]
    keys = [json.dumps(name) + ":" for name in rows.names]
    columns = [_json_texts(rows, name, index) for name in rows.names]
    return ["{" + ",".join(map(str.__add__, keys, values)) + "}" for values in zip(*columns, strict=True)]


def _json_texts(block: RowBlock, name: str, index: np.ndarray) -> list[str]:
    """The JSON text of each value of column `name` at `index`."""
    coded = block.coded(name)
    if coded is not None:
        codes, labels = coded
        return np.array([json.dumps(str(label)) for label in labels], dtype=object)[codes[index]].tolist()
    values = block[name][index]
    if name in TIME_COLUMNS:
        return _json_times(values)
    if values.dtype == object:
        return [json.dumps(value) for value in values.tolist()]
    if values.dtype == bool:
        return np.where(values, "true", "false").tolist()
    if values.dtype.kind in "iu":
        return list(map(int.__repr__, values.tolist()))
    texts = list(map(float.__repr__, values.tolist()))
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        texts[i] = "null"
    return texts


def _json_times(us: np.ndarray) -> list[str]:
    """`format_time` of each value, quoted, for a whole column."""
    moments = us.astype("datetime64[us]")
    whole = np.char.add(np.datetime_as_string(moments.astype("datetime64[s]")), "Z\"")
    if (us % 1_000_000).any():
        whole = np.where(us % 1_000_000 == 0, whole, np.char.add(np.datetime_as_string(moments), "Z\""))
    return np.char.add('"', whole).tolist()


def row_to_json(row: dict) -> str:
    """One row as a JSON object: NaN as null, bar times as ISO strings."""
    out = {}
    for key, value in row.items():
        if key in TIME_COLUMNS:
            value = format_time(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return json.dumps(out, separators=(",", ":"))
