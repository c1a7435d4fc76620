"""numpy <-> Arrow for fixed-width columns, through their buffers.

`pyarrow.array(ndarray)` and `Array.to_numpy()` import pandas on first use (pyarrow checks
whether the object is a pandas one), which costs a replay ~0.2 s of start-up for a library it
never uses. Fixed-width columns need no conversion at all, so these helpers wrap the buffers
directly: numeric data is shared, not copied; booleans are packed or unpacked bits.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_NUMPY_TYPES = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
                pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64,
                pa.float32(): np.float32, pa.float64(): np.float64}


def to_arrow(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """A 1-D numpy column as an Arrow array of `kind` (bool, a numeric type, or a timestamp from
    int64 units), without nulls; values of another dtype are converted first."""
    if pa.types.is_boolean(kind):
        data = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    else:
        dtype = np.int64 if pa.types.is_timestamp(kind) else _NUMPY_TYPES[kind]
        data = np.ascontiguousarray(values, dtype=dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(data)])


def to_numpy(array: pa.Array | pa.ChunkedArray, null: float | int | bool = 0) -> np.ndarray:
    """A boolean or numeric Arrow array as numpy, its nulls replaced by `null`."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    n, offset = len(array), array.offset
    validity, data = array.buffers()[:2]
    if pa.types.is_boolean(array.type):
        values = _bits(data, offset, n)
    else:
        dtype = _NUMPY_TYPES[array.type]
        values = np.frombuffer(data, dtype=dtype, count=n, offset=offset * np.dtype(dtype).itemsize)
    if array.null_count:
        values = np.where(_bits(validity, offset, n), values, null)
    return values


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """n bits from bit `offset` of an Arrow bitmap, as bools."""
    return np.unpackbits(np.frombuffer(buffer, np.uint8), count=offset + n, bitorder="little")[offset:].astype(bool)
