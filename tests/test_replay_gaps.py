"""Issue 12.2: in a replay, a day without data (no file, or an unreadable file skipped) is a gap.

A missing day used to read as "no liquidations". Now its bars carry `gap = true` for the
instruments the missing file would have covered, and the summary lists the days.
"""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from conftest import DAY, EXCHANGE, T0, TICKER_COLUMNS
from test_inputs import day_name, liq_file, liq_lines, write_file

from streamliq import replay
from streamliq.cli import main
from streamliq.errors import InputError
from streamliq.sources.coverage import MissingDay, missing_days
from streamliq.sources.discovery import TardisFile
from streamliq.tardis_replay import Replay

HOUR = 3_600_000_000


def liq_days(folder: Path, symbol: str, days: list[int], grouped_symbols: tuple[str, ...] = (),
             channel: str = "liquidations") -> None:
    """One file per day; each holds 3 events at 10:00 (of `grouped_symbols` in a PERPETUALS file)."""
    for k in days:
        if grouped_symbols:
            lines = [line for s in grouped_symbols for line in liq_lines(3, T0 + k * DAY + 10 * HOUR + 1, s)]
            liq_file(folder, k, "PERPETUALS", sorted(lines, key=lambda x: int(x.split(",")[3])), channel=channel)
        else:
            liq_file(folder, k, symbol, liq_lines(3, T0 + k * DAY + 10 * HOUR, symbol), channel=channel)


def gap_days(frame: pd.DataFrame, symbol: str) -> dict[int, bool]:
    """Per day index (0 = 2025-10-01): whether every bar of the day is a gap (None if mixed)."""
    frame = frame.reset_index() if "bar_start" not in frame else frame
    rows = frame[frame["symbol"] == symbol]
    day = (rows["bar_start"] - pd.Timestamp(T0, unit="us", tz="UTC")) // pd.Timedelta(days=1)
    out = {}
    for k, gaps in rows.groupby(day)["gap"]:
        out[int(k)] = bool(gaps.all()) if gaps.all() or not gaps.any() else None
    return out


def test_a_day_without_a_file_is_a_gap_for_that_symbol_only(tmp_path):
    liq_days(tmp_path, "ETHUSDT", [0, 1, 3])  # 2025-10-03 missing
    liq_days(tmp_path, "BTCUSDT", [0, 1, 2, 3])
    run = Replay(tmp_path)
    frame = pd.DataFrame(list(run))
    frame["bar_start"] = pd.to_datetime(frame["bar_start"], unit="us", utc=True)
    assert gap_days(frame, "ETHUSDT") == {0: False, 1: False, 2: True, 3: False}
    assert gap_days(frame, "BTCUSDT") == {0: False, 1: False, 2: False, 3: False}
    assert run.missing == [MissingDay(EXCHANGE, "liquidations", pd.Timestamp(day_name(2)).date(), "ETHUSDT")]
    assert frame.loc[frame["gap"], "all_count"].sum() == 0


def test_the_bars_of_a_missing_day_are_gaps_at_every_frequency(tmp_path):
    liq_days(tmp_path, "ETHUSDT", [0, 2])
    frame = replay(tmp_path, freq="15m,4h,1d").reset_index()
    day1 = (frame["bar_start"] >= pd.Timestamp(T0 + DAY, unit="us", tz="UTC")) & \
        (frame["bar_end"] <= pd.Timestamp(T0 + 2 * DAY, unit="us", tz="UTC"))
    assert frame.loc[day1, "gap"].all() and day1.sum() == 96 + 6 + 1
    assert not frame.loc[~day1, "gap"].any()


def test_a_missing_grouped_file_is_a_gap_for_every_symbol_without_its_own_file(tmp_path):
    liq_days(tmp_path, "", [0, 2], grouped_symbols=("ETHUSDT", "BTCUSDT", "SOLUSDT"))
    liq_days(tmp_path, "BTCUSDT", [1])  # BTCUSDT's own file covers day 1
    frame = Replay(tmp_path)
    rows = pd.DataFrame(list(frame))
    rows["bar_start"] = pd.to_datetime(rows["bar_start"], unit="us", utc=True)
    for symbol in ("ETHUSDT", "SOLUSDT"):
        assert gap_days(rows, symbol) == {0: False, 1: True, 2: False}
    assert gap_days(rows, "BTCUSDT") == {0: False, 1: False, 2: False}
    [missing] = frame.missing
    assert (missing.symbol, missing.covered, missing.who) == (None, frozenset({"BTCUSDT"}), f"all {EXCHANGE} symbols")


def test_a_channel_missing_for_a_day_is_a_gap_even_with_other_channels_present(tmp_path):
    liq_days(tmp_path, "ETHUSDT", [0, 1, 2])
    for k in (0, 2):  # the ticker file of day 1 is missing
        write_file(tmp_path / f"{EXCHANGE}_derivative_ticker_{day_name(k)}_ETHUSDT.csv", ",".join(TICKER_COLUMNS),
                   [f"{EXCHANGE},ETHUSDT,{T0 + k * DAY + 60_000_000},{T0 + k * DAY + 60_001_000},,,,,,,2400.5"])
    frame = replay(tmp_path, freq="1h")
    assert gap_days(frame, "ETHUSDT") == {0: False, 1: True, 2: False}


def test_silent_days_have_files_and_are_not_gaps(tmp_path):
    liq_days(tmp_path, "ETHUSDT", [0, 2])
    write_file(tmp_path / f"{EXCHANGE}_liquidations_{day_name(1)}_ETHUSDT.csv", "exchange,symbol,timestamp,"
               "local_timestamp,id,side,price,amount", [])  # Tardis writes a header-only file
    assert not replay(tmp_path)["gap"].any()


def test_from_to_extend_the_range_of_expected_days(tmp_path):
    liq_days(tmp_path, "ETHUSDT", [0, 1])
    liq_days(tmp_path, "BTCUSDT", [0, 1, 2])  # day 2 has rows for ETHUSDT too (the run's clock)
    assert gap_days(replay(tmp_path), "ETHUSDT") == {0: False, 1: False, 2: False}  # past its last file
    within = replay(tmp_path, start=day_name(0), end=day_name(2))
    assert gap_days(within, "ETHUSDT") == {0: False, 1: False, 2: True}
    assert gap_days(within, "BTCUSDT") == {0: False, 1: False, 2: False}


@pytest.mark.parametrize("damage", ["truncated", "empty", "empty-gz"])
def test_an_unreadable_file_is_skipped_with_skip_bad_rows_and_its_day_is_a_gap(tmp_path, damage, capsys):
    for k in range(3):
        liq_file(tmp_path, k, "ETHUSDT", liq_lines(3000, T0 + k * DAY + HOUR, step=1_000_000), gz=True)
    path = tmp_path / f"{EXCHANGE}_liquidations_{day_name(1)}_ETHUSDT.csv.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else
                     b"" if damage == "empty" else gzip.compress(b""))
    with pytest.raises(InputError, match=str(path)):
        list(Replay(tmp_path))
    run = Replay(tmp_path, skip_bad_rows=True)
    frame = pd.DataFrame(list(run))
    frame["bar_start"] = pd.to_datetime(frame["bar_start"], unit="us", utc=True)
    assert gap_days(frame, "ETHUSDT") == {0: False, 1: True, 2: False}
    assert frame["all_count"].sum() == 2 * 3000  # none of the skipped file's rows is used
    assert [m.skipped for m in run.missing] == [True]
    assert len(run.stats.unreadable) == 1 and str(path) in run.stats.unreadable[0]
    out = tmp_path / "out.csv"
    assert main(["replay", "--data-dir", str(tmp_path), "--skip-bad-rows", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"skipped 1 unreadable file(s): {path}: " in err
    assert "days without data, their bars marked gap = true:" in err
    assert f"liquidations: 1 missing day(s): {day_name(1)} ETHUSDT (unreadable file skipped)" in err


def test_summary_lists_missing_days_per_channel(tmp_path, capsys):
    liq_days(tmp_path, "ETHUSDT", [0, 2])
    liq_days(tmp_path, "ETHUSDT", [0, 3], channel="trades")
    assert main(["replay", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out.csv")]) == 0
    err = capsys.readouterr().err
    assert f"  liquidations: 1 missing day(s): {day_name(1)} ETHUSDT\n" in err
    assert f"  trades: 2 missing day(s): {day_name(1)} ETHUSDT, {day_name(2)} ETHUSDT" in err


def test_missing_days_rules():
    """The reading of docs/spec-readings.md, on file lists alone."""
    def f(day: int, symbol: str, channel: str = "liquidations", exchange: str = EXCHANGE) -> TardisFile:
        return TardisFile(Path(f"{exchange}_{channel}_{day}_{symbol}"), exchange, channel, date(2025, 10, day), symbol)

    files = [f(1, "PERPETUALS"), f(4, "PERPETUALS"), f(2, "BTCUSDT"), f(6, "BTCUSDT"),
             f(1, "ETHUSDT", "trades"), f(3, "ETHUSDT", "trades"), f(2, "XRPUSDT", "trades", "bybit")]
    got = [(m.channel, m.day.day, m.symbol, sorted(m.covered)) for m in missing_days(files)]
    assert got == [
        ("liquidations", 2, None, ["BTCUSDT"]),  # the grouped stream misses day 2, BTCUSDT has its own
        ("liquidations", 3, None, []),
        ("liquidations", 5, "BTCUSDT", []),  # after the grouped files, BTCUSDT's own range runs to day 6
        ("trades", 2, "ETHUSDT", []),
    ]
    ranged = missing_days([f(2, "ETHUSDT", "trades")], start=date(2025, 10, 1), end=date(2025, 10, 3))
    assert [m.day.day for m in ranged] == [1, 3]
    skipped = missing_days([f(1, "ETHUSDT"), f(2, "ETHUSDT")], unreadable=[f(2, "ETHUSDT")])
    assert [(m.day.day, m.skipped) for m in skipped] == [(2, True)]
    assert (EXCHANGE, "SOLUSDT") in missing_days(files)[0] and (EXCHANGE, "BTCUSDT") not in missing_days(files)[0]
    assert ("bybit", "SOLUSDT") not in missing_days(files)[0]


def test_an_aggregate_row_is_a_gap_when_a_member_misses_the_day(tmp_path):
    """FACTORS.md section 10: the aggregate's `gap` is true when any member's bar has one."""
    liq_days(tmp_path, "ETHUSDT", [0, 1, 2])
    liq_days(tmp_path, "ETHUSDC", [0, 2])  # the USDC perp misses day 1
    frame = replay(tmp_path, freq="1h", aggregate=True).reset_index()
    assert gap_days(frame[frame["exchange"] == "all"], "ETH") == {0: False, 1: True, 2: False}
    assert gap_days(frame, "ETHUSDT") == {0: False, 1: False, 2: False}
