"""`streamliq plot`: a PNG of the requested size, and clear errors for what is not there."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import make_events, write_tardis

from streamliq.cli import main

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def factors(tmp_path_factory) -> Path:
    """15m and 1h rows of two symbols over three days (one silent)."""
    folder = tmp_path_factory.mktemp("plot_data")
    write_tardis(make_events(seed=2, days=3, ticker_every_s=300, trades_per_hour=20), folder)
    out = folder / "factors.parquet"
    assert main(["replay", "--data-dir", str(folder), "--freq", "15m,1h", "--out", str(out), "--quiet"]) == 0
    return out


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def plot(argv: list[str], capsys) -> tuple[int, str]:
    code = main(["plot", *argv])
    return code, capsys.readouterr().err


def test_png_of_the_requested_size(factors, tmp_path, capsys):
    out = tmp_path / "chart.png"
    code, err = plot([str(factors), "--symbol", "ethusdt", "--freq", "60min", "--size", "640x400",
                      "--from", "2025-10-01", "--to", "2025-10-01", "--out", str(out)], capsys)
    assert code == 0, err
    assert png_size(out) == (640, 400)
    assert err == f"streamliq plot: 24 1h bars of ETHUSDT -> {out}\n"


def test_a_hive_dataset_folder_and_another_factor(factors, tmp_path, capsys):
    folder = tmp_path / "dataset"
    pq.write_to_dataset(pq.read_table(factors), folder, partition_cols=["freq", "symbol"])
    out = tmp_path / "chart.png"
    code, err = plot([str(folder), "--symbol", "BTCUSDT", "--freq", "15m", "--factor", "all_count_pct168",
                      "--from", "2025-10-01T06:00", "--to", "2025-10-01T11:45", "--out", str(out)], capsys)
    assert code == 0, err
    assert png_size(out) == (1600, 1000)
    assert "24 15m bars of BTCUSDT" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--symbol", "DOGEUSDT"], "no rows for symbol 'DOGEUSDT'; its symbols are BTCUSDT, ETHUSDT"),
    (["--symbol", "ETHUSDT", "--freq", "1h", "--factor", "all_notional_z99"],
     "no column 'all_notional_z99'; its rolling factors are all_notional_z24, all_notional_z168, "),
    (["--symbol", "ETHUSDT"], "ETHUSDT has bars at several frequencies (15m, 1h): choose one with --freq"),
    (["--symbol", "ETHUSDT", "--freq", "4h"], "no 4h bars for ETHUSDT; its frequencies are 15m, 1h"),
    (["--symbol", "ETHUSDT", "--freq", "1h", "--from", "2026-01-01"],
     "no 1h bars for ETHUSDT from 2026-01-01 to the end"),
    (["--symbol", "ETHUSDT", "--freq", "1h", "--to", "yesterday"],
     "invalid --to 'yesterday': use YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
    (["--symbol", "ETHUSDT", "--size", "640"], "invalid --size '640': use WIDTHxHEIGHT in pixels"),
    (["--symbol", "ETHUSDT", "--out", "chart.gif"], "output 'chart.gif': unknown extension, use .png, .svg, .pdf"),
])
def test_errors_name_what_exists(factors, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    code, err = plot([str(factors), *argv], capsys)
    assert code == 2
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_factor_file(tmp_path, capsys):
    path = tmp_path / "other.parquet"
    pd.DataFrame({"symbol": ["ETHUSDT"], "price": [1.0]}).to_parquet(path)
    code, err = plot([str(path), "--symbol", "ETHUSDT"], capsys)
    assert code == 2
    assert f"{path}: not a streamliq factor file (no column bar_start, bar_end, close" in err
    code, err = plot([str(tmp_path / "missing.parquet"), "--symbol", "ETHUSDT"], capsys)
    assert code == 2 and "does not exist" in err


def test_without_from_and_to_every_bar_is_drawn(factors, tmp_path, capsys):
    out = tmp_path / "chart.png"
    code, err = plot([str(factors), "--symbol", "ETHUSDT", "--freq", "1h", "--out", str(out)], capsys)
    assert code == 0, err
    table = pq.read_table(factors).to_pandas()
    bars = ((table["symbol"] == "ETHUSDT") & (table["freq"] == "1h")).sum()
    assert err == f"streamliq plot: {bars} 1h bars of ETHUSDT -> {out}\n"
    assert png_size(out) == (1600, 1000)


def price_lines(figure) -> list:
    return [line for line in figure.axes[0].get_lines() if line.get_label() == "close (mark price)"]


def test_a_symbol_without_ticker_data_draws_its_liquidations_without_a_price_panel(factors, tmp_path):
    from streamliq.plot import chart_figure, load_chart_data

    frame = pd.read_parquet(factors)
    frame.loc[frame["symbol"] == "BTCUSDT", ["open", "high", "low", "close"]] = float("nan")
    path = tmp_path / "no_ticker.parquet"
    frame.to_parquet(path)
    chart = load_chart_data(path, "BTCUSDT", "1h")
    figure = chart_figure(chart, 640, 400)
    assert len(figure.axes) == 3  # no twin axis for a price that is not there
    top = figure.axes[0]
    assert not price_lines(figure) and "close" not in top.get_ylabel()
    assert top.get_ylabel().startswith("liquidated notional per bar")
    assert len(top.patches) == 2 * len(chart.frame)  # long and short bars of every row
    figure.savefig(tmp_path / "chart.png")


def test_a_long_stretch_without_data_breaks_the_price_line(factors):
    """Day 2 of the data is silent: the close carried through it is not drawn as a flat line."""
    from streamliq.plot import STALE_BARS, chart_figure, load_chart_data

    chart = load_chart_data(factors, "ETHUSDT", "1h")
    (line,) = price_lines(chart_figure(chart))
    x = pd.to_datetime(line.get_xdata())
    y = pd.Series(line.get_ydata(), dtype=float)
    silent = (x > pd.Timestamp("2025-10-02T01:00")) & (x < pd.Timestamp("2025-10-02T23:00"))
    assert silent.sum() >= 20 and y[silent].isna().all()
    assert y[~silent].notna().mean() > 0.9
    frame = chart.frame
    carried = (frame["close"] == frame["close"].shift()) & (frame["open"] == frame["close"])
    assert carried.sum() > STALE_BARS  # the file does carry the close through the silent day


def test_bars_missing_from_the_file_break_the_price_line(factors, tmp_path):
    from streamliq.plot import chart_figure, load_chart_data

    frame = pd.read_parquet(factors)
    hours = frame["bar_start"].dt.hour
    frame = frame[~((frame["bar_start"].dt.day == 1) & (hours >= 10) & (hours < 14))]  # four bars gone
    path = tmp_path / "holes.parquet"
    frame.to_parquet(path)
    chart = load_chart_data(path, "ETHUSDT", "1h")
    (line,) = price_lines(chart_figure(chart))
    x = pd.to_datetime(line.get_xdata())
    y = pd.Series(line.get_ydata(), dtype=float)
    hole = (x > pd.Timestamp("2025-10-01T10:00")) & (x <= pd.Timestamp("2025-10-01T14:00"))
    assert hole.sum() == 1 and y[hole].isna().all()  # one point without a value where the bars are missing
