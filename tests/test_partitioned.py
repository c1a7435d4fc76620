"""`streamliq replay --workers N / --scheduler ADDRESS`: the single-process rows, from Dask tasks.

Everything that talks to Dask runs in child processes (the command line, the cluster): a Dask
client leaves threads behind in its process, which other tests count.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from conftest import DAY, EXCHANGE, LIQ_COLUMNS, T0, assert_rows_equal, make_events, write_tardis

from streamliq.badinput import BadInputCounter
from streamliq.cli import main
from streamliq.commands.partitioned import SymbolProgress
from streamliq.partitioned import split
from streamliq.partitioned.dataset import MARKER
from streamliq.sources.discovery import discover
from streamliq.sources.tardis import TardisFileReader
from streamliq.tardis_replay import ReplayStats

pytest.importorskip("distributed")

SYMBOLS = ("ETHUSDT", "BTCUSDT", "SOLUSDT", "XRPUSDT")
SECOND = 1_000_000
MINUTE = 60 * SECOND
TRADE_COLUMNS = LIQ_COLUMNS
CONSOLE_SCRIPT = Path(sys.executable).with_name("streamliq")
COMMAND = [str(CONSOLE_SCRIPT)] if CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "streamliq.cli"]
CLUSTER = """
import sys
from distributed import LocalCluster
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A 2-worker, 1-thread-each LocalCluster (in a child process) shared by this module's tests."""
    proc = subprocess.Popen([sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=tmp_path_factory.mktemp("cluster"))
    try:
        address = proc.stdout.readline().strip()
        assert address.startswith("tcp://127.0.0.1:"), address
        yield address
    finally:
        proc.stdin.close()  # the cluster closes when its stdin does
        proc.wait(timeout=30)


def cli(*argv: str, **env: str) -> subprocess.CompletedProcess:
    """`streamliq ARGV` in a child process."""
    return subprocess.run([*COMMAND, *argv], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **env})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Four symbols over three days: liquidations grouped in PERPETUALS files, plus one own file.

    ETHUSDT's liquidations of the first day are also in their own file, so that day's grouped
    rows of ETHUSDT are skipped (by both replays).
    """
    events = make_events(seed=5, days=3, symbols=SYMBOLS, ticker_every_s=120, trades_per_hour=40)
    folder = tmp_path_factory.mktemp("partitioned_data")
    write_tardis(events, folder)
    liq = events["liquidations"]
    own = liq[(liq["symbol"] == "ETHUSDT") & (liq["local_timestamp"] < T0 + DAY)].assign(id="")
    _write(folder / f"{EXCHANGE}_liquidations_2025-10-01_ETHUSDT.csv.gz", own, LIQ_COLUMNS)
    return folder


def _write(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    with gzip.open(path, "wt", newline="") as handle:
        frame[columns].to_csv(handle, index=False, lineterminator="\n")


def _single(folder: Path, out: Path, *extra: str) -> pd.DataFrame:
    assert main(["replay", "--data-dir", str(folder), "--out", str(out), "--quiet", *extra]) == 0
    return pd.read_parquet(out)


def _dataset(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame.astype({"freq": str, "symbol": str})


def test_two_local_workers_give_the_single_process_rows(data, tmp_path):
    expected = _single(data, tmp_path / "single.parquet", "--freq", "15m,1h")
    out = tmp_path / "factors"
    proc = cli("replay", "--data-dir", str(data), "--freq", "15m,1h", "--all-symbols", "--workers", "2",
               "--out", str(out))
    err = proc.stderr
    assert proc.returncode == 0, err
    assert_rows_equal(_dataset(out), expected, exact=True)
    assert f"for {len(SYMBOLS)} symbols" in err and f"-> {out}" in err
    # hive layout: freq=F/symbol=S folders, partition values not repeated inside the files
    folders = sorted(p.relative_to(out).as_posix() for p in out.glob("freq=*/symbol=*"))
    assert folders == [f"freq={f}/symbol={s}" for f in ("15m", "1h") for s in sorted(SYMBOLS)]
    part = next(out.glob("freq=15m/symbol=ETHUSDT/part-0-*.parquet"))
    assert part.name == f"part-0-{EXCHANGE}.parquet"
    assert {"freq", "symbol"}.isdisjoint(pd.read_parquet(part).columns)
    dataset = ds.dataset(out, format="parquet", partitioning="hive")
    assert dataset.count_rows(filter=(ds.field("symbol") == "BTCUSDT") & (ds.field("freq") == "1h")) == \
        ((expected["symbol"] == "BTCUSDT") & (expected["freq"] == "1h")).sum()
    marker = json.loads((out / MARKER).read_text())
    assert marker["rows"] == len(expected) and marker["failed"] == [] and marker["freqs"] == ["15m", "1h"]
    assert not list(tmp_path.glob(".factors.*"))  # no temporary folder left


@pytest.mark.parametrize("tasks", ["1", "3"])
def test_tasks_of_several_symbols_give_the_single_process_rows(data, scheduler, tmp_path, tasks):
    expected = _single(data, tmp_path / "single.parquet", "--freq", "15m,1h")
    out = tmp_path / "factors"
    proc = cli("replay", "--data-dir", str(data), "--freq", "15m,1h", "--scheduler", scheduler, "--tasks", tasks,
               "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert_rows_equal(_dataset(out), expected, exact=True)
    folders = sorted(p.relative_to(out).as_posix() for p in out.glob("freq=*/symbol=*"))
    assert folders == [f"freq={f}/symbol={s}" for f in ("15m", "1h") for s in sorted(SYMBOLS)]


def test_scheduler_address_and_a_rerun_into_the_same_folder(data, scheduler, tmp_path):
    expected = _single(data, tmp_path / "single.parquet", "--symbols", "ETHUSDT,SOLUSDT")
    out = tmp_path / "factors"
    for _ in range(2):  # the second run replaces the first dataset
        proc = cli("replay", "--data-dir", str(data), "--symbols", "ETHUSDT,SOLUSDT", "--scheduler", scheduler,
                   "--out", str(out), "--quiet")
        assert proc.returncode == 0, proc.stderr
    assert_rows_equal(_dataset(out), expected, exact=True)


def test_venue_units_and_instruments_reach_the_workers(scheduler, tmp_path):
    """Contract venues in grouped and per-symbol files, with an --instruments override: the
    workers convert exactly as the single-process replay."""
    from venue_data import make_venue_events, write_venue_files

    data = write_venue_files(make_venue_events(hours=2), tmp_path / "data")
    specs = tmp_path / "specs.csv"
    specs.write_text("exchange,symbol,base,kind,contract_value,base_per_unit\n"
                     "okex-swap,BTC-USDT-SWAP,BTC,linear,0.001,1\n")
    expected = _single(data, tmp_path / "single.parquet", "--instruments", str(specs))
    out = tmp_path / "factors"
    proc = cli("replay", "--data-dir", str(data), "--instruments", str(specs), "--scheduler", scheduler,
               "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    actual = _dataset(out)
    assert_rows_equal(actual, expected, exact=True)
    shipped = _single(data, tmp_path / "shipped.parquet")  # 0.01 BTC a contract
    okx = [rows.loc[rows["symbol"] == "BTC-USDT-SWAP", "all_notional"].sum() for rows in (actual, shipped)]
    assert okx[0] == pytest.approx(okx[1] / 10, rel=1e-9) and okx[0] > 0


@pytest.mark.parametrize("tasks", [[], ["--tasks", "1"]])
def test_the_clock_of_other_symbols_decides_lateness(scheduler, tmp_path, capsys, tasks):
    """AAAUSDT's file of day 1 holds an arrival of day 2 at 01:00, so BBBUSDT's 00:15:01 arrival
    on day 2 sees a watermark of 01:00 and is late for its 15m bar: in both replays."""
    day2 = T0 + DAY
    trades = pd.DataFrame({
        "exchange": EXCHANGE, "symbol": "AAAUSDT", "id": "", "side": "buy", "price": 10.0, "amount": 1.0,
        "timestamp": [day2 - MINUTE, day2 + 60 * MINUTE - 1],
        "local_timestamp": [day2 - MINUTE + 1000, day2 + 60 * MINUTE]})
    liquidations = pd.DataFrame({
        "exchange": EXCHANGE, "symbol": "BBBUSDT", "id": "", "side": "sell", "price": 5.0, "amount": [2.0, 3.0],
        "timestamp": [day2 + 15 * MINUTE - 2 * SECOND, day2 + 70 * MINUTE],
        "local_timestamp": [day2 + 15 * MINUTE + SECOND, day2 + 70 * MINUTE + 1000]})
    _write(tmp_path / f"{EXCHANGE}_trades_2025-10-01_AAAUSDT.csv.gz", trades, TRADE_COLUMNS)
    _write(tmp_path / f"{EXCHANGE}_liquidations_2025-10-02_BBBUSDT.csv.gz", liquidations, LIQ_COLUMNS)
    single = tmp_path / "single.parquet"
    assert main(["replay", "--data-dir", str(tmp_path), "--freq", "15m,1h", "--out", str(single)]) == 0
    expected_err = capsys.readouterr().err
    expected = pd.read_parquet(single)
    out = tmp_path / "factors"
    proc = cli("replay", "--data-dir", str(tmp_path), "--freq", "15m,1h", "--scheduler", scheduler, "--out", str(out),
               *tasks)
    assert proc.returncode == 0, proc.stderr
    assert "late events 1 (15m), 0 (1h);" in expected_err and "late events 1 (15m), 0 (1h);" in proc.stderr
    actual = _dataset(out)
    assert_rows_equal(actual, expected, exact=True)
    late = actual[(actual["symbol"] == "BBBUSDT") & (actual["late_events"] > 0)]
    assert late[["freq", "bar_start", "late_events"]].astype(str).values.tolist() == [
        ["15m", "2025-10-02 01:00:00+00:00", "1"]]


def _break_price(path: Path, line: int) -> None:
    """Put the bad number `12x` into the price field of `line` (1 = the header)."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    fields = lines[line - 1].split(",")
    fields[LIQ_COLUMNS.index("price")] = "12x"
    lines[line - 1] = ",".join(fields)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


@pytest.mark.parametrize("tasks", ["1", "4"])
def test_a_failing_symbol_is_named_and_the_others_are_written(data, scheduler, tmp_path, tasks):
    """In a task of several symbols too: that task is run again symbol by symbol."""
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    broken = folder / f"{EXCHANGE}_trades_2025-10-01_BTCUSDT.csv.gz"
    _break_price(broken, 5)
    out = tmp_path / "factors"
    proc = cli("replay", "--data-dir", str(folder), "--scheduler", scheduler, "--retries", "1", "--out", str(out),
               "--quiet", "--tasks", tasks)
    err = proc.stderr
    assert proc.returncode == 3, err
    assert err.splitlines()[0] == (f"streamliq replay: symbol BTCUSDT ({EXCHANGE}): InputError: {broken}:5: "
                                   "field 'price': not a number (got '12x') (bad input, not retried)")
    assert f"1 symbol(s) failed: BTCUSDT ({EXCHANGE}); the other symbols were written" in err
    others = [s for s in SYMBOLS if s != "BTCUSDT"]
    expected = _single(data, tmp_path / "single.parquet", "--symbols", ",".join(others))
    assert_rows_equal(_dataset(out), expected, exact=True)
    assert json.loads((out / MARKER).read_text())["failed"] == [f"BTCUSDT ({EXCHANGE})"]


def test_skipped_bad_rows_are_counted_as_in_a_single_replay(data, scheduler, tmp_path, capsys):
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    _break_price(folder / f"{EXCHANGE}_trades_2025-10-01_BTCUSDT.csv.gz", 5)
    _break_price(folder / f"{EXCHANGE}_liquidations_2025-10-01_PERPETUALS.csv.gz", 7)
    single = tmp_path / "single.parquet"
    assert main(["replay", "--data-dir", str(folder), "--skip-bad-rows", "--out", str(single)]) == 0
    expected_err = capsys.readouterr().err
    out = tmp_path / "factors"
    proc = cli("replay", "--data-dir", str(folder), "--skip-bad-rows", "--scheduler", scheduler, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert_rows_equal(_dataset(out), pd.read_parquet(single), exact=True)
    skipped = [line for line in expected_err.splitlines() if line.startswith("skipped ")]
    assert skipped == ["skipped 2 bad rows: 2 price: not a number"]
    assert skipped[0] in err.splitlines()


def test_missing_and_unreadable_files_give_the_gaps_of_a_single_replay(data, scheduler, tmp_path):
    """Issue 12.2: the symbol tasks mark the same days `gap` as the single-process replay."""
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    (folder / f"{EXCHANGE}_trades_2025-10-02_ETHUSDT.csv.gz").unlink()  # a missing day of one symbol
    grouped = folder / f"{EXCHANGE}_liquidations_2025-10-03_PERPETUALS.csv.gz"
    grouped.write_bytes(grouped.read_bytes()[:200])  # truncated: the day is missing for every symbol
    single = _single(folder, tmp_path / "single.parquet", "--skip-bad-rows", "--freq", "1h")
    gaps = single[single["gap"]].groupby("symbol")["bar_start"].count().to_dict()
    assert gaps == {"ETHUSDT": 48, **{s: 24 for s in SYMBOLS[1:]}}
    out = tmp_path / "factors"
    proc = cli("replay", "--data-dir", str(folder), "--skip-bad-rows", "--freq", "1h", "--scheduler", scheduler,
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert_rows_equal(_dataset(out), single, exact=True)
    assert "days without data, their bars marked gap = true:" in proc.stderr


def test_split_reads_a_grouped_file_once_into_per_symbol_pieces(data, tmp_path, monkeypatch):
    monkeypatch.setattr(split, "FLUSH_ROWS", 50)  # several flushes: several row groups per symbol
    plan = discover(data, channels=("liquidations",))[0]
    item = next(f for f in plan.files if f.grouped)
    skip = plan.skip_symbols[item.path]
    assert skip == {"ETHUSDT"}
    result = split.split_grouped_file(item, tmp_path / "split.parquet", None, skip, False, block_size=2048)
    assert sorted(s for _, s in result.pieces) == sorted(set(SYMBOLS) - {"ETHUSDT"})
    assert max(len(piece.row_groups) for piece in result.pieces.values()) > 1
    for instrument, piece in result.pieces.items():
        reader = TardisFileReader(item, frozenset({instrument[1]}), skip, False, BadInputCounter())
        expected = [b for b in reader if len(b)]
        got = list(split.read_piece(piece, instrument))
        assert piece.rows == sum(len(b) for b in got) == sum(len(b) for b in expected)
        for name in ("ts", "arrival", "side", "price", "amount"):
            assert np.array_equal(np.concatenate([getattr(b, name) for b in got]),
                                  np.concatenate([getattr(b, name) for b in expected])), name


@pytest.mark.parametrize(("argv", "message"), [
    (["--workers", "2", "--out", "rows.csv"], "a partitioned replay writes a Parquet dataset, so --out names a folder"),
    (["--workers", "0"], "--workers must be a whole number >= 1 (got 0)"),
    (["--workers", "2", "--tasks", "0"], "--tasks must be a whole number >= 1 (got 0)"),
    (["--workers", "2", "--recorded", "rec"], "--scheduler/--workers replay Tardis files, not a --recorded folder"),
])
def test_bad_cluster_options_exit_2(data, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["replay", "--data-dir", str(data), *argv]) == 2  # stops before any Dask object exists
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_scheduler_exits_2(data, tmp_path):
    proc = cli("replay", "--data-dir", str(data), "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "f"),
               DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="0.2s")
    assert proc.returncode == 2
    assert "streamliq: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1: " in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_that_is_not_a_dataset_is_kept(data, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["replay", "--data-dir", str(data), "--workers", "1", "--out", str(tmp_path / "mine")]) == 2
    assert "exists and is not a streamliq dataset: choose another --out or remove it" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_symbols_and_all_symbols_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["replay", "--symbols", "BTCUSDT", "--all-symbols"])
    assert stop.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_progress_line_counts_symbols_replayed():
    class Replay:
        plans = [object()] * 270
        replayed = 2

    stats = ReplayStats(events=5_000, rows=1_234)
    line = SymbolProgress(Replay()).describe(stats)
    assert line.startswith("2/270 symbols  5,000 events  ")
    assert line.endswith(" ev/s  1,234 rows")


def test_the_progress_line_ends_on_every_symbol_done(data, scheduler, tmp_path):
    """A shown progress line is drawn once more at the end, with the final count."""
    script = ("import sys; from streamliq import progress; progress.SHOW_AFTER_SECONDS = 0; "
              "from streamliq.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "replay", "--data-dir", str(data), "--scheduler", scheduler,
                           "--out", str(tmp_path / "factors")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if " symbols  " in line]
    assert lines and "%  4/4 symbols  " in lines[-1], lines
    assert f"for {len(SYMBOLS)} symbols" in proc.stderr


def test_bad_input_in_a_grouped_file_is_one_line_without_retries_or_tracebacks(data, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    broken = folder / f"{EXCHANGE}_liquidations_2025-10-01_PERPETUALS.csv.gz"
    _break_price(broken, 7)
    proc = cli("replay", "--data-dir", str(folder), "--workers", "2", "--out", str(tmp_path / "factors"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"streamliq: error: {broken}:7: field 'price': not a number (got '12x')\n"
    assert not (tmp_path / "factors").exists()


def test_tasks_are_balanced_by_input_bytes():
    from streamliq.partitioned.plan import SymbolPlan, balanced_tasks

    class Sized(SymbolPlan):
        @property
        def size(self) -> int:
            return self.days[0]

    plans = [Sized(("x", f"S{n:02d}"), (bytes_,)) for n, bytes_ in enumerate([90, 50, 40, 30, 30, 20, 10, 10, 5, 5])]
    tasks = balanced_tasks(plans, 3)
    assert [task.size for task in tasks] == [100, 95, 95]
    assert sorted(i for task in tasks for i in task.instruments) == sorted(p.instrument for p in plans)
    assert all(list(task.instruments) == sorted(task.instruments) for task in tasks)
    assert len(balanced_tasks(plans, 50)) == len(plans) and len(balanced_tasks(plans[:1], 3)) == 1
