"""RowBlock.concat keeps name columns as codes, also across an engine's growing label tables."""

import numpy as np
import pyarrow.parquet as pq

from streamliq.engine.block import RowBlock
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
