"""RowBlock.concat keeps name columns as codes, also across an engine's growing label tables;
blocks become the JSON rows `row_to_json` makes, a column at a time; a block in a pending order
reads like the taken rows."""

import threading

import numpy as np
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from streamliq.engine.block import RowBlock
from streamliq.rows import row_to_json, rows_to_json
from streamliq.sinks.files import FileSink

NAMES = ["exchange", "symbol", "freq", "bar_start", "count_long"]


def _labels(*values: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _block(symbols: np.ndarray, codes: list[int], start: int) -> RowBlock:
    n = len(codes)
    return RowBlock(NAMES, {"bar_start": np.arange(start, start + n, dtype=np.int64),
                            "count_long": np.arange(n, dtype=np.int64)},
                    {"exchange": (np.zeros(n, np.int32), _labels("binance-futures")),
                     "symbol": (np.asarray(codes, np.int32), symbols),
                     "freq": (np.zeros(n, np.int32), _labels("5m"))})


def test_concat_of_blocks_with_different_label_tables_stays_coded():
    early = _block(_labels("ETHUSDT", "BTCUSDT"), [0, 1, 0], 0)
    later = _block(_labels("ETHUSDT", "BTCUSDT", "AAVEUSDT"), [2, 0, 1, 2], 3)  # an instrument was added
    uncoded = RowBlock(NAMES, dict(later.columns))  # rows from dicts: object columns, no codes

    joined = RowBlock.concat([early, later], NAMES)

    assert joined.coded("symbol") is not None and len(joined.coded("symbol")[1]) == 3
    assert joined["symbol"].tolist() == ["ETHUSDT", "BTCUSDT", "ETHUSDT", "AAVEUSDT", "ETHUSDT", "BTCUSDT",
                                         "AAVEUSDT"]
    assert joined["bar_start"].tolist() == list(range(7))
    mixed = RowBlock.concat([early, uncoded], NAMES)
    assert mixed.coded("symbol") is None
    assert mixed["symbol"].tolist() == joined["symbol"].tolist()


def test_a_file_sink_joins_small_blocks_into_one_row_group(tmp_path):
    blocks = [_block(_labels("ETHUSDT", "BTCUSDT"), [0, 1], 0),
              _block(_labels("ETHUSDT", "BTCUSDT", "AAVEUSDT"), [2, 1, 0], 2)]
    sink = FileSink(tmp_path / "out.parquet", NAMES)
    for block in blocks:
        sink.write(block)
    sink.close()

    written = pq.ParquetFile(tmp_path / "out.parquet")
    assert written.metadata.num_row_groups == 1
    table = written.read()
    assert table.column("symbol").to_pylist() == ["ETHUSDT", "BTCUSDT", "AAVEUSDT", "BTCUSDT", "ETHUSDT"]
    assert table.column("bar_start").cast("int64").to_pylist() == [0, 1, 2, 3, 4]


@settings(max_examples=80, deadline=None)
@given(data=st.data(), n=st.integers(0, 40))
def test_rows_to_json_writes_what_row_to_json_writes(data, n):
    """The column-at-a-time JSON equals the row-by-row one, byte for byte, on any values."""
    floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 5e-324, 1e16, 0.1])
    times = st.integers(-10**15, 10**17) | st.integers(0, 10**11).map(lambda s: s * 1_000_000)
    symbols = _labels("BTCUSDT", 'we"ird\\u00e9', "ETHUSDT")
    codes = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int32)
    names = ["exchange", "symbol", "freq", "bar_start", "bar_end", "count_long", "gap", "all_notional_z24"]
    columns = {"bar_start": np.array(data.draw(st.lists(times, min_size=n, max_size=n)), np.int64),
               "bar_end": np.array(data.draw(st.lists(times, min_size=n, max_size=n)), np.int64),
               "count_long": np.array(data.draw(st.lists(st.integers(-2**63, 2**63 - 1), min_size=n, max_size=n)),
                                      np.int64),
               "gap": np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool),
               "all_notional_z24": np.array(data.draw(st.lists(floats, min_size=n, max_size=n)), np.float64),
               "freq": np.array(["5m"] * n, dtype=object)}
    block = RowBlock(names, columns, {"symbol": (codes, symbols), "exchange": (np.zeros(n, np.int32), _labels("x"))})
    expected = [row_to_json(row) for row in block.to_dicts()]
    assert rows_to_json(block) == expected
    some = np.array(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n if n else 0)), np.int64)
    assert rows_to_json(block, some) == [expected[i] for i in some.tolist()]


def test_a_block_in_a_pending_order_reads_like_the_taken_rows_from_any_thread():
    rng = np.random.default_rng(5)
    n = 2_000
    symbols = _labels("AUSDT", "BUSDT", "CUSDT")
    names = ["exchange", "symbol", "freq", "bar_start", "count_long", "gap", "all_notional_z24"]
    source = RowBlock(names, {"bar_start": rng.integers(0, 10**12, n), "count_long": rng.integers(0, 9, n),
                              "gap": rng.random(n) < 0.1, "all_notional_z24": rng.normal(size=n)},
                      {"exchange": (np.zeros(n, np.int32), _labels("x")),
                       "symbol": (rng.integers(0, 3, n).astype(np.int32), symbols),
                       "freq": (np.zeros(n, np.int32), _labels("5m"))})
    order = rng.permutation(n)
    eager, lazy = source.take(order), source.in_order(order)
    assert len(lazy) == n
    readers = [threading.Thread(target=lambda: [lazy[name] for name in reversed(names)]) for _ in range(4)]
    for reader in readers:
        reader.start()
    chunk = lazy.take(slice(100, 300))  # taken while other threads gather columns
    for reader in readers:
        reader.join()
    assert lazy.to_dicts() == eager.to_dicts()
    assert chunk.to_dicts() == eager.take(slice(100, 300)).to_dicts()
    pending = source.in_order(order)
    for index in (slice(5, 50), np.arange(0, n, 7), rng.random(n) < 0.3):
        assert pending.take(index).to_dicts() == eager.take(index).to_dicts()
    assert np.array_equal(pending.coded("symbol")[0], eager.coded("symbol")[0])
    assert RowBlock.concat([pending, source.in_order(order[:10])], names).to_dicts() == \
        RowBlock.concat([eager, source.take(order[:10])], names).to_dicts()
