"""Cross-venue aggregate rows (FACTORS.md section 10) against an independent pandas reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from aggregate_reference import expected_with_aggregates, in_base_units
from conftest import MINUTE, T0, assert_rows_equal
from venue_data import SPECS, make_venue_events, write_venue_files

from streamliq import LiquidationFactorEngine, replay
from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.events import METRIC_FIELDS, LiquidationBatch, MetricBatch, TickerBatch
from streamliq.errors import InputError
from streamliq.tardis_replay import Replay

PARAMS = {"z_windows": (5,), "pct_windows": (10,), "bucket_quantiles": (0.9, 0.5), "bucket_hours": (1,),
          "mining_windows": (8,), "mining_quantiles": (0.9,)}
FREQS = {"1m": 60, "15m": 900}


@pytest.fixture(scope="module")
def venue_events() -> dict[str, pd.DataFrame]:
    return make_venue_events()


@pytest.fixture(scope="module")
def expected(venue_events) -> pd.DataFrame:
    return expected_with_aggregates(venue_events, SPECS, FREQS, **PARAMS)


@pytest.fixture(scope="module")
def replayed(venue_events, tmp_path_factory) -> pd.DataFrame:
    folder = write_venue_files(venue_events, tmp_path_factory.mktemp("venues"))
    return replay(folder, freq="1m,15m", aggregate=True, **PARAMS).reset_index()


def test_replay_with_aggregate_matches_the_reference(replayed, expected):
    assert_rows_equal(replayed, expected)


def test_the_data_exercises_every_rule(replayed):
    """Three coins, late events, a 1000x symbol and several venues in every aggregate."""
    aggregates = replayed[replayed["exchange"] == "all"]
    assert sorted(aggregates["symbol"].unique()) == ["BTC", "ETH", "PEPE"]
    assert aggregates["late_events"].sum() > 0
    venues = replayed[replayed["exchange"] != "all"].groupby("symbol")["exchange"].first()
    assert venues["1000PEPEUSDT"] == "binance-futures" and venues["PEPE-USDT-SWAP"] == "okex-swap"


def test_aggregate_sums_members(replayed):
    """Counts, USD notionals and coin quantities add up; the 1000x symbol counts single coins."""
    rows = replayed[replayed["freq"] == "15m"]
    members = rows[rows["exchange"] != "all"].copy()
    coin = {symbol: base for (_, symbol), (base, *_) in SPECS.items()}
    per_unit = {symbol: spec[3] for (_, symbol), spec in SPECS.items()}
    members["coin"] = members["symbol"].map(coin)
    members["coins"] = members["all_qty"] * members["symbol"].map(per_unit)
    sums = members.groupby(["coin", "bar_start"])[["all_count", "all_notional", "coins", "n_events",
                                                   "late_events", "volume_notional"]].sum(min_count=1)
    aggregate = rows[rows["exchange"] == "all"].set_index(["symbol", "bar_start"])
    for column, total in (("all_count", "all_count"), ("n_events", "n_events"), ("late_events", "late_events")):
        assert (aggregate[column] == sums[total].reindex(aggregate.index, fill_value=0)).all(), column
    np.testing.assert_allclose(aggregate["all_notional"], sums["all_notional"].reindex(aggregate.index, fill_value=0),
                               rtol=1e-12)
    np.testing.assert_allclose(aggregate["all_qty"], sums["coins"].reindex(aggregate.index, fill_value=0),
                               rtol=1e-12)
    pepe = aggregate.loc["PEPE"]
    assert pepe["all_vwap"].dropna().between(5e-6, 2e-5).all()  # USD per single PEPE, not per 1000


def test_aggregate_has_no_ticker_or_metric_values(replayed):
    aggregates = replayed[replayed["exchange"] == "all"]
    for column in ("open", "close", "open_interest", "basis", "ret", "liq_oi_ratio", "pain_long", "pain_short"):
        assert aggregates[column].isna().all(), column
    assert aggregates["volume_notional"].notna().any() and aggregates["blood_content"].notna().any()


def test_late_events_are_counted_once_in_the_summary(venue_events, tmp_path):
    folder = write_venue_files(venue_events, tmp_path)
    plain, summed = Replay(folder, FactorConfig.build(freq="1m")), Replay(folder, FactorConfig.build(freq="1m"),
                                                                          aggregate=True)
    list(plain), list(summed)
    assert summed.stats.late_events == plain.stats.late_events and plain.stats.late_events["1m"] > 0
    assert summed.stats.events == plain.stats.events


def test_pandas_api_with_several_venues_matches_the_reference(venue_events, expected):
    engine = LiquidationFactorEngine(resample_freq=["1m", "15m"], z_windows=PARAMS["z_windows"],
                                     pct_windows=PARAMS["pct_windows"], aggregate=True)
    actual = engine.process(venue_events["liquidations"], bucket_quantiles=PARAMS["bucket_quantiles"],
                            bucket_window_hours=PARAMS["bucket_hours"], mining_windows=PARAMS["mining_windows"],
                            mining_quantiles=PARAMS["mining_quantiles"],
                            ticker_df=venue_events["derivative_ticker"], trades_df=venue_events["trades"])
    assert_rows_equal(actual, expected)


def test_pandas_api_names_a_contract_symbol_without_spec(venue_events):
    frame = venue_events["liquidations"].assign(symbol="FOO-USDT-SWAP", exchange="okex-swap")
    with pytest.raises(InputError, match=r"'FOO-USDT-SWAP' of exchange 'okex-swap'.*instruments=FILE"):
        LiquidationFactorEngine(resample_freq="1m").process(frame)


def test_aggregate_is_refused_by_the_partitioned_replay(tmp_path, capsys):
    from streamliq.cli import main

    write_venue_files(make_venue_events(hours=1), tmp_path / "data")
    code = main(["replay", "--data-dir", str(tmp_path / "data"), "--aggregate", "--workers", "2",
                 "--out", str(tmp_path / "out")])
    assert code == 2
    assert "--aggregate is not supported with --scheduler/--workers" in capsys.readouterr().err


# -- the engine directly: gaps and metrics -------------------------------------------------

MEMBERS = {("okex-swap", "BTC-USDT-SWAP"): ("BTC", 1.0), ("binance-futures", "BTCUSDT"): ("BTC", 1.0),
           ("binance-futures", "1000PEPEUSDT"): ("PEPE", 1000.0)}


def _liquidations(instrument: tuple[str, str], ts: list[int], price: float = 60_000.0) -> LiquidationBatch:
    n = len(ts)
    return LiquidationBatch(instruments=(instrument,), instrument=np.zeros(n, np.int32),
                            ts=np.array(ts, np.int64), arrival=np.array(ts, np.int64) + 1000,
                            side=np.ones(n, np.int8), price=np.full(n, price), amount=np.full(n, 0.5))


def test_gap_of_any_member_marks_the_aggregate():
    engine = BarEngine(FactorConfig.build(freq="1m"), aggregates=MEMBERS)
    for minute in range(4):
        engine.feed(_liquidations(("okex-swap", "BTC-USDT-SWAP"), [T0 + minute * MINUTE + 1]))
        engine.feed(_liquidations(("binance-futures", "BTCUSDT"), [T0 + minute * MINUTE + 2]))
    engine.outages.begin("okx", frozenset({("okex-swap", "BTC-USDT-SWAP")}), T0 + MINUTE + 10)
    engine.outages.end("okx", T0 + MINUTE + 20)
    rows = pd.DataFrame(engine.advance(T0 + 10 * MINUTE))
    gap = rows.set_index(["exchange", "bar_start"])["gap"]
    assert gap[("all", T0 + MINUTE)]
    assert gap[("okex-swap", T0 + MINUTE)] and not gap[("binance-futures", T0 + MINUTE)]
    assert not gap[("all", T0)] and not gap[("all", T0 + 2 * MINUTE)]


def test_metric_and_ticker_events_count_but_set_nothing():
    engine = BarEngine(FactorConfig.build(freq="1m", metrics=True), aggregates=MEMBERS)
    instrument = ("binance-futures", "BTCUSDT")
    engine.feed(_liquidations(instrument, [T0 + 1]))
    one = {"instruments": (instrument,), "instrument": np.zeros(1, np.int32), "ts": np.array([T0 + 5]),
           "arrival": np.array([T0 + 6])}
    engine.feed(TickerBatch(**one, **{name: np.array([60_000.0]) for name in
                                      ("mark_price", "index_price", "last_price", "funding_rate", "open_interest")}))
    engine.feed(MetricBatch(**one, **{name: np.array([1.5]) for name in METRIC_FIELDS}))
    rows = {row["exchange"]: row for row in engine.flush()}
    member, aggregate = rows["binance-futures"], rows["all"]
    assert member["n_events"] == aggregate["n_events"] == 3
    assert member["close"] == 60_000.0 and member["top_pos_ls_ratio"] == 1.5 and member["taker_buy_vol"] == 1.5
    for column in ("close", "open_interest", "funding_rate", *METRIC_FIELDS):
        assert np.isnan(aggregate[column]), column
    assert aggregate["all_notional"] == member["all_notional"] == 30_000.0


def test_the_1000x_unit_becomes_single_coins():
    engine = BarEngine(FactorConfig.build(freq="1m"), aggregates=MEMBERS)
    engine.feed(_liquidations(("binance-futures", "1000PEPEUSDT"), [T0 + 1], price=0.0104))
    rows = {row["exchange"]: row for row in engine.flush()}
    assert rows["binance-futures"]["all_qty"] == 0.5 and rows["all"]["all_qty"] == 500.0
    assert rows["all"]["all_vwap"] == pytest.approx(0.0000104, rel=1e-12)
    assert rows["all"]["all_notional"] == pytest.approx(rows["binance-futures"]["all_notional"], rel=1e-15)


def test_instruments_outside_the_mapping_join_no_aggregate():
    engine = BarEngine(FactorConfig.build(freq="1m"), aggregates=MEMBERS)
    engine.feed(_liquidations(("deribit", "BTC-PERPETUAL"), [T0 + 1]))
    assert {row["exchange"] for row in engine.flush()} == {"deribit"}


def test_aggregate_series_starts_with_the_first_member_event():
    engine = BarEngine(FactorConfig.build(freq="1m"), aggregates=MEMBERS)
    engine.feed(_liquidations(("okex-swap", "BTC-USDT-SWAP"), [T0 + 3 * MINUTE]))
    engine.feed(_liquidations(("binance-futures", "BTCUSDT"), [T0 + 5 * MINUTE]))
    rows = pd.DataFrame(engine.flush())
    starts = rows.groupby("exchange")["bar_start"].min()
    assert starts["all"] == T0 + 3 * MINUTE == starts["okex-swap"]
    assert starts["binance-futures"] == T0 + 5 * MINUTE


def test_reference_conversion_is_what_section_9_says():
    """The reference's own units, on the issue's checks (guards the reference itself)."""
    frame = pd.DataFrame({"exchange": ["okex-swap", "okex-swap", "binance-delivery", "bybit"],
                          "symbol": ["BTC-USDT-SWAP", "BTC-USD-SWAP", "BTCUSD_PERP", "BTCUSD"],
                          "price": [60_000.0] * 4, "amount": [50.0, 50.0, 50.0, 5_000.0]})
    base = in_base_units({"liquidations": frame}, SPECS)["liquidations"]
    np.testing.assert_allclose(base["price"] * base["amount"], [30_000.0, 5_000.0, 5_000.0, 5_000.0], rtol=1e-12)
