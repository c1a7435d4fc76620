"""Forward-return labels: against a plain pandas shift(-h) reference on rows with holes, and by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from research_data import HOUR, T0, factor_rows, reference_labels

import streamliq
from streamliq import FactorConfig
from streamliq.cli import main
from streamliq.errors import InputError

HORIZONS = (1, 4, 24)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return factor_rows()


@pytest.mark.parametrize("delay", [0, 2])
def test_labels_match_a_pandas_shift_reference_on_rows_with_holes(rows, delay):
    got = streamliq.labels(rows, horizons=HORIZONS, entry_delay=delay)
    assert list(got.columns[: len(rows.columns)]) == list(rows.columns)
    assert got[rows.columns].equals(rows)  # rows and their order untouched
    key = ["exchange", "symbol", "bar_start"]
    for h in HORIZONS:
        want = reference_labels(rows, h, delay)
        merged = got[key].merge(want, on=key, how="left", validate="one_to_one")
        for kind in ("ret", "absret", "maxdd", "maxup"):
            name = f"fwd_{kind}_{h}"
            np.testing.assert_allclose(got[name].to_numpy(), merged[name].to_numpy(), rtol=1e-12, atol=1e-15,
                                       equal_nan=True, err_msg=name)
        defined = got[f"fwd_ret_{h}"].notna()
        assert 0.3 < defined.mean() < 1.0  # the holes bite
        extremes = got[f"fwd_maxdd_{h}"].notna()
        assert extremes[~defined].sum() == 0 and extremes[defined].mean() > 0.5
        assert (got.loc[extremes, f"fwd_maxdd_{h}"] <= got.loc[extremes, f"fwd_ret_{h}"] + 1e-15).all()
        assert (got.loc[extremes, f"fwd_maxup_{h}"] >= got.loc[extremes, f"fwd_ret_{h}"] - 1e-15).all()


def series(closes: list[float], gap: list[bool] | None = None, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    n = len(closes)
    frame = pd.DataFrame({"exchange": "binance-futures", "symbol": "BTCUSDT", "freq": "1h",
                          "bar_start": T0 + HOUR * np.arange(n), "gap": gap or [False] * n, "close": closes})
    return frame.drop(index=list(drop)).reset_index(drop=True)


def test_labels_by_hand():
    frame = series([100.0, 110.0, 99.0, 121.0, math.nan, 130.0, 0.0, 140.0])
    got = streamliq.labels(frame, horizons=[1, 2])
    ln = math.log
    assert got["fwd_ret_1"].tolist()[:4] == pytest.approx([ln(1.1), ln(99 / 110), ln(121 / 99), math.nan], nan_ok=True)
    assert got["fwd_ret_2"].tolist()[:3] == pytest.approx([ln(0.99), ln(1.1), math.nan], nan_ok=True)
    # Bar 3 -> 5 skips a NaN close inside: the return is defined, its extremes are not.
    assert got.loc[3, "fwd_ret_2"] == pytest.approx(ln(130 / 121))
    assert math.isnan(got.loc[3, "fwd_maxdd_2"]) and math.isnan(got.loc[3, "fwd_maxup_2"])
    assert got.loc[0, "fwd_maxdd_2"] == pytest.approx(ln(0.99)) and got.loc[0, "fwd_maxup_2"] == pytest.approx(ln(1.1))
    assert got.loc[1, "fwd_maxdd_2"] == pytest.approx(ln(99 / 110))
    assert got.loc[1, "fwd_maxup_2"] == pytest.approx(ln(1.1))
    assert got["fwd_ret_1"].iloc[5:].isna().all()  # a zero close, then the end of the data
    assert got["fwd_absret_1"].tolist()[1] == pytest.approx(-ln(99 / 110))


def test_a_missing_bar_or_a_gap_inside_the_window_and_not_at_the_entry():
    # Bar 2 is not in the file: rows 1 and 3 are neighbours in the file, not in time.
    frame = series([100.0, 101.0, 102.0, 103.0, 104.0], drop=(2,))
    got = streamliq.labels(frame, horizons=[1, 2])
    assert got["fwd_ret_1"].tolist() == pytest.approx([math.log(1.01), math.nan, math.log(104 / 103), math.nan],
                                                      nan_ok=True)
    gapped = streamliq.labels(series([100.0, 101.0, 102.0, 103.0], gap=[True, False, True, False]), horizons=[1])
    # The entry bar's own gap does not matter (its close is known at its end); a gap in the window does.
    assert gapped["fwd_ret_1"].tolist() == pytest.approx([math.log(1.01), math.nan, math.log(103 / 102), math.nan],
                                                         nan_ok=True)


def test_entry_delay_moves_the_entry_bar():
    got = streamliq.labels(series([100.0, 110.0, 121.0, 133.1]), horizons=[1], entry_delay=1)
    assert got["fwd_ret_1"].tolist() == pytest.approx([math.log(1.1), math.log(1.1), math.nan, math.nan],
                                                      nan_ok=True)


def test_bad_frames_are_input_errors():
    with pytest.raises(InputError, match="no 'close' column"):
        streamliq.labels(series([1.0, 2.0]).drop(columns="close"))
    with pytest.raises(InputError, match="duplicate rows for binance-futures BTCUSDT 1h"):
        streamliq.labels(pd.concat([series([1.0, 2.0]), series([1.0])]))
    with pytest.raises(InputError, match="horizons must be whole numbers"):
        streamliq.labels(series([1.0, 2.0]), horizons=[0])


def test_labels_are_offline_only():
    # No replay, live or served row carries a label: they are not factor columns.
    assert not [c for c in FactorConfig().columns() if c.startswith("fwd_")]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_labels_command_round_trips(rows, tmp_path, capsys, suffix):
    source, out = tmp_path / "factors.parquet", tmp_path / f"train{suffix}"
    rows.to_parquet(source)
    assert main(["labels", str(source), "--horizons", "4,1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    want = streamliq.labels(rows, horizons=[1, 4])
    assert err.startswith(f"streamliq labels: {len(rows):,} rows, defined labels: fwd_ret_1 "
                          f"{want['fwd_ret_1'].notna().sum():,}, fwd_ret_4 {want['fwd_ret_4'].notna().sum():,}")
    got = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert len(got) == len(rows)
    for name in ("fwd_ret_1", "fwd_ret_4", "fwd_maxdd_4", "fwd_maxup_1", "fwd_absret_4"):
        np.testing.assert_allclose(got[name].to_numpy(float), want[name].to_numpy(), rtol=1e-12, equal_nan=True)
    # And a labelled file reads back as a factor file: labels made again replace the old ones.
    again = tmp_path / "again.parquet"
    if suffix == ".parquet":
        assert main(["labels", str(out), "--horizons", "1,4", "--out", str(again)]) == 0
        assert list(pd.read_parquet(again).columns) == list(want.columns)


@pytest.mark.parametrize(("argv", "message"), [
    (["--horizons", "1,x"], "invalid --horizons '1,x'"),
    (["--out", "train.txt"], "unknown extension, use .parquet, .csv"),
    (["--freq", "15m"], "no rows for frequency 15m; its frequencies are 1h"),
])
def test_labels_command_errors(rows, tmp_path, capsys, argv, message):
    source = tmp_path / "factors.parquet"
    rows.to_parquet(source)
    assert main(["labels", str(source), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_parquet_folder_of_parts_and_a_hive_dataset(rows, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts, hive = tmp_path / "parts", tmp_path / "hive"
    parts.mkdir()
    half = len(rows) // 2
    rows.iloc[:half].to_parquet(parts / "part-1.parquet")
    rows.iloc[half:].to_parquet(parts / "part-2.parquet")
    pq.write_to_dataset(pa.Table.from_pandas(rows), hive, partition_cols=["freq", "symbol"])
    want = streamliq.labels(rows, horizons=[4]).set_index(["exchange", "symbol", "bar_start"])["fwd_ret_4"]
    for folder in (parts, hive):
        out = tmp_path / f"{folder.name}.parquet"
        assert main(["labels", str(folder), "--horizons", "4", "--freq", "60min", "--out", str(out)]) == 0
        got = pd.read_parquet(out).set_index(["exchange", "symbol", "bar_start"])["fwd_ret_4"]
        assert len(got) == len(rows)
        np.testing.assert_array_equal(got.sort_index().to_numpy(), want.sort_index().to_numpy())
    capsys.readouterr()
