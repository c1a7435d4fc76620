"""The daemon's output file: appended across restarts, valid after every write."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import T0

from streamliq.engine.config import FactorConfig
from streamliq.errors import InputError
from streamliq.sinks.append import AppendingFileSink

COLUMNS = FactorConfig.build(freq="1m").columns()


def rows(first: int, n: int) -> list[dict]:
    out = []
    for i in range(first, first + n):
        row = dict.fromkeys(COLUMNS, 0.0)
        row.update(exchange="binance-futures", symbol="BTCUSDT", freq="1m", bar_start=T0 + i * 60_000_000,
                   bar_end=T0 + (i + 1) * 60_000_000, n_events=i, late_events=0, gap=i == 0,
                   long_count=0, short_count=0, all_count=i, all_mean=float("nan"))
        out.append(row)
    return out


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_two_sessions_append_and_read_back_in_order(tmp_path, suffix):
    path = tmp_path / f"live.{suffix}"
    for first in (0, 3):  # a restart appends to what the first session wrote
        sink = AppendingFileSink(path, COLUMNS)
        sink.write(rows(first, 2))
        sink.write(rows(first + 2, 1))
        sink.sync()
        sink.close()
    if suffix == "jsonl":
        frame = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    elif suffix == "csv":
        assert path.read_text().count("exchange,symbol") == 1  # one header
        frame = pd.read_csv(path)
    else:
        assert path.is_dir() and len(list(path.glob("part-*.parquet"))) == 2
        assert not list(path.glob(".*"))  # no temporary part left behind
        frame = pd.read_parquet(path).sort_values("bar_start")
    assert frame["n_events"].tolist() == list(range(6))
    assert frame["gap"].tolist() == [True, False, False, False, False, False]
    assert frame["all_mean"].isna().all()


def test_a_parquet_file_where_the_part_folder_should_be_is_refused(tmp_path):
    (tmp_path / "live.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputError, match="folder of parts"):
        AppendingFileSink(tmp_path / "live.parquet", COLUMNS)
