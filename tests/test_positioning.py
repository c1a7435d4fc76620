"""Positioning metrics (FACTORS.md section 7) through replay, the CLI, the pandas API and the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import KEY, assert_rows_equal, write_tardis
from positioning_data import write_dumps
from positioning_reference import SECTION7, asof_columns, dump_rows, parse_time

from streamliq import LiquidationFactorEngine, read_metrics, replay
from streamliq.cli import main
from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.events import METRIC_FIELDS, MetricBatch

MINUTE = 60_000_000
FREQS = "5m,15m,1h"
WINDOW = (pd.Timestamp("2025-10-01", tz="UTC"), pd.Timestamp("2025-10-04", tz="UTC"))


@pytest.fixture(scope="module")
def run_dirs(events, tmp_path_factory) -> tuple[Path, Path]:
    """Tardis liquidations for 2025-10-01..03, and REST dumps from 2025-09-30 to 2025-10-04.

    ETHUSDT's dumps sit in the flat layout (the taker file's symbol comes from the other
    endpoints); BTCUSDT has its own folder with open interest and taker volume only.
    """
    root = tmp_path_factory.mktemp("positioning")
    write_tardis({"liquidations": events["liquidations"]}, root / "tardis")
    write_dumps(root / "dumps", "ETHUSDT", "2025-09-30 20:00", "2025-10-04 03:00",
                hole=("2025-10-02 10:00", "2025-10-02 13:00"))
    write_dumps(root / "dumps" / "BTCUSDT", "BTCUSDT", "2025-09-30 23:00", "2025-10-01 18:00", seed=5,
                names=("openInterest", "takerlongshortRatio"))
    return root / "tardis", root / "dumps"


@pytest.fixture(scope="module")
def with_metrics(run_dirs) -> pd.DataFrame:
    tardis, dumps = run_dirs
    return replay(tardis, freq=FREQS, metrics_dir=dumps).reset_index()


def expected_section7(dumps: Path, bars: pd.DataFrame) -> pd.DataFrame:
    """The independent computation, on the rows published inside the replayed days."""
    rows = pd.concat([dump_rows(dumps, "ETHUSDT").pipe(lambda f: f[f["symbol"] == "ETHUSDT"]),
                      dump_rows(dumps / "BTCUSDT", "BTCUSDT")], ignore_index=True)
    rows = rows[(rows["published"] >= WINDOW[0]) & (rows["published"] < WINDOW[1])]
    return asof_columns(bars, rows.sort_values("published", kind="stable"))


def test_replay_section7_equals_an_independent_asof_computation(run_dirs, with_metrics):
    _, dumps = run_dirs
    expected = expected_section7(dumps, with_metrics)
    actual = with_metrics.sort_values("bar_end", kind="stable").reset_index(drop=True)
    actual = actual.set_index(["symbol", "freq", "bar_start"]).loc[
        list(zip(expected["symbol"], expected["freq"], pd.to_datetime(expected["bar_start"], utc=True), strict=True))]
    for field in SECTION7:
        np.testing.assert_allclose(actual[field].to_numpy(), expected[field].to_numpy(), rtol=1e-12,
                                   equal_nan=True, err_msg=field)
    eth = with_metrics[(with_metrics["symbol"] == "ETHUSDT") & (with_metrics["freq"] == "15m")]
    assert eth["top_pos_ls_ratio"].notna().all() and eth["metric_open_interest"].notna().all()
    assert (eth["taker_buy_vol"] == 0).any()  # the three-hour hole: no taker rows, values carried
    btc = with_metrics[with_metrics["symbol"] == "BTCUSDT"]
    assert btc["top_pos_ls_ratio"].isna().all() and btc["metric_open_interest"].notna().any()


def test_metric_rows_join_the_liquidation_rows(run_dirs, with_metrics):
    """The same rows as without metrics (plus metric-only bars); only n_events counts more."""
    tardis, _ = run_dirs
    without = replay(tardis, freq=FREQS).reset_index()
    assert set(with_metrics.columns) - set(without.columns) == set(SECTION7)
    assert list(with_metrics.columns[-7:]) == SECTION7
    merged = without.merge(with_metrics, on=KEY, suffixes=("", "_m"), validate="one_to_one")
    assert len(merged) == len(without)
    liquidation_columns = [c for c in without.columns if c.startswith(("long_", "short_", "all_", "big_"))
                           and not any(part in c for part in ("_z", "_pct", "_exq"))]  # windows start earlier
    assert len(liquidation_columns) > 30
    for column in liquidation_columns:
        np.testing.assert_array_equal(merged[column], merged[f"{column}_m"], err_msg=column)
    assert (merged["n_events_m"] >= merged["n_events"]).all()
    assert with_metrics["bar_start"].min() == WINDOW[0]  # metrics open the first bar at midnight


def test_no_value_published_after_bar_end_appears_in_the_bar(run_dirs, with_metrics):
    """Every value in a bar was published before its end; joining on the raw open_time would fail this."""
    _, dumps = run_dirs
    rows = dump_rows(dumps, "ETHUSDT")
    rows = rows[rows["symbol"] == "ETHUSDT"].dropna(subset=["top_pos_ls_ratio"])
    published = dict(zip(rows["top_pos_ls_ratio"], rows["published"], strict=True))  # values are distinct
    assert len(published) == len(rows)
    eth = with_metrics[with_metrics["symbol"] == "ETHUSDT"].dropna(subset=["top_pos_ls_ratio"])
    used_at = eth["top_pos_ls_ratio"].map(published)
    assert used_at.notna().all()
    assert (used_at < eth["bar_end"]).all()
    naive = pd.merge_asof(eth[["bar_end"]].astype("datetime64[ns, UTC]").sort_values("bar_end"),
                          rows.assign(open_time=rows["published"] - pd.Timedelta(minutes=5))[
                              ["open_time", "top_pos_ls_ratio"]],
                          left_on="bar_end", right_on="open_time", allow_exact_matches=False)
    assert (naive["open_time"] + pd.Timedelta(minutes=5) >= naive["bar_end"]).mean() > 0.9  # a raw join peeks


def test_cli_replay_with_metrics_dir(run_dirs, with_metrics, tmp_path, capsys):
    tardis, dumps = run_dirs
    out = tmp_path / "f.parquet"
    code = main(["replay", "--data-dir", str(tardis), "--metrics-dir", str(dumps), "--freq", FREQS,
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert_rows_equal(pd.read_parquet(out), with_metrics, exact=True)
    line = next(line for line in err.splitlines() if line.startswith("positioning rows"))
    total = distinct = 0
    for folder in {path.parent for path in dumps.rglob("*.csv")}:  # every file is read: all overlap the run
        rows = pd.concat([pd.read_csv(path, dtype={"open_time": str}) for path in folder.glob("*.csv")])
        rows["open_time"] = parse_time(rows["open_time"])
        total, distinct = total + len(rows), distinct + len(rows.drop_duplicates())
    assert line == f"positioning rows: {distinct:,} read, {total - distinct:,} exact duplicates dropped"
    assert total - distinct > distinct / 3


def test_pandas_api_matches_replay(run_dirs, with_metrics, events):
    _, dumps = run_dirs
    metrics = read_metrics(dumps)
    assert metrics.index.name == "published" and list(metrics.columns) == ["exchange", "symbol", *METRIC_FIELDS]
    metrics = metrics[(metrics.index >= WINDOW[0]) & (metrics.index < WINDOW[1])]
    engine = LiquidationFactorEngine(resample_freq=FREQS.split(","))
    actual = engine.process(events["liquidations"], metrics_df=metrics)
    assert_rows_equal(actual, with_metrics, exact=True)


def test_one_event_at_a_time_equals_one_batch(run_dirs):
    """Batching never changes a row: a live poller's events one by one give the replay's rows."""
    _, dumps = run_dirs
    metrics = read_metrics(dumps)
    whole = metric_batch(metrics)
    config = FactorConfig.build(freq="15m,1h", metrics=True)
    at_once = BarEngine(config)
    at_once.feed(whole)
    rows = at_once.flush().to_dicts()
    single = BarEngine(config)
    single_rows: list[dict] = []
    for i in range(len(whole)):
        single.feed(whole.take(slice(i, i + 1)))
        single_rows += single.advance(int(whole.arrival[i])).to_dicts()
    single_rows += single.flush().to_dicts()
    assert pd.DataFrame(single_rows).equals(pd.DataFrame(rows))


def metric_batch(metrics: pd.DataFrame) -> MetricBatch:
    codes, instruments = pd.factorize(pd.MultiIndex.from_arrays([metrics["exchange"], metrics["symbol"]]))
    ts = metrics.index.as_unit("us").asi8
    return MetricBatch(instruments=tuple(instruments), instrument=codes.astype(np.int32), ts=ts, arrival=ts,
                       **{name: metrics[name].to_numpy(dtype=float) for name in METRIC_FIELDS})


def one_metric(ts: int, arrival: int | None = None, **values: float) -> MetricBatch:
    fields = {name: np.array([values.get(name, np.nan)]) for name in METRIC_FIELDS}
    return MetricBatch(instruments=(("binance-futures", "BTCUSDT"),), instrument=np.zeros(1, np.int32),
                       ts=np.array([ts]), arrival=np.array([ts if arrival is None else arrival]), **fields)


T = 1_759_276_800_000_000  # 2025-10-01 00:00 UTC


def test_value_published_at_bar_end_belongs_to_the_next_bar():
    engine = BarEngine(FactorConfig.build(freq="15m", metrics=True))
    engine.feed(one_metric(T + 10 * MINUTE, top_pos_ls_ratio=1.0, taker_buy_vol=2.0, taker_sell_vol=1.0))
    engine.feed(one_metric(T + 15 * MINUTE - 1, top_pos_ls_ratio=2.0))  # just before the end
    engine.feed(one_metric(T + 15 * MINUTE, top_pos_ls_ratio=3.0, taker_buy_vol=5.0))  # at the end: next bar
    engine.feed(one_metric(T + 50 * MINUTE, metric_open_interest=7.0))
    rows = pd.DataFrame(engine.flush().to_dicts())
    assert rows["top_pos_ls_ratio"].tolist() == [2.0, 3.0, 3.0, 3.0]
    assert rows["taker_buy_vol"].tolist() == [2.0, 5.0, 0.0, 0.0]
    assert rows["taker_sell_vol"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert rows["metric_open_interest"].isna().tolist() == [True, True, True, False]
    assert rows["n_events"].tolist() == [2, 1, 0, 1]


def test_an_older_value_arriving_later_does_not_replace_a_newer_one():
    engine = BarEngine(FactorConfig.build(freq="15m", metrics=True))
    engine.feed(one_metric(T + 10 * MINUTE, top_acct_ls_ratio=2.0))
    engine.feed(one_metric(T + 5 * MINUTE, arrival=T + 11 * MINUTE, top_acct_ls_ratio=1.0))  # a re-fetched row
    engine.feed(one_metric(T + 10 * MINUTE, arrival=T + 12 * MINUTE, top_acct_ls_ratio=2.5))  # same ts: later wins
    assert [row["top_acct_ls_ratio"] for row in engine.flush().to_dicts()] == [2.5]


def test_taker_volume_is_nan_before_the_first_taker_row():
    engine = BarEngine(FactorConfig.build(freq="15m", metrics=True))
    engine.feed(one_metric(T + MINUTE, global_acct_ls_ratio=1.5))
    engine.feed(one_metric(T + 31 * MINUTE, taker_buy_vol=4.0, taker_sell_vol=np.nan))
    rows = pd.DataFrame(engine.flush().to_dicts())
    assert rows["taker_buy_vol"].fillna(-1).tolist() == [-1, -1, 4.0]
    assert rows["taker_sell_vol"].fillna(-1).tolist() == [-1, -1, 0.0]
    assert rows["global_acct_ls_ratio"].tolist() == [1.5] * 3


def test_columns_without_a_metric_channel_are_unchanged():
    assert not set(SECTION7) & set(FactorConfig().columns())
    assert FactorConfig.build(metrics=True).columns()[-7:] == SECTION7
    with pytest.raises(ValueError, match="metric events need a FactorConfig with metrics=True"):
        BarEngine(FactorConfig()).feed(one_metric(T, top_pos_ls_ratio=1.0))


def test_a_checkpoint_keeps_the_metric_state(run_dirs, tmp_path):
    """A daemon restarted from its state file continues the section 7 columns bit for bit."""
    from streamliq.live.checkpoint import load_state, save_state

    _, dumps = run_dirs
    whole = metric_batch(read_metrics(dumps))
    config = FactorConfig.build(freq="15m", metrics=True)
    straight = BarEngine(config)
    straight.feed(whole)
    expected = straight.flush().to_dicts()
    half = len(whole) // 2 + 1  # mid-bar: open bars hold metric values and taker volumes
    first = BarEngine(config)
    first.feed(whole.take(slice(0, half)))
    rows = first.advance(int(whole.arrival[half - 1])).to_dicts()
    save_state(tmp_path / "state", first, {})
    restored, _ = load_state(tmp_path / "state", config)
    restored.feed(whole.take(slice(half, None)))
    rows += restored.flush().to_dicts()
    assert pd.DataFrame(rows).equals(pd.DataFrame(expected))
