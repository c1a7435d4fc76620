"""Columns cross between numpy and Arrow through their buffers, nulls and offsets included."""

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from streamliq.arrays import to_arrow, to_numpy


@pytest.mark.parametrize(("values", "kind"), [
    (np.array([1.5, np.nan, -0.0, 1e300]), pa.float64()),
    (np.array([3, -4, 2**62]), pa.int64()),
    (np.array([True, False, True] * 5), pa.bool_()),
    (np.array([0, 60_000_000]), pa.timestamp("us", tz="UTC")),
    (np.array([1, 2, 3]), pa.float64()),  # converted, never reinterpreted
])
def test_to_arrow_equals_pyarrows_own_conversion(values, kind):
    expected = pa.array(values.astype(np.int64), type=pa.int64()).view(kind) if pa.types.is_timestamp(kind) \
        else pa.array(values, type=kind)
    got = to_arrow(values, kind)
    assert (got.type, got.null_count, len(got)) == (expected.type, 0, len(expected))
    assert got.buffers()[1].to_pybytes() == expected.buffers()[1].to_pybytes()  # bit for bit (NaN != NaN)


def test_to_numpy_fills_nulls_and_honours_slices():
    floats = pa.array([1.0, None, 3.0, 4.0])[1:]
    assert np.array_equal(to_numpy(floats, null=np.nan), [np.nan, 3.0, 4.0], equal_nan=True)
    ints = pa.chunked_array([pa.array([5, None], pa.int64()), pa.array([7], pa.int64())])
    assert to_numpy(ints, null=0).tolist() == [5, 0, 7]
    flags = pa.array([True, None, False, True, True, False, False, True, True])[3:]
    assert to_numpy(flags, null=False).tolist() == [True, True, False, False, True, True]
    indices = pa.array([2, None, 0], pa.int32())
    assert to_numpy(indices, null=9).tolist() == [2, 9, 0]


def test_a_replay_never_imports_pandas(tmp_path):
    code = ("import sys; from streamliq.cli import main; "
            f"main(['replay', '--freq', '1h', '--out', r'{tmp_path / 'out.parquet'}', '--quiet']); "
            "print('pandas' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith("False")
