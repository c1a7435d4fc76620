"""Inputs: Tardis file discovery, day boundaries, missing cells, bad rows, bad options, the pandas API."""

from __future__ import annotations

import gzip
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DAY, EXCHANGE, LIQ_COLUMNS, MINUTE, T0, TICKER_COLUMNS, assert_rows_equal

from streamliq import LiquidationFactorEngine, replay
from streamliq.engine.freq import ACCEPTED_FORMS, parse_freq
from streamliq.errors import InputError
from streamliq.tardis_replay import Replay

SECOND = 1_000_000
DELAY = 1_000  # 1 ms network delay: never late with the default 5 s lateness
LIQ_HEADER = ",".join(LIQ_COLUMNS)
TICKER_HEADER = ",".join(TICKER_COLUMNS)


# -- helpers --------------------------------------------------------------------------------
def day_name(k: int) -> str:
    """2025-10-01 + k days."""
    return (pd.Timestamp(T0, unit="us") + pd.Timedelta(days=k)).strftime("%Y-%m-%d")


def liq_line(ts: int, symbol: str = "ETHUSDT", side: str = "buy", price: object = 2400.5, amount: object = 1.25,
             arrival: int | None = None, exchange: str = EXCHANGE) -> str:
    arrival = ts + DELAY if arrival is None else arrival
    return f"{exchange},{symbol},{ts},{arrival},,{side},{price},{amount}"


def liq_lines(n: int, start: int, symbol: str = "ETHUSDT", step: int = SECOND, exchange: str = EXCHANGE,
              side: str = "buy") -> list[str]:
    return [liq_line(start + i * step, symbol, side=side, exchange=exchange) for i in range(n)]


def write_file(path: Path, header: str, lines: list[str]) -> Path:
    """A CSV file, gzip-compressed when the name ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join([header, *lines]) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", newline="") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def liq_file(folder: Path, day: int, symbol: str, lines: list[str], exchange: str = EXCHANGE,
             channel: str = "liquidations", gz: bool = False) -> Path:
    name = f"{exchange}_{channel}_{day_name(day)}_{symbol}.csv" + (".gz" if gz else "")
    return write_file(folder / name, LIQ_HEADER, lines)


def counts_by(frame: pd.DataFrame, *keys: str, column: str = "all_count") -> dict:
    grouped = frame.groupby(list(keys))[column].sum()
    return {key: int(value) for key, value in grouped.items()}


def utc(us: int) -> pd.Timestamp:
    return pd.Timestamp(us, unit="us", tz="UTC")


# -- 1. discovery ---------------------------------------------------------------------------
def test_flat_layout_reads_plain_and_gzip_files(tmp_path):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(3, T0 + 10 * MINUTE), gz=True)
    liq_file(tmp_path, 0, "BTCUSDT", liq_lines(2, T0 + 20 * MINUTE, "BTCUSDT"))
    frame = replay(tmp_path, freq="15m").reset_index()
    assert counts_by(frame, "exchange", "symbol") == {(EXCHANGE, "BTCUSDT"): 2, (EXCHANGE, "ETHUSDT"): 3}
    assert set(frame["freq"]) == {"15m"}
    eth = frame[frame["symbol"] == "ETHUSDT"]
    # the first bar is the one holding the first event; 2400.5 * 1.25 per liquidation
    assert eth["bar_start"].min() == utc(T0)
    assert eth["all_notional"].sum() == pytest.approx(3 * 2400.5 * 1.25)
    assert (frame["bar_start"].dt.tz is not None) and str(frame["bar_start"].dt.tz) == "UTC"


def test_notebook_layout_is_found_recursively(tmp_path):
    liq_file(tmp_path / "liquidations", 0, "ETHUSDT", liq_lines(4, T0 + 5 * MINUTE), gz=True)
    trades = [liq_line(T0 + 5 * MINUTE + i * SECOND, side="sell", price=2400.0, amount=0.5 + i) for i in range(5)]
    liq_file(tmp_path / "trades", 0, "ETHUSDT", trades, channel="trades", gz=True)
    frame = replay(tmp_path, freq="15m").reset_index()
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["symbol"] == "ETHUSDT"
    assert row["all_count"] == 4
    assert row["n_events"] == 9  # 4 liquidations + 5 trades
    assert row["volume_qty"] == pytest.approx(sum(0.5 + i for i in range(5)))
    assert row["taker_sell_qty"] == pytest.approx(row["volume_qty"])


def test_non_matching_files_are_ignored(tmp_path):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(3, T0))
    garbage = "this,is,not\na tardis,file,at all\n"
    (tmp_path / "notes.csv").write_text(garbage)
    (tmp_path / f"{EXCHANGE}_book_snapshot_25_{day_name(0)}_ETHUSDT.csv").write_text(garbage)
    (tmp_path / f"{EXCHANGE}_liquidations_{day_name(0)}_ETHUSDT.csv.bak").write_text(garbage)
    (tmp_path / f"{EXCHANGE}_liquidations_20251001_ETHUSDT.csv").write_text(garbage)
    (tmp_path / f"{EXCHANGE}_liquidations_{day_name(0)}_BTCUSDT.parquet").write_text(garbage)
    (tmp_path / f"{EXCHANGE}_liquidations_{day_name(1)}_ETHUSDT.csv").mkdir()  # a folder, not a file
    frame = replay(tmp_path)
    assert counts_by(frame, "symbol") == {"ETHUSDT": 3}


def test_exchange_filter(tmp_path):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(3, T0))
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(2, T0, exchange="bybit"), exchange="bybit")
    assert counts_by(replay(tmp_path), "exchange") == {EXCHANGE: 3, "bybit": 2}
    assert counts_by(replay(tmp_path, exchange="bybit"), "exchange") == {"bybit": 2}
    assert counts_by(replay(tmp_path, exchange=EXCHANGE), "exchange") == {EXCHANGE: 3}
    with pytest.raises(InputError, match="exchange=deribit"):
        replay(tmp_path, exchange="deribit")


def test_symbol_filter_is_case_insensitive_and_applies_to_grouped_rows(tmp_path):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(3, T0))
    liq_file(tmp_path, 0, "BTCUSDT", liq_lines(2, T0, "BTCUSDT"))
    grouped = (liq_lines(4, T0, "ETHUSDT", exchange="bybit") + liq_lines(5, T0, "BTCUSDT", exchange="bybit")
               + liq_lines(6, T0, "SOLUSDT", exchange="bybit"))
    grouped.sort(key=lambda line: int(line.split(",")[3]))
    liq_file(tmp_path, 0, "PERPETUALS", grouped, exchange="bybit", gz=True)
    everything = counts_by(replay(tmp_path), "exchange", "symbol")
    assert everything == {(EXCHANGE, "BTCUSDT"): 2, (EXCHANGE, "ETHUSDT"): 3, ("bybit", "BTCUSDT"): 5,
                          ("bybit", "ETHUSDT"): 4, ("bybit", "SOLUSDT"): 6}
    frame = replay(tmp_path, symbols=["ethusdt", " SolUsdt "])
    assert counts_by(frame, "exchange", "symbol") == {(EXCHANGE, "ETHUSDT"): 3, ("bybit", "ETHUSDT"): 4,
                                                      ("bybit", "SOLUSDT"): 6}


def test_lowercase_symbols_in_rows_and_file_names_are_upper_cased(tmp_path):
    liq_file(tmp_path, 0, "ethusdt", liq_lines(3, T0, "ethusdt"))
    frame = replay(tmp_path, symbols=["ETHUSDT"])
    assert counts_by(frame, "symbol") == {"ETHUSDT": 3}


def test_symbols_given_as_one_string(tmp_path):
    liq_file(tmp_path, 0, "PERPETUALS", liq_lines(3, T0) + liq_lines(2, T0 + MINUTE, "BTCUSDT"))
    frame = replay(tmp_path, symbols="ethusdt")
    assert counts_by(frame, "symbol") == {"ETHUSDT": 3}


@pytest.fixture
def three_days(tmp_path) -> Path:
    """Day k (k = 0, 1, 2) holds k + 1 ETHUSDT liquidations at 10:00."""
    for k in range(3):
        liq_file(tmp_path, k, "ETHUSDT", liq_lines(k + 1, T0 + k * DAY + 600 * MINUTE))
    return tmp_path


@pytest.mark.parametrize(("start", "end", "days"), [
    (None, None, [0, 1, 2]),
    ("2025-10-02", "2025-10-02", [1]),
    ("2025-10-02", None, [1, 2]),
    (None, "2025-10-02", [0, 1]),
    ("2025-10-01", "2025-10-03", [0, 1, 2]),
    (date(2025, 10, 3), date(2025, 10, 3), [2]),
])
def test_from_to_filter_on_file_dates_is_inclusive(three_days, start, end, days):
    frame = replay(three_days, freq="1h", start=start, end=end).reset_index()
    assert frame["all_count"].sum() == sum(k + 1 for k in days)
    with_events = frame[frame["all_count"] > 0]
    assert sorted(with_events["bar_start"]) == [utc(T0 + k * DAY + 10 * 60 * MINUTE) for k in days]
    assert frame["bar_start"].min() == utc(T0 + days[0] * DAY + 10 * 60 * MINUTE)
    assert frame["bar_start"].max() == utc(T0 + days[-1] * DAY + 10 * 60 * MINUTE)


def test_from_to_filter_with_no_file_left(three_days):
    with pytest.raises(InputError, match="from=2025-10-05"):
        replay(three_days, start="2025-10-05")
    with pytest.raises(InputError, match="invalid --from date '2025/10/01'"):
        replay(three_days, start="2025/10/01")


def test_grouped_and_per_symbol_file_count_a_symbol_once(tmp_path):
    # day 0: PERPETUALS holds 5 ETH + 4 BTC rows, ETHUSDT's own file holds 7 ETH rows
    grouped = liq_lines(5, T0 + MINUTE) + liq_lines(4, T0 + MINUTE + 500_000, "BTCUSDT")
    grouped.sort(key=lambda line: int(line.split(",")[3]))
    liq_file(tmp_path, 0, "PERPETUALS", grouped, gz=True)
    own = liq_file(tmp_path, 0, "ETHUSDT", liq_lines(7, T0 + MINUTE + 250_000), gz=True)
    # day 1: only the grouped file: its ETH rows count again
    liq_file(tmp_path, 1, "PERPETUALS", liq_lines(3, T0 + DAY + MINUTE))
    frame = replay(tmp_path, freq="15m").reset_index()
    day0 = frame[frame["bar_start"] < utc(T0 + DAY)]
    with gzip.open(own, "rt") as handle:
        own_rows = len(handle.read().splitlines()) - 1
    assert own_rows == 7
    assert counts_by(day0, "symbol") == {"BTCUSDT": 4, "ETHUSDT": own_rows}
    assert counts_by(frame, "symbol") == {"BTCUSDT": 4, "ETHUSDT": own_rows + 3}
    assert frame["n_events"].sum() == 4 + 7 + 3


# -- 2. a row of day D in day D+1's file ------------------------------------------------------
@pytest.mark.parametrize(("lateness", "late"), [("5s", False), ("1000001us", False), ("1s", True), ("0", True)])
def test_row_before_midnight_in_next_days_file(tmp_path, lateness, late):
    midnight = T0 + DAY
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(2, T0 + 600 * MINUTE))
    next_day = [liq_line(midnight - 500_000, price=2500.0, amount=2.0, arrival=midnight + SECOND),
                liq_line(midnight + 5 * MINUTE)]
    liq_file(tmp_path, 1, "ETHUSDT", next_day)
    frame = replay(tmp_path, freq="15m", lateness=lateness)
    last_of_day = frame.loc[utc(midnight - 15 * MINUTE)]
    first_of_next = frame.loc[utc(midnight)]
    assert frame["late_events"].sum() == int(late)
    if late:
        assert last_of_day["all_count"] == 0 and last_of_day["n_events"] == 0
        assert last_of_day["all_max"] == 0.0 and math.isnan(last_of_day["all_mean"])
        assert first_of_next["late_events"] == 1
        assert first_of_next["all_count"] == 1 and first_of_next["n_events"] == 1
    else:
        assert last_of_day["all_count"] == 1 and last_of_day["n_events"] == 1
        assert last_of_day["all_notional"] == pytest.approx(5000.0)
        assert last_of_day["late_events"] == 0
        assert first_of_next["all_count"] == 1 and first_of_next["late_events"] == 0
    assert frame["all_count"].sum() == 4 - int(late)


# -- 3. empty cells are missing ----------------------------------------------------------------
def ticker_lines() -> list[str]:
    """One ETHUSDT ticker row a minute for an hour (4 bars of 15m).

    open_interest is empty for the first 20 minutes, funding_rate always, mark_price from
    minute 40 on (so bar 2 ends with empty marks and bar 3 has none).
    """
    lines = []
    for i in range(60):
        ts = T0 + i * MINUTE
        oi = "" if i < 20 else f"{1000 + i}"
        mark = "" if i >= 40 else f"{2400 + i}"
        lines.append(f"{EXCHANGE},ETHUSDT,{ts},{ts + DELAY},,,,{oi},{2401 + i},{2399 + i},{mark}")
    return lines


def ticker_file(folder: Path, lines: list[str]) -> Path:
    return write_file(folder / f"{EXCHANGE}_derivative_ticker_{day_name(0)}_ETHUSDT.csv.gz", TICKER_HEADER, lines)


def check_ticker_frame(frame: pd.DataFrame) -> None:
    assert list(frame.index) == [utc(T0 + k * 15 * MINUTE) for k in range(4)]
    oi = frame["open_interest"].to_numpy()
    assert math.isnan(oi[0])
    assert list(oi[1:]) == [1029.0, 1044.0, 1059.0]
    assert frame["funding_rate"].isna().all()
    assert list(frame["close"]) == [2414.0, 2429.0, 2439.0, 2439.0]
    assert list(frame["open"]) == [2400.0, 2415.0, 2430.0, 2439.0]
    assert list(frame["high"]) == [2414.0, 2429.0, 2439.0, 2439.0]
    assert list(frame["low"]) == [2400.0, 2415.0, 2430.0, 2439.0]
    assert list(frame["last_price"]) == [2415.0, 2430.0, 2445.0, 2460.0]
    assert math.isnan(frame["oi_change"].iloc[1])  # previous bar's open_interest is missing
    assert frame["oi_change"].iloc[2] == pytest.approx(1044 / 1029 - 1)
    assert frame["ret"].iloc[3] == 0.0
    assert list(frame["n_events"]) == [15, 15, 15, 15]


def test_empty_ticker_cells_are_missing_not_zero(tmp_path):
    ticker_file(tmp_path, ticker_lines())
    check_ticker_frame(replay(tmp_path, freq="15m"))


def test_empty_ticker_cells_are_missing_on_the_slow_text_path(tmp_path):
    """A bad number sends the reader to its text path; empty cells must stay NaN there too."""
    lines = ticker_lines()
    ts = T0 + 5 * MINUTE + 30 * SECOND
    lines.insert(6, f"{EXCHANGE},ETHUSDT,{ts},{ts + DELAY},,,,1e9x,9999,9999,9999")
    ticker_file(tmp_path, lines)
    with pytest.raises(InputError, match=r":8: field 'open_interest': not a number \(got '1e9x'\)"):
        replay(tmp_path, freq="15m")
    check_ticker_frame(replay(tmp_path, freq="15m", skip_bad_rows=True))


@pytest.mark.parametrize("word", ["NA", "n/a", "null", "NaN", "nan"])
def test_null_words_in_ticker_cells_are_missing(tmp_path, word):
    lines = ticker_lines()
    lines[14] = lines[14].replace(",,,,,", f",,,,{word},", 1)  # open_interest of minute 14 (empty anyway)
    assert f",{word},2415,2413,2414" in lines[14]
    ticker_file(tmp_path, lines)
    check_ticker_frame(replay(tmp_path, freq="15m"))


def test_null_words_in_ticker_cells_do_not_depend_on_other_rows(tmp_path):
    lines = ticker_lines()
    lines[14] = lines[14].replace(",,,,,", ",,,,NA,", 1)
    lines[50] = lines[50].replace(",1050,", ",abc,")
    ticker_file(tmp_path, lines)
    with pytest.raises(InputError, match=r":52: field 'open_interest': not a number \(got 'abc'\)"):
        replay(tmp_path, freq="15m")
    run = Replay(tmp_path, skip_bad_rows=True)
    rows = list(run)
    assert run.stats.bad_rows.total == 1
    assert rows[0]["close"] == 2414.0  # minute 14's row was kept


# -- 4. bad rows in files ----------------------------------------------------------------------
def good_lines(n: int) -> list[str]:
    sides = ["buy", "sell"]
    return [liq_line(T0 + i * SECOND, side=sides[i % 2], price=2400.0 + i % 7, amount=0.5 + i % 3) for i in range(n)]


def replace_field(line: str, column: str, value: str) -> str:
    parts = line.split(",")
    parts[LIQ_COLUMNS.index(column)] = value
    return ",".join(parts)


def backwards(lines: list[str], index: int) -> None:
    previous_arrival = int(lines[index - 1].split(",")[3])
    lines[index] = replace_field(lines[index], "local_timestamp", str(previous_arrival - 10))


def set_field(field: str, value: str):
    """A breaker that writes `value` into `field` of data row i."""
    def breaker(lines: list[str], i: int) -> None:
        lines[i] = replace_field(lines[i], field, value)
    return breaker


BAD_ROWS = {
    # name: (rows in file, data row index, how to break it, field, reason)
    "bad-number": (10, 3, set_field("price", "abc"),
                   "price", "not a number (got 'abc')"),
    "bad-number-deep": (2000, 1501, set_field("price", "abc"),
                        "price", "not a number (got 'abc')"),
    "unknown-side": (10, 4, set_field("side", "long"),
                     "side", "unknown side, expected one of buy, sell (got 'long')"),
    "unknown-side-deep": (2000, 1800, set_field("side", "long"),
                          "side", "unknown side"),
    "empty-price": (10, 5, set_field("price", ""),
                    "price", "must be a positive number"),
    "zero-price": (10, 2, set_field("price", "0"),
                   "price", "must be a positive number"),
    "negative-amount": (10, 2, set_field("amount", "-0.5"),
                        "amount", "must be a finite number >= 0"),
    "nan-amount": (10, 8, set_field("amount", "nan"),
                   "amount", "must be a finite number >= 0"),
    "inf-amount": (10, 3, set_field("amount", "inf"),
                   "amount", "must be a finite number >= 0 (got inf)"),
    "bad-timestamp": (10, 6, set_field("timestamp", "12:00"),
                      "timestamp", "not a number (got '12:00')"),
    "arrival-backwards": (10, 7, backwards, "local_timestamp", "goes back in time"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gz"])
def test_zero_amounts_are_events_that_add_zero(tmp_path, gz):
    """Issue 12.1: a held-out day of trades stopped at `field 'amount': must be a positive number
    (got 0.0)`. A zero amount is data: the event counts and adds 0 (liquidations and trades)."""
    lines = good_lines(10)
    for i in (2, 7):
        lines[i] = replace_field(lines[i], "amount", "0" if i == 2 else "0.0")
    path = liq_file(tmp_path, 0, "ETHUSDT", lines, gz=gz)
    liq_file(tmp_path, 0, "ETHUSDT", lines, channel="trades", gz=gz)
    expected = sum(float(line.split(",")[-1]) for line in lines)
    frame = replay(tmp_path, freq="1h")
    assert frame["all_count"].sum() == 10 and frame["n_events"].sum() == 20
    assert frame["all_qty"].sum() == pytest.approx(expected)
    assert frame["volume_qty"].sum() == pytest.approx(expected)
    assert frame["all_max"].min() >= 0 and frame["late_events"].sum() == 0
    only_zero = good_lines(1)
    only_zero[0] = replace_field(only_zero[0], "amount", "0")
    liq_file(tmp_path / "zero", 0, "ETHUSDT", only_zero, gz=gz)
    [row] = replay(tmp_path / "zero", freq="1h").to_dict("records")
    assert (row["all_count"], row["all_qty"], row["all_notional"]) == (1, 0.0, 0.0)
    assert math.isnan(row["all_vwap"]) and math.isnan(row["imbalance"])  # no notional: undefined
    assert engine().process(pd.read_csv(path))["all_count"].sum() == 2 * 10  # the pandas API too (two frequencies)


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gz"])
@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_row_names_file_line_and_field(tmp_path, case, gz):
    n, index, damage, field, why = BAD_ROWS[case]
    lines = good_lines(n)
    damage(lines, index)
    path = liq_file(tmp_path, 0, "ETHUSDT", lines, gz=gz)
    with pytest.raises(InputError) as info:
        replay(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{index + 2}: field '{field}': ")  # header is line 1
    assert why in message
    frame = replay(tmp_path, skip_bad_rows=True)
    assert frame["all_count"].sum() == n - 1
    assert frame["late_events"].sum() == 0


def test_bad_line_number_deep_in_a_multi_block_file(tmp_path):
    """The reader re-reads from the failing block: line numbers must still be the file's lines."""
    from streamliq.badinput import BadInputCounter
    from streamliq.sources.discovery import discover
    from streamliq.sources.tardis import TardisFileReader

    lines = good_lines(20_000)
    lines[15_001] = replace_field(lines[15_001], "price", "abc")
    lines[17_000] = replace_field(lines[17_000], "side", "long")
    path = liq_file(tmp_path, 0, "ETHUSDT", lines, gz=True)
    [plan] = discover(tmp_path)
    [item] = plan.files

    def reader(skip: bool) -> TardisFileReader:
        return TardisFileReader(item, None, frozenset(), skip, BadInputCounter(), block_size=1 << 14)

    with pytest.raises(InputError, match=rf"^{path}:15003: field 'price': not a number"):
        list(reader(False))
    skipping = reader(True)
    assert sum(len(batch) for batch in skipping) == 20_000 - 2


def test_missing_column_is_reported_at_line_1(tmp_path):
    header = ",".join(c for c in LIQ_COLUMNS if c != "amount")
    lines = [line.rsplit(",", 1)[0] for line in good_lines(5)]
    path = write_file(tmp_path / f"{EXCHANGE}_liquidations_{day_name(0)}_ETHUSDT.csv", header, lines)
    for skip in (False, True):  # a missing column cannot be skipped
        with pytest.raises(InputError) as info:
            replay(tmp_path, skip_bad_rows=skip)
        message = str(info.value)
        assert message.startswith(f"{path}:1: ")
        assert "missing column 'amount'" in message


def test_bad_row_in_grouped_file_of_a_filtered_out_symbol_still_counts(tmp_path):
    lines = good_lines(6) + liq_lines(3, T0 + 10 * SECOND, "BTCUSDT")
    lines[7] = replace_field(lines[7], "side", "long")
    path = liq_file(tmp_path, 0, "PERPETUALS", lines)
    with pytest.raises(InputError, match=f"{path}:9: field 'side'"):
        replay(tmp_path, symbols=["ETHUSDT"])
    assert counts_by(replay(tmp_path, symbols=["ETHUSDT"], skip_bad_rows=True), "symbol") == {"ETHUSDT": 6}


def test_skipped_bad_number_is_counted_once(tmp_path):
    lines = good_lines(10)
    lines[3] = replace_field(lines[3], "price", "abc")
    liq_file(tmp_path, 0, "ETHUSDT", lines)
    run = Replay(tmp_path, skip_bad_rows=True)
    rows = list(run)
    assert sum(row["all_count"] for row in rows) == 9
    assert dict(run.stats.bad_rows.counts) == {"price: not a number": 1}
    assert run.stats.bad_rows.total == 1


@pytest.mark.xfail(strict=True, reason="sources/tardis.py: pyarrow's CSV reader skips empty lines "
                                       "(ignore_empty_lines=True), so after a blank line every reported line "
                                       "number is one too small")
def test_line_numbers_after_a_blank_line(tmp_path):
    lines = good_lines(20)
    lines.insert(5, "")
    lines[12] = replace_field(lines[12], "side", "long")  # file line 14
    path = liq_file(tmp_path, 0, "ETHUSDT", lines)
    with pytest.raises(InputError, match=f"^{path}:14: field 'side'"):
        replay(tmp_path)


@pytest.mark.parametrize("skip", [False, True])
def test_row_with_missing_fields(tmp_path, skip):
    lines = good_lines(10)
    lines[4] = f"{EXCHANGE},ETHUSDT,{T0 + 4 * SECOND},{T0 + 4 * SECOND + DELAY},buy,2400"
    path = liq_file(tmp_path, 0, "ETHUSDT", lines)
    if skip:
        assert replay(tmp_path, skip_bad_rows=True)["all_count"].sum() == 9
    else:
        with pytest.raises(InputError, match=f"{path}:6"):
            replay(tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip_file(tmp_path, damage):
    path = liq_file(tmp_path, 0, "ETHUSDT", good_lines(3000), gz=True)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2:]
    else:  # garbage in the middle of the deflate stream
        data[len(data) // 2: len(data) // 2 + 64] = bytes(range(64))
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=str(path)):
        replay(tmp_path)


def test_file_name_with_impossible_date(tmp_path):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(3, T0))
    write_file(tmp_path / f"{EXCHANGE}_liquidations_2025-13-01_ETHUSDT.csv", LIQ_HEADER, liq_lines(2, T0))
    try:
        frame = replay(tmp_path)
    except InputError as exc:
        assert "2025-13-01" in str(exc)
    else:
        assert frame["all_count"].sum() == 3


# -- 5. bad folders and options ----------------------------------------------------------------
def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match=f"data folder '{missing}' does not exist"):
        replay(missing)


def test_file_instead_of_folder(tmp_path):
    path = liq_file(tmp_path, 0, "ETHUSDT", liq_lines(1, T0))
    with pytest.raises(InputError, match="is not a folder"):
        replay(path)


def test_folder_without_matching_files(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as info:
        replay(tmp_path)
    message = str(info.value)
    assert "no Tardis file named {exchange}_{channel}_{YYYY-MM-DD}_{SYMBOL}.csv[.gz]" in message
    assert "liquidations/derivative_ticker/trades" in message
    assert str(tmp_path) in message


@pytest.mark.parametrize(("freq", "hint"), [
    ("15M", "'M' means months; use '15m' or '15min'"),
    ("7m", "it must divide one day evenly"),
    ("abc", "accepted forms are"),
    ("2d", "it must divide one day evenly"),
    ("0m", "accepted forms are"),
    ("1.5h", "accepted forms are"),
    ("15m,", "accepted forms are"),
])
def test_invalid_frequency(tmp_path, freq, hint):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(1, T0))
    with pytest.raises(InputError) as info:
        replay(tmp_path, freq=freq)
    message = str(info.value)
    assert hint in message
    assert ACCEPTED_FORMS in message
    assert "<N>min" in message and "15min" in message
    with pytest.raises(InputError, match="invalid frequency"):
        LiquidationFactorEngine(resample_freq=freq)


def test_frequency_message_says_each_thing_once():
    """Issue 12.8: the `7m` message repeated "it must divide one day evenly"."""
    with pytest.raises(InputError) as info:
        parse_freq("7m")
    message = str(info.value)
    assert message.count("divide one day evenly") == 1
    assert "6m or 8m" in message  # the nearest frequencies that work, in the unit given
    with pytest.raises(InputError) as info:
        parse_freq("abc")
    assert str(info.value).count("one day evenly") == 1


def test_from_later_than_to_says_so(three_days):
    with pytest.raises(InputError, match=r"^--from 2025-10-03 is later than --to 2025-10-01"):
        replay(three_days, start="2025-10-03", end="2025-10-01")


def test_empty_file_says_empty_file(tmp_path):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(3, T0))
    empty = tmp_path / f"{EXCHANGE}_liquidations_{day_name(1)}_ETHUSDT.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=rf"^{empty}: empty file"):
        replay(tmp_path)
    empty.unlink()
    empty_gz = tmp_path / f"{EXCHANGE}_liquidations_{day_name(1)}_ETHUSDT.csv.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    with pytest.raises(InputError, match=rf"^{empty_gz}: empty file"):
        replay(tmp_path)


@pytest.mark.parametrize("lateness", ["abc", "-5s", "5 parsecs", "5d", -1])
def test_invalid_lateness(tmp_path, lateness):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(1, T0))
    with pytest.raises(InputError, match="invalid duration"):
        replay(tmp_path, lateness=lateness)


# -- 6. the pandas API -----------------------------------------------------------------------
def liq_frame(n: int = 400, seed: int = 3) -> pd.DataFrame:
    """Raw Tardis liquidation columns, RangeIndex; arrival 20-80 ms after exchange time, same order."""
    rng = np.random.default_rng(seed)
    ts = np.sort(T0 + rng.integers(0, 6 * 3600 * SECOND, n))
    ts = ts + np.arange(n)  # distinct, so arrival order is exchange-time order
    return pd.DataFrame({
        "exchange": EXCHANGE,
        "symbol": rng.choice(["ETHUSDT", "BTCUSDT"], n),
        "timestamp": ts,
        "local_timestamp": ts + 20_000 + np.arange(n) % 60_000,
        "id": "",
        "side": rng.choice(["buy", "sell"], n),
        "price": np.round(2400 * (1 + rng.normal(0, 0.01, n)), 2),
        "amount": np.round(rng.lognormal(0, 1, n), 3) + 0.001,
    })


def engine() -> LiquidationFactorEngine:
    return LiquidationFactorEngine(resample_freq=["15m", "1h"], z_windows=(4,), pct_windows=(6,))


def test_pandas_raw_tardis_columns_match_datetime_index_variant():
    raw = liq_frame()
    assert list(raw.columns) == LIQ_COLUMNS and isinstance(raw.index, pd.RangeIndex)
    indexed = raw.drop(columns=["timestamp", "local_timestamp", "id"])
    indexed.index = pd.to_datetime(raw["timestamp"], unit="us")
    from_raw = engine().process(raw, mining_windows=[6])
    from_index = engine().process(indexed, mining_windows=[6])
    assert from_raw["late_events"].sum() == 0
    assert from_raw["all_count"].sum() == 2 * len(raw)  # two frequencies
    assert set(from_raw["symbol"]) == {"ETHUSDT", "BTCUSDT"}
    assert set(from_raw["exchange"]) == {EXCHANGE}
    assert_rows_equal(from_raw, from_index, exact=True)
    # a tz-aware index means the same instants
    tokyo = indexed.copy()
    tokyo.index = tokyo.index.tz_localize("UTC").tz_convert("Asia/Tokyo")
    assert_rows_equal(engine().process(tokyo, mining_windows=[6]), from_index, exact=True)


def test_pandas_api_defaults_for_exchange_and_symbol():
    raw = liq_frame(50)
    frame = raw[["side", "price", "amount"]].set_index(pd.to_datetime(raw["timestamp"], unit="us"))
    out = LiquidationFactorEngine(resample_freq="1h", exchange="deribit", symbol="btc-perpetual").process(frame)
    assert set(out["exchange"]) == {"deribit"}
    assert set(out["symbol"]) == {"BTC-PERPETUAL"}
    assert out["all_count"].sum() == 50


def pandas_case(name: str) -> pd.DataFrame:
    frame = liq_frame(20)
    if name == "missing-side":
        return frame.drop(columns=["side"])
    if name == "unknown-side":
        frame.loc[7, "side"] = "long"
    elif name == "zero-price":
        frame.loc[7, "price"] = 0.0
    elif name == "negative-price":
        frame.loc[7, "price"] = -5.0
    elif name in ("negative-amount", "nan-amount", "inf-amount"):
        frame.loc[7, "amount"] = {"negative-amount": -1.0, "nan-amount": np.nan, "inf-amount": np.inf}[name]
    elif name == "text-price":
        frame["price"] = frame["price"].astype(object)
        frame.loc[7, "price"] = "abc"
    elif name == "missing-amount":
        return frame.drop(columns=["amount"])
    return frame


@pytest.mark.parametrize(("case", "pattern"), [
    ("missing-side", r"^liquidations frame: missing column 'side' \(columns: exchange, symbol, timestamp"),
    ("missing-amount", r"^liquidations frame: missing column 'amount'"),
    ("unknown-side", r"^liquidations frame: row 7 \(index 7\): field 'side': unknown side, expected one of "
                     r"buy, sell \(got 'long'\); 1 bad rows in all"),
    ("zero-price", r"^liquidations frame: row 7 \(index 7\): field 'price': must be a positive number "
                   r"\(got (np\.float64\()?0\.0"),
    ("negative-price", r"^liquidations frame: row 7 \(index 7\): field 'price': must be a positive number"),
    ("negative-amount", r"^liquidations frame: row 7 \(index 7\): field 'amount': must be a finite number >= 0"),
    ("nan-amount", r"^liquidations frame: row 7 \(index 7\): field 'amount': must be a finite number >= 0"),
    ("inf-amount", r"^liquidations frame: row 7 \(index 7\): field 'amount': must be a finite number >= 0"),
    ("text-price", r"^liquidations frame: row 7 \(index 7\): field 'price': not a number \(got 'abc'\)"),
])
def test_pandas_api_bad_input(case, pattern):
    with pytest.raises(InputError, match=pattern):
        engine().process(pandas_case(case))


@pytest.mark.parametrize(("unit", "field", "pattern"), [
    ("ms", "timestamp", r"field 'timestamp': decodes to year 1970, outside 2009-2100: the column looks like "
                        r"milliseconds; it must be microseconds"),
    ("s", "timestamp", r"field 'timestamp': .*the column looks like seconds"),
    ("ns", "timestamp", r"field 'timestamp': decodes to year 57\d\d\d, .*the column looks like nanoseconds"),
    ("ms", "local_timestamp", r"field 'local_timestamp': .*the column looks like milliseconds"),
    ("us-as-ns", "index", r"field 'index': decodes to year 1970, .*microseconds read as nanoseconds "
                          r"\(pd.to_datetime's default: pass unit='us'\)"),
    ("s-as-us", "index", r"field 'index': .*seconds read as microseconds \(pass unit='s'\)"),
])
def test_pandas_api_times_in_a_wrong_unit(unit, field, pattern):
    """Issue 12.8: times that decode outside 2009-2100 name the column and the likely unit."""
    raw = liq_frame(20)
    scale = {"ms": 1 / 1000, "s": 1 / 10**6, "ns": 1000}
    if field == "index":
        frame = raw[["side", "price", "amount"]]
        values = raw["timestamp"] if unit == "us-as-ns" else raw["timestamp"] // 10**6
        frame.index = pd.to_datetime(values, unit="ns" if unit == "us-as-ns" else "us")
    else:
        frame = raw.copy()
        frame[field] = (frame[field] * scale[unit]).astype(np.int64)
    with pytest.raises(InputError, match=r"^liquidations frame: row 0 .*" + pattern):
        engine().process(frame)


def test_pandas_api_needs_times():
    frame = liq_frame(5).drop(columns=["timestamp", "local_timestamp"])
    with pytest.raises(InputError, match="DatetimeIndex"):
        engine().process(frame)


# -- 7. frequencies --------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds", "name"), [
    ("15m", 900, "15m"), ("15min", 900, "15m"), ("15T", 900, "15m"),
    ("1h", 3600, "1h"), ("60m", 3600, "1h"), ("1H", 3600, "1h"),
    ("1D", 86_400, "1d"), ("1d", 86_400, "1d"), ("1440m", 86_400, "1d"),
    ("5s", 5, "5s"), ("90s", 90, "90s"), ("120s", 120, "2m"), ("4h", 14_400, "4h"),
])
def test_parse_freq(text, seconds, name):
    freq = parse_freq(text)
    assert freq.seconds == seconds
    assert freq.us == seconds * 1_000_000
    assert freq.name == name == str(freq)


def test_freq_column_holds_canonical_names(tmp_path):
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(3, T0))
    frame = replay(tmp_path, freq="15min,60m,15T")  # 15T repeats 15min
    assert list(dict.fromkeys(frame["freq"])) == ["15m", "1h"]


# -- 8. the notebook path never splits a symbol (issue 12.5) ----------------------------------
def ticker_frame(symbols: tuple[str, ...] = ("ETHUSDT",), exchange: str = EXCHANGE) -> pd.DataFrame:
    """Raw Tardis ticker columns: one mark price a minute for each symbol over 6 hours."""
    ts = T0 + np.arange(360) * MINUTE
    return pd.concat([pd.DataFrame({"exchange": exchange, "symbol": s, "timestamp": ts, "local_timestamp": ts + DELAY,
                                    "mark_price": 2400.0 + np.arange(360) % 7, "index_price": 2400.0})
                      for s in symbols], ignore_index=True).sort_values("local_timestamp", kind="stable")


def notebook_liq(raw: pd.DataFrame) -> pd.DataFrame:
    """What the notebook does: exchange time as the index, `symbol` and `exchange` dropped."""
    frame = raw[raw["symbol"] == "ETHUSDT"]
    return frame[["side", "price", "amount"]].set_index(pd.to_datetime(frame["timestamp"], unit="us"))


def test_a_frame_without_symbol_takes_it_from_the_other_frames():
    """The notebook's liq_df lacks symbol/exchange; beside a raw Tardis ticker_df it used to give two
    series, `unknown/UNKNOWN` with the liquidations and `binance-futures/ETHUSDT` with the prices."""
    raw = liq_frame(200)
    out = LiquidationFactorEngine(resample_freq="1h").process(notebook_liq(raw), ticker_df=ticker_frame())
    assert set(zip(out["exchange"], out["symbol"], strict=True)) == {(EXCHANGE, "ETHUSDT")}
    assert out["all_count"].sum() == (raw["symbol"] == "ETHUSDT").sum()
    assert out["close"].notna().all()
    named = LiquidationFactorEngine(resample_freq="1h", exchange=EXCHANGE, symbol="ethusdt").process(
        notebook_liq(raw), ticker_df=ticker_frame())
    assert_rows_equal(named, out, exact=True)


def test_a_frame_without_symbol_beside_several_symbols_stops_and_says_what_to_pass():
    with pytest.raises(InputError, match=r"^liquidations frame has no 'symbol' column, and the other frames hold "
                                         r"2 symbol values \(BTCUSDT, ETHUSDT\): pass "
                                         r"LiquidationFactorEngine\(symbol=\.\.\.\)"):
        LiquidationFactorEngine(resample_freq="1h").process(notebook_liq(liq_frame(50)),
                                                            ticker_df=ticker_frame(("ETHUSDT", "BTCUSDT")))
    two_venues = pd.concat([ticker_frame(), ticker_frame(exchange="bybit")], ignore_index=True)
    with pytest.raises(InputError, match=r"no 'exchange' column, and the other frames hold 2 exchange values"):
        LiquidationFactorEngine(resample_freq="1h", symbol="ETHUSDT").process(
            notebook_liq(liq_frame(50)), ticker_df=two_venues.sort_values("local_timestamp", kind="stable"))
    out = LiquidationFactorEngine(resample_freq="1h", exchange=EXCHANGE, symbol="ETHUSDT").process(
        notebook_liq(liq_frame(50)), ticker_df=ticker_frame(("ETHUSDT", "BTCUSDT")))
    assert set(out["symbol"]) == {"ETHUSDT", "BTCUSDT"} and out["close"].notna().all()


def test_replay_and_process_return_the_same_frame_shape(tmp_path):
    raw = liq_frame(100)
    lines = [",".join(str(v) for v in row) for row in raw[LIQ_COLUMNS].itertuples(index=False)]
    liq_file(tmp_path, 0, "PERPETUALS", lines)
    from_files = replay(tmp_path, freq="15m,1h", z_windows=(4,), pct_windows=(6,))
    from_frame = engine().process(raw)
    assert from_files.index.name == from_frame.index.name == "bar_start"
    assert list(from_files.columns) == list(from_frame.columns)
    assert_rows_equal(from_files, from_frame, exact=True)
