"""Positioning readers: layouts, time formats, zipped files, duplicates, conflicts, symbols,
periods, bad cells, and REST rows for live pollers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import LIQ_COLUMNS
from positioning_data import VISION_HEADER, write_vision_day

from streamliq import LiquidationFactorEngine, read_metrics, replay
from streamliq.cli import main
from streamliq.errors import InputError
from streamliq.sources.positioning.discovery import LAYOUTS, discover_metric_streams
from streamliq.sources.positioning.rest import metric_event_from_rest

RATIO_HEADER = "open_time,symbol,longAccount,longShortRatio,shortAccount"
TAKER_HEADER = "open_time,buySellRatio,sellVol,buyVol"
OI_HEADER = "open_time,symbol,openInterest"
NS_0000 = 1_759_276_800_000_000_000  # 2025-10-01 00:00:00 UTC in ns
MIN_NS = 60_000_000_000


def dump(folder: Path, name: str, month: str, header: str, lines: list[str]) -> Path:
    path = folder / name / f"{name}_{month}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def ratio_lines(times: list[str], symbol: str = "BTCUSDT", start: float = 0.5) -> list[str]:
    return [f"{t},{symbol},{start + i / 100:.4f},{(start + i / 100) / (1 - start - i / 100):.6f},"
            f"{1 - start - i / 100:.4f}" for i, t in enumerate(times)]


def ns_times(n: int, step_min: int = 5, first: int = NS_0000) -> list[str]:
    return [str(first + i * step_min * MIN_NS) for i in range(n)]


def text_times(n: int, step_min: int = 5) -> list[str]:
    return [(pd.Timestamp(NS_0000) + pd.Timedelta(minutes=i * step_min)).strftime("%Y-%m-%d %H:%M:%S")
            for i in range(n)]


def read(folder: Path) -> pd.DataFrame:
    return read_metrics(folder)


# -- time formats and the publication time ----------------------------------------------------
def test_nanosecond_and_string_times_give_the_same_events(tmp_path):
    dump(tmp_path / "ns", "topLongShortPositionRatio", "2025-10", RATIO_HEADER, ratio_lines(ns_times(6)))
    dump(tmp_path / "text", "topLongShortPositionRatio", "2025-10", RATIO_HEADER, ratio_lines(text_times(6)))
    ns, text = read(tmp_path / "ns"), read(tmp_path / "text")
    pd.testing.assert_frame_equal(ns, text)
    # published one period after the stamped open time: 00:00 is public at 00:05
    assert ns.index[0] == pd.Timestamp("2025-10-01 00:05", tz="UTC")
    assert ns["top_pos_ls_ratio"].iloc[0] == pytest.approx(1.0)
    assert ns["symbol"].unique().tolist() == ["BTCUSDT"] and ns["exchange"].iat[0] == "binance-futures"


def test_iso_times_with_t_z_and_offsets(tmp_path):
    times = ["2025-10-01T00:00:00Z", "2025-10-01 02:05:00+02:00", "2025-10-01T00:10:00.000"]
    dump(tmp_path, "openInterest", "2025-10", OI_HEADER, [f"{t},ETHUSDT,{i + 1}" for i, t in enumerate(times)])
    frame = read(tmp_path)
    assert frame.index.tolist() == [pd.Timestamp("2025-10-01 00:05", tz="UTC") + pd.Timedelta(minutes=5 * i)
                                    for i in range(3)]


@pytest.mark.parametrize(("cell", "why"), [
    ("1759276800000", "an integer time must be nanoseconds since the epoch (19 digits, years 2000-2099)"),
    ("1759276800", "an integer time must be nanoseconds since the epoch (19 digits, years 2000-2099)"),
    ("99999999999999999999999", "an integer time must be nanoseconds since the epoch (19 digits, years 2000-2099)"),
    ("yesterday", "not a time: expected nanoseconds since the epoch or a datetime like 2025-01-01 00:05:00"),
    ("2025-02-30 00:00:00", "impossible date"),
    ("", "not a time: expected nanoseconds since the epoch or a datetime like 2025-01-01 00:05:00"),
])
def test_other_time_formats_are_errors(tmp_path, cell, why):
    path = dump(tmp_path, "openInterest", "2025-10", OI_HEADER,
                [f"{NS_0000},ETHUSDT,1", f"{cell},ETHUSDT,2", f"{NS_0000 + 10 * MIN_NS},ETHUSDT,3"])
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == f"{path}:3: field 'open_time': {why} (got {cell!r})"


def test_period_is_the_spacing_of_the_rows(tmp_path):
    dump(tmp_path, "topLongShortAccountRatio", "2025-10", RATIO_HEADER,
         ratio_lines(ns_times(3, 60) + ns_times(2, 60, NS_0000 + 300 * MIN_NS)))  # hourly, one hole
    assert read(tmp_path).index[0] == pd.Timestamp("2025-10-01 01:00", tz="UTC")


def test_period_is_the_largest_binance_period_fitting_the_gaps(tmp_path):
    """Gaps of 10 and 15 minutes: only 5m fits both; 30-minute gaps with a hole: 30m."""
    dump(tmp_path / "a", "openInterest", "2025-10", OI_HEADER,
         [f"{t},ETHUSDT,{i}" for i, t in enumerate([NS_0000, NS_0000 + 10 * MIN_NS, NS_0000 + 25 * MIN_NS])])
    assert read(tmp_path / "a").index[0] == pd.Timestamp("2025-10-01 00:05", tz="UTC")
    dump(tmp_path / "b", "openInterest", "2025-10", OI_HEADER,
         [f"{t},ETHUSDT,{i}" for i, t in enumerate([NS_0000, NS_0000 + 30 * MIN_NS, NS_0000 + 90 * MIN_NS])])
    assert read(tmp_path / "b").index[0] == pd.Timestamp("2025-10-01 00:30", tz="UTC")


def test_a_file_of_single_rows_takes_the_period_of_the_previous_file(tmp_path):
    dump(tmp_path, "openInterest", "2025-09", OI_HEADER,
         [f"{NS_0000 - 30 * MIN_NS},ETHUSDT,1", f"{NS_0000 - 15 * MIN_NS},ETHUSDT,2"])
    dump(tmp_path, "openInterest", "2025-10", OI_HEADER, [f"{NS_0000},ETHUSDT,3"])
    assert read(tmp_path).index[-1] == pd.Timestamp("2025-10-01 00:15", tz="UTC")


def test_period_errors(tmp_path):
    single = dump(tmp_path / "a", "openInterest", "2025-10", OI_HEADER, [f"{NS_0000},ETHUSDT,3"])
    with pytest.raises(InputError) as info:
        read(tmp_path / "a")
    assert str(info.value) == (f"{single}: cannot tell the period of the statistics from one row per symbol; "
                               f"the value's publication time (time + period) is unknown")
    odd = dump(tmp_path / "b", "openInterest", "2025-10", OI_HEADER,
               [f"{t},ETHUSDT,{i}" for i, t in enumerate(ns_times(4, 7))])
    with pytest.raises(InputError) as info:
        read(tmp_path / "b")
    assert str(info.value) == (f"{odd}: the rows' times are spaced by multiples of 7 minutes, which fits no "
                               f"Binance statistics period (5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d)")


# -- duplicates and conflicts -----------------------------------------------------------------
def test_exact_duplicates_are_dropped_and_counted(tmp_path):
    lines = ratio_lines(text_times(4))
    repeated = [lines[0]] * 3 + [lines[1]] * 5 + [lines[2], lines[3], lines[1]]
    dump(tmp_path, "globalLongShortAccountRatio", "2025-10", RATIO_HEADER, repeated)
    dump(tmp_path, "globalLongShortAccountRatio", "2025-11", RATIO_HEADER,
         ratio_lines(text_times(4))[2:])  # the next month repeats the last rows of this one
    (stream,) = discover_metric_streams(tmp_path)
    batches = list(stream)
    assert sum(len(b) for b in batches) == 4 == stream.rows
    assert stream.duplicates == 2 + 4 + 1 + 2
    assert np.concatenate([b.global_acct_ls_ratio for b in batches]).tolist() == pytest.approx(
        [(0.5 + i / 100) / (0.5 - i / 100) for i in range(4)], rel=1e-6)


def test_same_values_written_differently_are_duplicates(tmp_path):
    dump(tmp_path, "openInterest", "2025-10", OI_HEADER,
         [f"{NS_0000},ETHUSDT,1.50", "2025-10-01 00:00:00,ETHUSDT,1.5", f"{NS_0000 + 5 * MIN_NS},ETHUSDT,2"])
    (stream,) = discover_metric_streams(tmp_path)
    assert sum(len(b) for b in stream) == 2 and stream.duplicates == 1


def test_conflicting_rows_name_both_lines(tmp_path):
    path = dump(tmp_path, "openInterest", "2025-10", OI_HEADER,
                [f"{NS_0000},ETHUSDT,1", f"{NS_0000 + 5 * MIN_NS},ETHUSDT,2", f"{NS_0000},ETHUSDT,1.5"])
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == (f"{path}:4: conflicting rows for ETHUSDT at 2025-10-01T00:00:00Z: "
                               f"{path}:2 has openInterest=1.0, this line has 1.5")


def test_conflicts_across_files_name_both_files(tmp_path):
    first = dump(tmp_path, "topLongShortPositionRatio", "2025-09", RATIO_HEADER, ratio_lines(text_times(2)))
    second = dump(tmp_path, "topLongShortPositionRatio", "2025-10", RATIO_HEADER,
                  ratio_lines(text_times(3)[1:], start=0.6))
    with pytest.raises(InputError, match=rf"^{second}:2: conflicting rows for BTCUSDT at 2025-10-01T00:05:00Z: "
                                         rf"{first}:3 has longShortRatio=1.040816, this line has 1.5$"):
        read(tmp_path)


def test_files_that_overlap_with_new_rows_are_an_error(tmp_path):
    first = dump(tmp_path, "openInterest", "2025-09", OI_HEADER,
                 [f"{t},ETHUSDT,{i}" for i, t in enumerate(ns_times(3))])
    second = dump(tmp_path, "openInterest", "2025-10", OI_HEADER,
                  [f"{t},BTCUSDT,{i}" for i, t in enumerate(ns_times(3))])
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == (f"{second}:2: BTCUSDT at 2025-10-01T00:00:00Z comes before the last row of "
                               f"{first}:4: files of one folder must follow each other in time")


# -- data.binance.vision metrics files --------------------------------------------------------
def test_zipped_plain_and_headerless_metrics_files_read_the_same(tmp_path):
    write_vision_day(tmp_path / "plain", "BTCUSDT", "2025-10-01")
    write_vision_day(tmp_path / "zip", "BTCUSDT", "2025-10-01", zipped=True)
    write_vision_day(tmp_path / "old", "BTCUSDT", "2025-10-01", header=False)
    plain = read(tmp_path / "plain")
    pd.testing.assert_frame_equal(read(tmp_path / "zip"), plain)
    pd.testing.assert_frame_equal(read(tmp_path / "old"), plain)
    assert len(plain) == 288 and plain.index[0] == pd.Timestamp("2025-10-01 00:05", tz="UTC")
    source = pd.read_csv(tmp_path / "plain" / "BTCUSDT-metrics-2025-10-01.csv")
    assert plain["metric_open_interest"].tolist() == source["sum_open_interest"].tolist()
    assert plain["top_pos_ls_ratio"].isna().sum() == source["sum_toptrader_long_short_ratio"].isna().sum() > 0
    assert plain["top_acct_ls_ratio"].tolist() == source["count_toptrader_long_short_ratio"].tolist()
    assert plain["global_acct_ls_ratio"].tolist() == source["count_long_short_ratio"].tolist()
    assert plain["taker_buy_sell_ratio"].tolist() == source["sum_taker_long_short_vol_ratio"].tolist()
    assert plain["taker_buy_vol"].isna().all()


def test_a_day_kept_zipped_and_unzipped_counts_once(tmp_path):
    write_vision_day(tmp_path, "ETHUSDT", "2025-10-01", zipped=True)
    write_vision_day(tmp_path, "ETHUSDT", "2025-10-01")
    write_vision_day(tmp_path, "ETHUSDT", "2025-10-02", seed=3)
    (stream,) = discover_metric_streams(tmp_path)
    assert sum(len(b) for b in stream) == 576 and stream.duplicates == 288


def test_metrics_file_errors(tmp_path):
    path = tmp_path / "BTCUSDT-metrics-2025-10-01.csv"
    path.write_text(VISION_HEADER + "\n2025-10-01 00:00:00,BTCUSDT,1,2,3,abc,5,6\n")
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == f"{path}:2: field 'sum_toptrader_long_short_ratio': not a number (got 'abc')"
    path.write_text("time,symbol\n1,2\n")
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == f"{path}:1: missing header with column 'create_time' (got 'time,symbol')"
    (tmp_path / "BTCUSDT-metrics-2025-10-01.zip").write_bytes(b"not a zip")
    path.unlink()
    with pytest.raises(InputError, match=r"BTCUSDT-metrics-2025-10-01.zip: cannot read the file"):
        read(tmp_path)


# -- layouts and symbols ----------------------------------------------------------------------
def test_taker_symbol_from_the_other_dumps(tmp_path):
    dump(tmp_path, "openInterest", "2025-10", OI_HEADER, [f"{t},ethusdt,{i}" for i, t in enumerate(ns_times(3))])
    dump(tmp_path, "takerlongshortRatio", "2025-10", TAKER_HEADER, [f"{t},1.5,2,3" for t in ns_times(3)])
    frame = read(tmp_path)
    taker = frame.dropna(subset=["taker_buy_vol"])
    assert taker["symbol"].unique().tolist() == ["ETHUSDT"] and len(taker) == 3
    assert taker[["taker_buy_sell_ratio", "taker_buy_vol", "taker_sell_vol"]].iloc[0].tolist() == [1.5, 3.0, 2.0]


def test_taker_symbol_from_a_per_symbol_folder(tmp_path):
    for symbol in ("BTCUSDT", "SOLUSDT"):
        dump(tmp_path / symbol, "takerlongshortRatio", "2025-10", TAKER_HEADER,
             [f"{t},1.5,2,3" for t in text_times(2)])
    frame = read(tmp_path)
    assert frame.groupby("symbol").size().to_dict() == {"BTCUSDT": 2, "SOLUSDT": 2}


def test_taker_file_with_a_symbol_column(tmp_path):
    dump(tmp_path, "takerlongshortRatio", "2025-10", "open_time,symbol,buySellRatio,sellVol,buyVol",
         [f"{t},XRPUSDT,1.5,2,3" for t in text_times(2)])
    assert read(tmp_path)["symbol"].tolist() == ["XRPUSDT", "XRPUSDT"]


def test_taker_symbol_that_cannot_be_known(tmp_path):
    taker = dump(tmp_path / "dumps", "takerlongshortRatio", "2025-10", TAKER_HEADER,
                 [f"{t},1.5,2,3" for t in text_times(2)])
    with pytest.raises(InputError) as info:
        read(tmp_path / "dumps")
    folder = tmp_path / "dumps"
    assert str(info.value) == (
        f"{taker}: takerlongshortRatio rows have no symbol column and their symbol cannot be known: no other "
        f"dump in '{folder}' names a symbol and 'dumps' is not a symbol; add a symbol column, or keep each "
        f"symbol's dumps in a folder named after it ({folder}/BTCUSDT/takerlongshortRatio/...)")
    dump(folder, "openInterest", "2025-10", OI_HEADER,
         ["2025-10-01 00:00:00,ETHUSDT,1", "2025-10-01 00:00:00,BTCUSDT,1"])
    with pytest.raises(InputError, match=r"the other dumps in '.*dumps' hold several symbols \(BTCUSDT, ETHUSDT\)"):
        read(folder)


def test_symbol_filter_and_missing_columns(tmp_path):
    dump(tmp_path, "openInterest", "2025-10", OI_HEADER,
         [f"{t},{s},{i}" for i, t in enumerate(ns_times(3)) for s in ("ETHUSDT", "BTCUSDT")])
    write_vision_day(tmp_path, "SOLUSDT", "2025-10-01")
    assert read_metrics(tmp_path, symbols=["ethusdt"])["symbol"].unique().tolist() == ["ETHUSDT"]
    path = dump(tmp_path, "topLongShortAccountRatio", "2025-10", "open_time,symbol,longShortRatio", [])
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == f"{path}:1: missing column 'longAccount' (header: open_time,symbol,longShortRatio)"


def test_no_positioning_file(tmp_path):
    (tmp_path / "notes.csv").write_text("a\n")
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == f"no positioning file under '{tmp_path}': expected {LAYOUTS}"
    with pytest.raises(InputError, match="does not exist or is not a folder"):
        read(tmp_path / "missing")


# -- replay options and the pandas API --------------------------------------------------------
def liquidation_file(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ts = NS_0000 // 1000 + 7 * 60_000_000
    (folder / "binance-futures_liquidations_2025-10-01_ETHUSDT.csv").write_text(
        ",".join(LIQ_COLUMNS) + f"\nbinance-futures,ETHUSDT,{ts},{ts + 1000},,buy,2400,1\n")


def test_skip_bad_rows_counts_bad_metric_rows(tmp_path, capsys):
    liquidation_file(tmp_path / "tardis")
    dump(tmp_path / "m", "openInterest", "2025-10", OI_HEADER,
         [f"{NS_0000},ETHUSDT,1", f"{NS_0000 + 5 * MIN_NS},ETHUSDT,x", f"{NS_0000 + 10 * MIN_NS},ETHUSDT,3"])
    argv = ["replay", "--data-dir", str(tmp_path / "tardis"), "--metrics-dir", str(tmp_path / "m"),
            "--freq", "5m", "--out", str(tmp_path / "out.csv")]
    assert main(argv) == 2
    assert "field 'openInterest': not a number (got 'x')" in capsys.readouterr().err
    assert main([*argv, "--skip-bad-rows"]) == 0
    err = capsys.readouterr().err
    assert "positioning rows: 2 read, 0 exact duplicates dropped" in err
    assert "skipped 1 bad rows: 1 openInterest: not a number" in err
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["metric_open_interest"].tolist() == [1.0, 1.0, 3.0]  # bars from 00:05, when 00:00 is public


def test_metrics_outside_the_replayed_days_are_not_read_into_rows(tmp_path):
    liquidation_file(tmp_path / "tardis")
    write_vision_day(tmp_path / "m", "ETHUSDT", "2025-09-30")
    write_vision_day(tmp_path / "m", "ETHUSDT", "2025-10-01", seed=4)
    write_vision_day(tmp_path / "m", "ETHUSDT", "2025-10-02", seed=5)
    frame = replay(tmp_path / "tardis", freq="1h", metrics_dir=tmp_path / "m").reset_index()
    assert frame["bar_start"].min() == pd.Timestamp("2025-10-01", tz="UTC")
    assert frame["bar_end"].max() == pd.Timestamp("2025-10-02", tz="UTC")
    assert frame["n_events"].sum() == 1 + 288  # the 23:55 row of 09-30 is published at 00:00 on 10-01
    assert frame["metric_open_interest"].notna().all()


def test_metrics_frame_needs_a_metric_column():
    liq = pd.DataFrame({"side": ["buy"], "price": [1.0], "amount": [1.0]},
                       index=pd.DatetimeIndex([pd.Timestamp("2025-10-01")]))
    with pytest.raises(InputError, match=r"^metrics frame: none of the columns top_pos_ls_ratio, .*taker_sell_vol "
                                         r"\(columns: ratio\)$"):
        LiquidationFactorEngine().process(liq, metrics_df=pd.DataFrame({"ratio": [1.0]}, index=liq.index))


# -- REST rows for live pollers ---------------------------------------------------------------
@pytest.mark.parametrize(("endpoint", "row", "expected"), [
    ("topLongShortPositionRatio", {"symbol": "BTCUSDT", "longShortRatio": "1.4342", "longAccount": "0.5891",
                                   "shortAccount": "0.4108", "timestamp": 1791382800000}, {"top_pos_ls_ratio": 1.4342}),
    ("topLongShortAccountRatio", {"symbol": "BTCUSDT", "longShortRatio": "1.8105", "timestamp": "1791382800000"},
     {"top_acct_ls_ratio": 1.8105}),
    ("globalLongShortAccountRatio", {"symbol": "BTCUSDT", "longShortRatio": 1.9559, "timestamp": 1791382800000},
     {"global_acct_ls_ratio": 1.9559}),
    ("takerlongshortRatio", {"buySellRatio": "1.1603", "buyVol": "298.2800", "sellVol": "257.0660",
                             "timestamp": 1791382800000},
     {"taker_buy_sell_ratio": 1.1603, "taker_buy_vol": 298.28, "taker_sell_vol": 257.066}),
    ("openInterestHist", {"symbol": "BTCUSDT", "sumOpenInterest": "109115.835", "sumOpenInterestValue": "87855",
                          "timestamp": 1791382800000}, {"metric_open_interest": 109115.835}),
])
def test_metric_event_from_rest(endpoint, row, expected):
    batch = metric_event_from_rest(endpoint, row, symbol="BTCUSDT", period="5m")
    assert batch.instruments == (("binance-futures", "BTCUSDT"),)
    assert batch.ts.tolist() == batch.arrival.tolist() == [1_791_382_800_000_000 + 300_000_000]
    for name in ("top_pos_ls_ratio", "top_acct_ls_ratio", "global_acct_ls_ratio", "taker_buy_sell_ratio",
                 "metric_open_interest", "taker_buy_vol", "taker_sell_vol"):
        value = getattr(batch, name)[0]
        assert value == expected[name] if name in expected else math.isnan(value), name


def test_metric_event_from_rest_snapshot_and_arrival():
    batch = metric_event_from_rest("openInterest", {"openInterest": "10659.509", "symbol": "ETHUSD_PERP",
                                                    "time": 1791382993000}, arrival=1_791_382_993_250_000)
    assert batch.instruments == (("binance-delivery", "ETHUSD_PERP"),)
    assert batch.ts.tolist() == [1_791_382_993_000_000] and batch.arrival.tolist() == [1_791_382_993_250_000]
    assert batch.metric_open_interest.tolist() == [10659.509]
    hourly = metric_event_from_rest("topLongShortPositionRatio", {"symbol": "BTCUSDT", "longShortRatio": "",
                                                                  "timestamp": 1791382800000}, period="1h")
    assert hourly.ts.tolist() == [1_791_386_400_000_000] and math.isnan(hourly.top_pos_ls_ratio[0])


@pytest.mark.parametrize(("endpoint", "row", "kwargs", "message"), [
    ("fundingRate", {}, {}, "unknown positioning endpoint 'fundingRate': expected one of topLongShortPositionRatio, "
     "topLongShortAccountRatio, globalLongShortAccountRatio, takerlongshortRatio, openInterestHist, openInterest"),
    ("takerlongshortRatio", {"timestamp": 1791382800000}, {"period": "5m"},
     "takerlongshortRatio: the row has no symbol and none was given"),
    ("openInterestHist", {"symbol": "ETHUSDT", "timestamp": 1791382800000}, {"symbol": "BTCUSDT", "period": "5m"},
     "openInterestHist: the row is for ETHUSDT, not BTCUSDT"),
    ("openInterestHist", {"symbol": "ETHUSDT", "timestamp": 1791382800000}, {"period": "3m"},
     "openInterestHist: period '3m' is not one of 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d"),
    ("openInterestHist", {"symbol": "ETHUSDT", "timestamp": 1791382800}, {"period": "5m"},
     "openInterestHist: field 'timestamp': not a time in milliseconds (got 1791382800)"),
    ("openInterest", {"symbol": "ETHUSDT", "time": 1791382800000, "openInterest": "n/a"}, {},
     "openInterest: field 'openInterest': not a number (got 'n/a')"),
])
def test_metric_event_from_rest_errors(endpoint, row, kwargs, message):
    with pytest.raises(InputError) as info:
        metric_event_from_rest(endpoint, row, **kwargs)
    assert str(info.value) == message
