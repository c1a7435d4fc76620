"""The `streamliq replay` command: outputs, summary, exit status and clean failure."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import EXCHANGE, LIQ_COLUMNS, T0, make_events, write_tardis

from streamliq.cli import main
from streamliq.engine.config import INT_COLUMNS, FactorConfig

SECOND = 1_000_000
CONSOLE_SCRIPT = Path(sys.executable).with_name("streamliq")
COMMAND = [str(CONSOLE_SCRIPT)] if CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "streamliq.cli"]
SUMMARY_RE = re.compile(
    r"^streamliq replay: (?P<rows>[\d,]+) rows for (?P<symbols>\d+) symbols from (?P<events>[\d,]+) events "
    r"in (?P<files>\d+) files; late events (?P<late>.+); (?P<seconds>\d+\.\d) s \(.* events/s\) -> (?P<out>.+)$"
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """One day of two symbols, all three channels (liquidations in a PERPETUALS file)."""
    events = make_events(seed=11, days=1, ticker_every_s=120, trades_per_hour=40)
    folder = tmp_path_factory.mktemp("cli_data")
    write_tardis(events, folder)
    return folder, events


@pytest.fixture(scope="module")
def parquet_run(data, tmp_path_factory) -> tuple[Path, str]:
    """The reference run: 15m and 1h bars to Parquet, with its stderr."""
    folder, _ = data
    out = tmp_path_factory.mktemp("cli_out") / "factors.parquet"
    proc = subprocess.run(
        [*COMMAND, "replay", "--data-dir", str(folder), "--freq", "15m,1h", "--out", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return out, proc.stderr


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def summary(stderr: str) -> re.Match:
    match = SUMMARY_RE.match(stderr.splitlines()[0])
    assert match, stderr
    return match


def number(text: str) -> int:
    return int(text.replace(",", ""))


# -- 1. Parquet -------------------------------------------------------------------------------
def test_console_script_writes_parquet(data, parquet_run):
    folder, events = data
    out, stderr = parquet_run
    assert out.exists()
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left
    schema = pq.read_schema(out)
    columns = FactorConfig.build(freq="15m,1h").columns()
    assert schema.names == columns
    assert schema.field("bar_start").type == pa.timestamp("us", tz="UTC")
    assert schema.field("bar_end").type == pa.timestamp("us", tz="UTC")
    for name in ("exchange", "symbol", "freq"):
        assert schema.field(name).type == pa.string()
    for name in INT_COLUMNS:
        assert schema.field(name).type == pa.int64(), name
    assert schema.field("gap").type == pa.bool_()
    other = set(columns) - set(INT_COLUMNS) - {"exchange", "symbol", "freq", "bar_start", "bar_end", "gap"}
    assert {str(schema.field(name).type) for name in other} == {"double"}

    frame = pd.read_parquet(out)
    assert list(dict.fromkeys(frame["freq"])) == ["15m", "1h"]
    assert set(frame["symbol"]) == {"ETHUSDT", "BTCUSDT"}
    assert set(frame["exchange"]) == {EXCHANGE}
    assert not frame["gap"].any()
    widths = (frame["bar_end"] - frame["bar_start"]).groupby(frame["freq"]).unique()
    assert [list(v) for v in widths.sort_index()] == [[pd.Timedelta("15min")], [pd.Timedelta("1h")]]
    # every event is counted once per frequency, on time or late
    for freq in ("15m", "1h"):
        part = frame[frame["freq"] == freq]
        assert part["n_events"].sum() + part["late_events"].sum() == sum(len(f) for f in events.values())

    match = summary(stderr)
    assert len(stderr.splitlines()) == 1
    assert number(match["rows"]) == len(frame)
    assert int(match["symbols"]) == 2
    assert number(match["events"]) == sum(len(f) for f in events.values())
    assert int(match["files"]) == len(list(folder.iterdir()))
    late = {freq: int(frame.loc[frame["freq"] == freq, "late_events"].sum()) for freq in ("15m", "1h")}
    assert late["15m"] > 0
    assert match["late"] == f"{late['15m']:,} (15m), {late['1h']:,} (1h)"
    assert match["out"] == str(out)


# -- 2. CSV, JSON lines, stdout ------------------------------------------------------------------
def assert_same_values(a: pd.Series, b: pd.Series, name: str) -> None:
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        assert same.all(), f"{name}: {x[~same][:3]} != {y[~same][:3]}"
    else:
        assert a.tolist() == b.tolist(), name


def iso(frame: pd.DataFrame, column: str) -> list[str]:
    return frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()


def test_csv_output_matches_parquet(data, parquet_run, tmp_path, capsys):
    folder, _ = data
    expected = pd.read_parquet(parquet_run[0])
    out = tmp_path / "factors.csv"
    code, stdout, stderr = run(["replay", "--data-dir", str(folder), "--freq", "15m,1h", "--out", str(out)], capsys)
    assert code == 0 and stdout == ""
    assert summary(stderr)["out"] == str(out)
    assert [p.name for p in tmp_path.iterdir()] == ["factors.csv"]
    text = out.read_text()
    assert text.splitlines()[0] == ",".join(expected.columns)
    actual = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    assert actual["bar_start"].tolist() == iso(expected, "bar_start")
    assert actual["bar_end"].tolist() == iso(expected, "bar_end")
    assert actual["bar_start"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    for name in expected.columns:
        if name not in ("bar_start", "bar_end"):
            assert_same_values(actual[name], expected[name], name)
    for name in INT_COLUMNS:
        assert actual[name].dtype == np.int64


def test_jsonl_output_matches_parquet(data, parquet_run, tmp_path, capsys):
    folder, _ = data
    expected = pd.read_parquet(parquet_run[0])
    out = tmp_path / "factors.jsonl"
    code, stdout, _ = run(["replay", "--data-dir", str(folder), "--freq", "15m,1h", "--out", str(out), "--quiet"],
                          capsys)
    assert code == 0 and stdout == ""
    check_json_lines(out.read_text(), expected)


def check_json_lines(text: str, expected: pd.DataFrame) -> None:
    assert "NaN" not in text and "Infinity" not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == len(expected)
    assert list(rows[0]) == list(expected.columns)
    saw_null = False
    for name in expected.columns:
        values = [row[name] for row in rows]
        if name in ("bar_start", "bar_end"):
            assert values == iso(expected, name)
        elif expected[name].dtype.kind == "f":
            nan = expected[name].isna().to_numpy()
            assert all((v is None) == n for v, n in zip(values, nan, strict=True)), name
            saw_null |= bool(nan.any())
            got = np.array([math.nan if v is None else v for v in values], dtype=float)
            assert_same_values(pd.Series(got), expected[name], name)
        else:
            assert values == expected[name].tolist(), name
            kind = {"b": bool, "i": int, "O": str}.get(expected[name].dtype.kind, str)
            assert all(type(v) is kind for v in values), name
    assert saw_null


def test_out_dash_writes_json_lines_to_stdout(data, parquet_run, capsys):
    folder, _ = data
    expected = pd.read_parquet(parquet_run[0])
    code, stdout, stderr = run(["replay", "--data-dir", str(folder), "--freq", "15m,1h", "--out", "-"], capsys)
    assert code == 0
    check_json_lines(stdout, expected)
    assert summary(stderr)["out"] == "-"


def test_symbol_and_date_options(data, parquet_run, tmp_path, capsys):
    folder, _ = data
    expected = pd.read_parquet(parquet_run[0])
    out = tmp_path / "eth.parquet"
    code, _, stderr = run(["replay", "--data-dir", str(folder), "--freq", "15m,1h", "--symbols", "ethusdt",
                           "--exchange", EXCHANGE, "--from", "2025-10-01", "--to", "2025-10-02", "--out", str(out)],
                          capsys)
    assert code == 0, stderr
    actual = pd.read_parquet(out)
    assert set(actual["symbol"]) == {"ETHUSDT"}
    eth = expected[expected["symbol"] == "ETHUSDT"]
    assert actual["all_count"].sum() == eth["all_count"].sum() > 0
    assert actual["all_notional"].sum() == pytest.approx(eth["all_notional"].sum(), rel=1e-12)
    assert int(summary(stderr)["symbols"]) == 1


# -- 3. bad input: exit 2, one line, nothing written --------------------------------------------
def tardis_file(folder: Path, lines: list[str], name: str = "ETHUSDT", day: str = "2025-10-01") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{EXCHANGE}_liquidations_{day}_{name}.csv"
    path.write_text("\n".join([",".join(LIQ_COLUMNS), *lines]) + "\n")
    return path


def liq_line(ts: int, price: str = "2400.5") -> str:
    return f"{EXCHANGE},ETHUSDT,{ts},{ts + 1000},,buy,{price},1.5"


def liq_lines(n: int, bad: dict[int, tuple[str, str]] | None = None) -> list[str]:
    """n good liquidations a second apart; `bad` maps a row index to (column, replacement)."""
    lines = []
    for i in range(n):
        ts = T0 + i * SECOND
        parts = [EXCHANGE, "ETHUSDT", str(ts), str(ts + 1000), "", "buy" if i % 2 else "sell", "2400.5", "1.5"]
        if bad and i in bad:
            column, value = bad[i]
            parts[LIQ_COLUMNS.index(column)] = value
        lines.append(",".join(parts))
    return lines


def assert_one_line_error(stderr: str, *parts: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("streamliq: error: ")
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_bad_row_exit_2_and_no_output(tmp_path, capsys, suffix, existing):
    # the temporary output file is open (bars have closed) when the bad row is read
    lines = liq_lines(3000, bad={2500: ("price", "abc")})
    path = tardis_file(tmp_path / "data", lines)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"factors{suffix}"
    if existing:
        out.write_bytes(b"old content\n")
    code, stdout, stderr = run(["replay", "--data-dir", str(tmp_path / "data"), "--freq", "1m",
                                "--out", str(out)], capsys)
    assert code == 2
    assert stdout == ""
    assert_one_line_error(stderr, f"{path}:2502:", "field 'price'", "not a number", "'abc'")
    if existing:
        assert out.read_bytes() == b"old content\n"
        assert [p.name for p in out_dir.iterdir()] == [out.name]
    else:
        assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_bad_row_after_rows_were_written_leaves_old_output_untouched(tmp_path, capsys, monkeypatch, suffix):
    """Over 10,000 rows reach the sink before the bad row of the third day's file."""
    from streamliq.sinks.files import FileSink

    written: list[int] = []
    original = FileSink.write

    def spy(self, rows):
        written.append(len(rows))
        original(self, rows)

    monkeypatch.setattr(FileSink, "write", spy)
    data_dir = tmp_path / "data"
    for k in range(3):
        day = T0 + k * 86_400 * SECOND
        lines = [liq_line(day + 1000), liq_line(day + 86_398 * SECOND, price="abc" if k == 2 else "2400.5")]
        path = tardis_file(data_dir, lines, day=f"2025-10-0{k + 1}")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"factors{suffix}"
    out.write_bytes(b"old content\n")
    code, stdout, stderr = run(["replay", "--data-dir", str(data_dir), "--freq", "15s", "--z-windows", "2",
                                "--pct-windows", "2", "--mining-windows", "2", "--out", str(out)], capsys)
    assert code == 2 and stdout == ""
    assert sum(written) >= 10_000
    assert_one_line_error(stderr, f"{path}:3:", "field 'price'", "not a number")
    assert out.read_bytes() == b"old content\n"
    assert [p.name for p in out_dir.iterdir()] == [out.name]


@pytest.mark.parametrize(("bad", "parts"), [
    ({4: ("side", "long")}, [":6:", "field 'side'", "unknown side", "'long'"]),
    ({5: ("price", "")}, [":7:", "field 'price'", "must be a positive number"]),
    ({6: ("local_timestamp", str(T0))}, [":8:", "field 'local_timestamp'", "goes back in time"]),
])
def test_other_bad_rows_exit_2(tmp_path, capsys, bad, parts):
    path = tardis_file(tmp_path / "data", liq_lines(10, bad))
    out = tmp_path / "f.parquet"
    code, _, stderr = run(["replay", "--data-dir", str(tmp_path / "data"), "--out", str(out)], capsys)
    assert code == 2
    assert_one_line_error(stderr, str(path), *parts)
    assert not out.exists()


def test_missing_column_exit_2(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / f"{EXCHANGE}_liquidations_2025-10-01_ETHUSDT.csv"
    header = ",".join(c for c in LIQ_COLUMNS if c != "amount")
    path.write_text(header + "\n" + "\n".join(line.rsplit(",", 1)[0] for line in liq_lines(3)) + "\n")
    code, _, stderr = run(["replay", "--data-dir", str(folder), "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 2
    assert_one_line_error(stderr, f"{path}:1:", "missing column 'amount'")
    assert not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize(("argv", "parts"), [
    (["--data-dir", "{tmp}/nope"], ["data folder '{tmp}/nope' does not exist"]),
    (["--data-dir", "{tmp}/empty"], ["no Tardis file named {exchange}_{channel}_{YYYY-MM-DD}_{SYMBOL}.csv[.gz]"]),
    (["--data-dir", "{tmp}/data", "--freq", "15M"], ["'M' means months", "<N>min"]),
    (["--data-dir", "{tmp}/data", "--freq", "7m"], ["divide one day evenly", "<N>min"]),
    (["--data-dir", "{tmp}/data", "--freq", "abc"], ["invalid frequency 'abc'", "<N>min"]),
    (["--data-dir", "{tmp}/data", "--lateness", "soon"], ["invalid duration 'soon'"]),
    (["--data-dir", "{tmp}/data", "--from", "01/10/2025"], ["invalid --from date '01/10/2025'"]),
    (["--data-dir", "{tmp}/data", "--symbols", "xrpusdt"], ["filters: symbols=XRPUSDT"]),
])
def test_bad_options_exit_2(tmp_path, capsys, argv, parts):
    tardis_file(tmp_path / "data", liq_lines(3))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.csv").write_text("a,b\n1,2\n")
    argv = [a.format(tmp=tmp_path) for a in argv]
    out = tmp_path / "f.parquet"
    code, stdout, stderr = run(["replay", *argv, "--out", str(out)], capsys)
    assert code == 2 and stdout == ""
    assert_one_line_error(stderr, *(p.replace("{tmp}", str(tmp_path)) for p in parts))
    assert not out.exists()


# -- 4. --skip-bad-rows ----------------------------------------------------------------------
def test_skip_bad_rows_summary(tmp_path, capsys):
    lines = liq_lines(20, bad={3: ("side", "long"), 8: ("side", "short"), 12: ("price", ""),
                               15: ("local_timestamp", str(T0))})
    tardis_file(tmp_path / "data", lines)
    out = tmp_path / "f.parquet"
    code, _, stderr = run(["replay", "--data-dir", str(tmp_path / "data"), "--freq", "1m", "--skip-bad-rows",
                           "--out", str(out)], capsys)
    assert code == 0
    assert pd.read_parquet(out)["all_count"].sum() == 16
    assert number(summary(stderr)["events"]) == 16
    skipped = [line for line in stderr.splitlines() if line.startswith("skipped")]
    assert skipped == ["skipped 4 bad rows: 2 side: unknown side, expected one of buy, sell; "
                       "1 price: must be a positive number; "
                       "1 local_timestamp: goes back in time (files must be in local_timestamp order)"]


def test_skip_bad_rows_summary_counts_a_bad_number_once(tmp_path, capsys):
    tardis_file(tmp_path / "data", liq_lines(20, bad={3: ("price", "abc")}))
    out = tmp_path / "f.parquet"
    code, _, stderr = run(["replay", "--data-dir", str(tmp_path / "data"), "--skip-bad-rows", "--out", str(out)],
                          capsys)
    assert code == 0
    assert pd.read_parquet(out)["all_count"].sum() == 19
    assert "skipped 1 bad rows: 1 price: not a number" in stderr.splitlines()


def test_row_with_missing_fields_exit_2(tmp_path, capsys):
    lines = liq_lines(10)
    lines[4] = ",".join(lines[4].split(",")[:6])
    path = tardis_file(tmp_path / "data", lines)
    out = tmp_path / "f.parquet"
    try:
        code, _, stderr = run(["replay", "--data-dir", str(tmp_path / "data"), "--out", str(out)], capsys)
    finally:
        assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "data"]
    assert code == 2
    assert_one_line_error(stderr, f"{path}:6:")


# -- 5. output path --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["factors.txt", "factors.xlsx", "factors"])
def test_unknown_output_extension(tmp_path, capsys, name):
    tardis_file(tmp_path / "data", liq_lines(3))
    out = tmp_path / name
    code, stdout, stderr = run(["replay", "--data-dir", str(tmp_path / "data"), "--out", str(out)], capsys)
    assert code == 2 and stdout == ""
    assert_one_line_error(stderr, f"output '{out}': unknown extension, use .parquet, .csv, .jsonl or -")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_output_folder_missing(tmp_path, capsys):
    tardis_file(tmp_path / "data", liq_lines(3))
    out = tmp_path / "missing" / "f.parquet"
    code, _, stderr = run(["replay", "--data-dir", str(tmp_path / "data"), "--out", str(out)], capsys)
    assert code == 2
    assert_one_line_error(stderr, f"folder '{tmp_path / 'missing'}' does not exist")


def test_bad_input_in_a_subprocess(tmp_path):
    path = tardis_file(tmp_path / "data", liq_lines(10, bad={7: ("side", "long")}))
    out = tmp_path / "f.csv"
    proc = subprocess.run([sys.executable, "-m", "streamliq.cli", "replay", "--data-dir", str(tmp_path / "data"),
                           "--out", str(out)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"streamliq: error: {path}:9: field 'side': unknown side, expected one of buy, sell " \
                          f"(got 'long')\n"
    assert not out.exists()
