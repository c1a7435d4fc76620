"""`streamliq report`: report.json against scipy and a hand-written Newey-West on the same aligned rows."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from research_data import factor_rows, reference_labels

from streamliq.cli import main

scipy_stats = pytest.importorskip("scipy.stats")
pytest.importorskip("matplotlib")

HORIZONS = (1, 4, 24)
KEY = ["exchange", "symbol", "bar_start"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return factor_rows(seed=11, symbols=6, bars=800)


@pytest.fixture(scope="module")
def made(rows, tmp_path_factory) -> tuple[dict, str, str]:
    """(report.json, the page, stderr) of one report over the rows."""
    folder = tmp_path_factory.mktemp("report")
    rows.to_parquet(folder / "factors.parquet")
    out = folder / "report.html"
    argv = ["report", str(folder / "factors.parquet"), "--horizons", ",".join(map(str, HORIZONS)),
            "--min-rows", "50", "--top", "3", "--out", str(out)]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(argv) == 0
    return json.loads(out.with_suffix(".json").read_text()), out.read_text(), err.getvalue()


@pytest.fixture(scope="module")
def labelled(rows) -> pd.DataFrame:
    """The rows with reference labels for every horizon 1..24."""
    out = rows
    for h in range(1, max(HORIZONS) + 1):
        ref = reference_labels(rows, h)[[*KEY, f"fwd_ret_{h}"]]
        out = out.merge(ref, on=KEY, how="left", validate="one_to_one")
    return out


def newey_west_t(x: list[float], lags: int) -> float:
    """The textbook formula, loops and all."""
    n = len(x)
    mean = sum(x) / n
    d = [v - mean for v in x]
    variance = sum(v * v for v in d) / n
    for lag in range(1, lags + 1):
        weight = 1 - lag / (lags + 1)
        variance += 2 * weight * sum(d[t] * d[t - lag] for t in range(lag, n)) / n
    return mean / math.sqrt(variance / n)


def close(a: float | None, b: float, tol: float = 1e-9) -> bool:
    return a is not None and abs(a - b) <= tol * max(1.0, abs(b))


def test_every_ic_and_t_matches_scipy_and_a_hand_written_newey_west(made, labelled):
    report = made[0]
    assert len(report["table"]) == len(report["factors"]) * len(HORIZONS)
    checked = 0
    for row in report["table"]:
        factor, h = row["factor"], row["horizon"]
        x, y = labelled[factor].astype(float), labelled[f"fwd_ret_{h}"]
        assert close(row["coverage"], float(x.notna().mean()))
        keep = x.notna() & y.notna()
        data = labelled.loc[keep, [*KEY, factor, f"fwd_ret_{h}"]]
        assert row["rows"] == len(data)
        assert report["labelled_rows"][str(h)] == int(y.notna().sum())
        if factor == "constant":
            assert row["rank_ic"] is None and row["t_nw"] is None and not row["ranked"]
            continue
        assert close(row["rank_ic"], scipy_stats.spearmanr(data[factor], data[f"fwd_ret_{h}"]).statistic)
        assert close(row["pearson_ic"], scipy_stats.pearsonr(data[factor], data[f"fwd_ret_{h}"]).statistic)
        per_symbol = [scipy_stats.spearmanr(g[factor], g[f"fwd_ret_{h}"]).statistic
                      for _, g in data.groupby(["exchange", "symbol"])]
        assert row["symbols"] == len(per_symbol) == 6
        assert close(row["symbol_ic_mean"], float(np.mean(per_symbol)))
        assert close(row["symbol_ic_std"], float(np.std(per_symbol, ddof=1)))
        assert row["symbols_positive"] == sum(v > 0 for v in per_symbol) / 6
        a = scipy_stats.rankdata(data[factor])
        b = scipy_stats.rankdata(data[f"fwd_ret_{h}"])
        product = (a - a.mean()) / a.std(ddof=1) * (b - b.mean()) / b.std(ddof=1)
        per_bar = pd.Series(product, index=data["bar_start"]).groupby(level=0).sum().sort_index()
        assert row["bars"] == len(per_bar) and row["nw_lags"] == h - 1
        assert close(row["t_nw"], newey_west_t(per_bar.tolist(), h - 1), 1e-8)
        checked += 1
    assert checked == (len(report["factors"]) - 1) * len(HORIZONS)


def test_the_planted_factor_comes_first_and_the_ranking_is_by_t(made):
    report = made[0]
    best = report["table"][0]
    assert (best["factor"], best["horizon"]) == ("signal_z24", 4)
    assert best["rank_ic"] > 0.3 and best["t_nw"] > 10 and best["symbols_positive"] == 1.0
    ts = [abs(r["t_nw"]) for r in report["table"] if r["ranked"]]
    assert ts == sorted(ts, reverse=True)
    assert report["top_factors"][0] == "signal_z24" and len(report["top_factors"]) == 3
    assert set(report["factors"]) == {"n_events", "all_notional", "all_count", "whale_index", "blood_content",
                                      "signal_z24", "noise", "constant", "all_notional_pct168",
                                      "all_notional_exq90w24", "big_q90_h24_count"}  # no close, gap or late_events


def test_quintiles_decay_and_months(made, labelled):
    report = made[0]
    factor = "signal_z24"
    ranks = labelled.groupby(["exchange", "symbol"])[factor].transform(
        lambda v: pd.Series(scipy_stats.rankdata(v, nan_policy="omit") / v.notna().sum(), index=v.index))
    quintile = np.ceil(ranks * 5)
    for h in HORIZONS:
        frame = pd.DataFrame({"q": quintile, "y": labelled[f"fwd_ret_{h}"]}).dropna()
        want = frame.groupby("q")["y"].agg(["mean", "count"])
        got = report["quintiles"][factor][str(h)]
        assert got["count"] == want["count"].tolist()
        np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-9)
    means = report["quintiles"][factor]["4"]["mean"]
    assert means == sorted(means)  # the planted factor sorts the returns
    decay = report["ic_decay"]
    assert decay["horizons"] == list(range(1, 25))
    for row in report["table"]:
        if row["factor"] in decay["ic"]:
            assert close(decay["ic"][row["factor"]][row["horizon"] - 1], row["rank_ic"])
    months = report["ic_by_month"][factor]
    assert months["horizon"] == 4 and months["months"] == ["2025-10", "2025-11"]
    october = labelled[labelled["bar_start"] < pd.Timestamp("2025-11-01", tz="UTC")][[factor, "fwd_ret_4"]].dropna()
    assert months["rows"][0] == len(october)
    assert close(months["rank_ic"][0], scipy_stats.spearmanr(october[factor], october["fwd_ret_4"]).statistic)


def test_event_studies(made, labelled):
    report = made[0]
    studies = {s["column"]: s for s in report["events"]}
    assert set(studies) == {"all_notional_exq90w24", "big_q90_h24_count", "all_notional_pct168", "whale_index",
                            "blood_content"}
    paths = labelled[[f"fwd_ret_{k}" for k in range(1, 25)]]
    whole = paths.notna().all(axis=1)
    whale_p90 = float(np.quantile(labelled["whale_index"].dropna(), 0.9))
    rules = {"all_notional_exq90w24": labelled["all_notional_exq90w24"] == 1,
             "big_q90_h24_count": labelled["big_q90_h24_count"] > 0,
             "all_notional_pct168": labelled["all_notional_pct168"] >= 0.99,
             "whale_index": labelled["whale_index"] > whale_p90}
    for column, flagged in rules.items():
        study = studies[column]
        events = paths[flagged & whole]
        assert study["flagged"] == int(flagged.sum()) and study["events"] == len(events) > 3
        assert study["path"][0] == 0.0
        np.testing.assert_allclose(study["path"][1:], events.mean(), rtol=1e-9, atol=1e-15)
        half = 1.96 * events.std(ddof=1) / math.sqrt(len(events))
        np.testing.assert_allclose(study["band_high"][1:], events.mean() + half, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(study["unconditional"][1:], paths[whole].mean(), rtol=1e-9, atol=1e-15)
    assert studies["whale_index"]["event"] == f"whale_index > p90 ({whale_p90:.4g})"


def test_correlation_matrix(made, rows):
    correlation = made[0]["correlation"]
    names = correlation["factors"]
    assert "constant" in names and "signal_z24" in names and correlation["rows_used"] == len(rows)
    matrix = np.array([[math.nan if v is None else v for v in line] for line in correlation["matrix"]])
    i, j = names.index("noise"), names.index("all_notional")  # complete columns: exactly Spearman
    assert close(matrix[i, j], rows["noise"].corr(rows["all_notional"], method="spearman"))
    assert close(matrix[i, i], 1.0) and np.isnan(matrix[names.index("constant")]).all()
    np.testing.assert_array_equal(np.isnan(matrix), np.isnan(matrix.T))


def test_the_page_has_the_table_the_plots_and_progress(made):
    report, page, err = made
    assert page.startswith("<!DOCTYPE html>") and "<table id='ranking'>" in page
    assert page.count("src='data:image/png;base64,") == 6
    assert "<script" not in page and "http" not in page  # self-contained, offline
    assert "<td class='name'>signal_z24</td><td>4</td>" in page
    assert "streamliq report:" in err and "ICs: 11 factors x 3 horizons" in err and "chart: event studies" in err
    assert err.splitlines()[-1].startswith(f"streamliq report: 11 factors x 3 horizons on {report['rows']:,} 1h rows")


def test_factor_patterns(rows, tmp_path):
    source = tmp_path / "f.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "r.html"
    assert main(["report", str(source), "--factors", "signal_*,whale_index", "--horizons", "4", "--quiet",
                 "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["factors"] == ["whale_index", "signal_z24"]
    assert [s["column"] for s in report["events"]] == ["whale_index"]


def test_a_file_without_any_forward_return_says_so(rows, tmp_path, capsys):
    source, out = tmp_path / "f.parquet", tmp_path / "r.html"
    rows.assign(close=math.nan).to_parquet(source)
    assert main(["report", str(source), "--quiet", "--out", str(out)]) == 0
    assert "warning: no row has a forward return" in capsys.readouterr().err
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["labelled_rows"] == {"1": 0, "4": 0, "24": 0} and report["top_factors"] == []
    assert all(r["rank_ic"] is None and not r["ranked"] for r in report["table"])
    assert out.read_text().count("Nothing to draw") == 5  # the correlation matrix needs no label


@pytest.mark.parametrize(("change", "argv", "message"), [
    ("drop_close", [], "no 'close' column: forward returns need the close price"),
    (None, ["--freq", "15m"], "no rows for frequency 15m; its frequencies are 1h"),
    ("two_freqs", [], "rows at several frequencies (15m, 1h): choose one with --freq"),
    (None, ["--factors", "nothing*"], "--factors 'nothing*' matches no factor column"),
    (None, ["--out", "report.pdf"], "unknown extension, use .html, .htm"),
    (None, ["--horizons", "0"], "invalid --horizons '0'"),
])
def test_errors(rows, tmp_path, capsys, change, argv, message):
    frame = rows.head(300)
    if change == "drop_close":
        frame = frame.drop(columns="close")
    elif change == "two_freqs":
        frame = pd.concat([frame, frame.assign(freq="15m")])
    source = tmp_path / "f.parquet"
    frame.to_parquet(source)
    assert main(["report", str(source), "--out", str(tmp_path / "r.html"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") <= 2, err
    assert not (tmp_path / "r.html").exists()


def test_a_replayed_factor_file(tmp_path):
    """Real engine columns: the event columns are found, price levels are not factors."""
    from conftest import make_events, write_tardis

    write_tardis(make_events(seed=4, days=3, ticker_every_s=300, trades_per_hour=20), tmp_path)
    factors, out = tmp_path / "factors.parquet", tmp_path / "report.html"
    assert main(["replay", "--data-dir", str(tmp_path), "--freq", "1h", "--out", str(factors), "--quiet"]) == 0
    assert main(["report", str(factors), "--horizons", "1,4", "--quiet", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert not {"open", "high", "low", "close", "last_price", "index_price", "gap"} & set(report["factors"])
    assert {"whale_index", "all_notional_z24", "big_q90_h24_count"} <= set(report["factors"])
    columns = {s["column"] for s in report["events"]}
    assert {"all_notional_exq90w24", "big_q90_h24_count", "whale_index", "blood_content"} <= columns
    assert report["rows"] == len(pd.read_parquet(factors)) and report["table"][0]["rows"] > 0
