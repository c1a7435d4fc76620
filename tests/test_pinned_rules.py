"""Rules a mutation check found unpinned (issue 10): each test fails under a wrong engine.

Every test runs the engine on hand-made events and compares the whole rows with the
independent reference (`tests/reference.py`) at the contract's tolerance (rtol 1e-9, atol
1e-12), then checks the values the rule is about against numbers computed here from the spec.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from conftest import EXCHANGE, MINUTE, T0, assert_rows_equal, frame_of
from reference import reference_factors

from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.events import BUY, SELL, LiquidationBatch, TickerBatch

SYMBOL = "BTCUSDT"
INSTRUMENT = ((EXCHANGE, SYMBOL),)
SECOND = 1_000_000
HOUR = 60 * MINUTE
FREQ_SECONDS = {"1s": 1, "1m": 60, "1h": 3600}
PARAMS = {"z_windows": (3,), "pct_windows": (4,), "bucket_quantiles": (0.9,), "bucket_hours": (24,),
          "mining_windows": (3,), "mining_quantiles": (0.9,)}


def liquidations(ts, price, amount, side=None) -> pd.DataFrame:
    """Liquidation events in the reference's columns, arriving when they happen (never late)."""
    ts = np.asarray(ts, np.int64)
    side = np.resize(np.array(["sell", "buy"]), len(ts)) if side is None else np.asarray(side)
    return pd.DataFrame({"exchange": EXCHANGE, "symbol": SYMBOL, "ts": ts, "arrival": ts, "side": side,
                         "price": np.asarray(price, float), "amount": np.asarray(amount, float)})


def ticker(ts, mark, index, open_interest) -> pd.DataFrame:
    ts = np.asarray(ts, np.int64)
    mark = np.asarray(mark, float)
    return pd.DataFrame({"exchange": EXCHANGE, "symbol": SYMBOL, "ts": ts, "arrival": ts, "mark_price": mark,
                         "index_price": np.asarray(index, float), "last_price": mark,
                         "funding_rate": np.full(len(ts), 1e-4), "open_interest": np.asarray(open_interest, float)})


def engine_rows(freq: str, liq: pd.DataFrame, tick: pd.DataFrame | None, params: dict) -> pd.DataFrame:
    engine = BarEngine(FactorConfig.build(freq=freq, **params))
    common = {"instruments": INSTRUMENT, "instrument": np.zeros(len(liq), np.int32),
              "ts": liq["ts"].to_numpy(), "arrival": liq["arrival"].to_numpy()}
    engine.feed(LiquidationBatch(side=np.where(liq["side"] == "sell", SELL, BUY).astype(np.int8),
                                 price=liq["price"].to_numpy(), amount=liq["amount"].to_numpy(), **common))
    if tick is not None:
        fields = ("mark_price", "index_price", "last_price", "funding_rate", "open_interest")
        engine.feed(TickerBatch(instruments=INSTRUMENT, instrument=np.zeros(len(tick), np.int32),
                                ts=tick["ts"].to_numpy(), arrival=tick["arrival"].to_numpy(),
                                **{name: tick[name].to_numpy() for name in fields}))
    return frame_of(engine.flush(), engine.columns)


def checked_rows(liq: pd.DataFrame, tick: pd.DataFrame | None = None, freq: str = "1m", **params) -> pd.DataFrame:
    """The engine's rows, after checking them all against the reference at the contract's tolerance."""
    params = {**PARAMS, **params}
    actual = engine_rows(freq, liq, tick, params)
    expected = reference_factors(liq, tick, None, freq_seconds=FREQ_SECONDS[freq], freq_name=freq, **params)
    assert_rows_equal(actual, expected)
    return actual


def exact_skew_kurt(values: np.ndarray) -> tuple[float, float]:
    """pandas' bias-corrected skew and excess kurtosis, from exact rational central moments."""
    n = len(values)
    exact = [Fraction(float(x)) for x in values]
    mean = sum(exact) / n
    m2, m3, m4 = (sum((x - mean) ** p for x in exact) for p in (2, 3, 4))
    skew = n * math.sqrt(n - 1) / (n - 2) * float(m3 / m2) / math.sqrt(float(m2))
    kurt = float(Fraction(n * (n + 1) * (n - 1)) * m4 / (Fraction((n - 2) * (n - 3)) * m2 * m2))
    return skew, kurt - 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3))


def bar_values(liq: pd.DataFrame, bar: int, side: str | None = None, width: int = MINUTE) -> np.ndarray:
    """Notionals of the bar `bar` (minutes from T0), one side or both."""
    inside = (liq["ts"] >= T0 + bar * width) & (liq["ts"] < T0 + (bar + 1) * width)
    if side is not None:
        inside &= liq["side"] == side
    return (liq["price"] * liq["amount"])[inside].to_numpy()


# -- section 3: shifted moments and the all-equal threshold ---------------------------------------

def test_price_like_notionals_have_pandas_skew_and_kurt():
    """Large mean, tiny spread (60000 ± 5 times amounts near 1): raw power sums lose ~1e-3 here."""
    rng = np.random.default_rng(10)
    n_bars, per_bar = 6, 25
    ts = np.concatenate([T0 + b * MINUTE + np.sort(rng.integers(0, MINUTE, per_bar)) for b in range(n_bars)])
    price = 60_000.0 + rng.integers(-10, 11, len(ts)) / 2
    amount = np.where(np.repeat(np.arange(n_bars) % 2 == 0, per_bar), 1.0,
                      np.round(1 + rng.normal(0, 1e-4, len(ts)), 6))
    liq = liquidations(ts, price, amount, side=rng.choice(["buy", "sell"], len(ts)))
    rows = checked_rows(liq)
    for bar, row in rows.iterrows():
        for side, prefix in ((None, "all"), ("sell", "long"), ("buy", "short")):
            values = bar_values(liq, bar, side)
            assert np.var(values) < 1e-7 * np.mean(values) ** 2  # price-like indeed
            skew, kurt = exact_skew_kurt(values)  # the reference's pandas truth is itself exact here
            assert row[f"{prefix}_skew"] == pytest.approx(skew, rel=1e-9, abs=1e-12)
            assert row[f"{prefix}_kurt"] == pytest.approx(kurt, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("pairs", [
    [(0.1, 3.0), (0.3, 1.0), (0.15, 2.0), (0.6, 0.5), (0.05, 6.0)],  # 0.30000000000000004 and 0.3
    [(60_000.3, 1.0), (85_714.71428571429, 0.7), (30_000.15, 2.0), (60_000.3, 1.0), (85_714.71428571429, 0.7)],
])
def test_values_equal_but_for_rounding_have_no_skew_or_kurt(pairs):
    price, amount = np.array(pairs * 2).T
    liq = liquidations(T0 + np.arange(len(price)) * SECOND, price, amount)
    assert np.ptp(price * amount) > 0  # not identical: only the 1e-14 * mean^2 rule makes them "all equal"
    row = checked_rows(liq).iloc[0]
    for prefix in ("all", "long", "short"):
        assert math.isnan(row[f"{prefix}_skew"]) and math.isnan(row[f"{prefix}_kurt"]), prefix
        assert row[f"{prefix}_std"] == pytest.approx(0.0, abs=1e-10 * row[f"{prefix}_mean"])


@pytest.mark.parametrize(("relative_spread", "defined"), [(1e-5, True), (1e-6, True), (2e-7, True), (1e-8, False)])
def test_the_all_equal_threshold_is_1e_minus_14_mean_squared(relative_spread, defined):
    """A relative std of 2e-7 (variance 4e-14 mean^2) has a skew; 1e-8 (1e-16 mean^2) has none."""
    offsets = np.array([0.0, 0.0, 0.0, 1.0, 3.0, 7.0, -2.0, 0.5])
    price = 50_000.0 * (1 + relative_spread * offsets / offsets.std())
    liq = liquidations(T0 + np.arange(len(price)) * SECOND, price, np.ones(len(price)), side=["sell"] * len(price))
    row = checked_rows(liq).iloc[0]
    ratio = np.var(price, ddof=1) / np.mean(price) ** 2
    assert (ratio > 1e-14) == defined
    if defined:
        skew, kurt = exact_skew_kurt(price)
        assert row["all_skew"] == pytest.approx(skew, rel=1e-9) and row["long_skew"] == row["all_skew"]
        assert row["all_kurt"] == pytest.approx(kurt, rel=1e-9)
    else:
        assert math.isnan(row["all_skew"]) and math.isnan(row["all_kurt"])


# -- section 3: time_concentration sub-interval edges ----------------------------------------------

@pytest.mark.parametrize(("freq", "offsets"), [
    ("1s", [249_999, 250_000, 50_000, 999_999]),  # F/60 = 16666.67 µs: 250000 starts sub-interval 15
    ("1m", [SECOND - 1, SECOND, 59 * SECOND, 30 * SECOND]),  # sub-interval 1 starts at exactly 1 s
])
def test_time_concentration_sub_interval_edges(freq, offsets):
    width = FREQ_SECONDS[freq] * SECOND
    v = np.array([1.0, 2.0, 3.0, 4.0])
    liq = liquidations(T0 + width + np.array(offsets), v, np.ones(4))
    sub = [(offset * 60) // width for offset in offsets]
    assert len(set(sub)) == 4  # every liquidation alone in its sub-interval, one exactly on an edge
    row = checked_rows(liq, freq=freq).iloc[0]
    assert row["time_concentration"] == pytest.approx(float(np.sum((v / v.sum()) ** 2)), rel=1e-12)


# -- section 5: the size-bucket lookback [bar_start - H, bar_start) --------------------------------

def test_size_bucket_lookback_includes_its_lower_edge_and_excludes_bar_start():
    # H = 3 min and 1.5 min on 1m bars; liquidations exactly on lookback edges
    liq = liquidations([T0, T0 + 90 * SECOND, T0 + 3 * MINUTE, T0 + 4 * MINUTE], [10.0, 30.0, 50.0, 70.0],
                       np.ones(4))
    rows = checked_rows(liq, bucket_quantiles=(0.9,), bucket_hours=(0.05, 0.025)).set_index("bar_start")
    bar3, bar4 = rows.loc[pd.Timestamp(T0 + 3 * MINUTE, unit="us", tz="UTC")], rows.iloc[4]
    # bar 3: [T0, T0 + 3m) holds 10 (at exactly bar_start - H) and 30, not 50 (at bar_start)
    assert bar3["big_q90_h0.05_threshold"] == pytest.approx(np.quantile([10.0, 30.0], 0.9), rel=1e-12)
    assert (bar3["big_q90_h0.05_count"], bar3["big_q90_h0.05_notional"], bar3["big_q90_h0.05_share"]) == (1, 50, 1)
    # bar 3 with H = 1.5 min: [T0 + 90 s, T0 + 3m) holds 30 only
    assert bar3["big_q90_h0.025_threshold"] == 30.0
    # bar 4: [T0 + 1m, T0 + 4m) holds 30 and 50; 10 fell out, 70 is the bar's own
    assert bar4["big_q90_h0.05_threshold"] == pytest.approx(np.quantile([30.0, 50.0], 0.9), rel=1e-12)
    assert bar4["big_q90_h0.025_threshold"] == 50.0  # [T0 + 2.5m, T0 + 4m)
    assert math.isnan(rows.iloc[0]["big_q90_h0.05_threshold"])  # nothing before the first liquidation


def test_size_bucket_lookbacks_stay_within_their_instrument_in_any_output_order():
    # engine ids follow first sight (MMM 0, ZZZ 1, AAA 2), the output follows names (AAA first, and
    # AAA starts an hour late). ZZZ's first bar starts before the run's first liquidation, and MMM
    # holds the run's last one: ZZZ's first lookback is empty (NaN), its second holds only its 10.
    names = (("binance-futures", "MMMUSDT"), ("binance-futures", "ZZZUSDT"), ("binance-futures", "AAAUSDT"))
    ts = np.array([T0 + 2 * MINUTE, T0 + 4 * MINUTE, T0 + 60 * MINUTE, T0 + 179 * MINUTE])
    inst = np.array([0, 1, 2, 0], np.int32)
    price = np.array([7.0, 10.0, 1000.0, 5000.0])
    params = {**PARAMS, "bucket_hours": (1,)}
    engine = BarEngine(FactorConfig.build(freq="5m", **params))
    engine.feed(LiquidationBatch(instruments=names, instrument=inst, ts=ts, arrival=ts,
                                 side=np.full(4, SELL, np.int8), price=price, amount=np.ones(4)))
    rows = frame_of(engine.flush(), engine.columns)
    liq = pd.DataFrame({"exchange": "binance-futures", "symbol": [names[i][1] for i in inst], "ts": ts,
                        "arrival": ts, "side": "sell", "price": price, "amount": 1.0})
    assert_rows_equal(rows, reference_factors(liq, None, None, freq_seconds=300, freq_name="5m", **params))
    zzz = rows.loc[rows["symbol"] == "ZZZUSDT", "big_q90_h1_threshold"]
    assert math.isnan(zzz.iloc[0]) and zzz.iloc[1] == 10.0


def test_q99_5_labels_and_values():
    # hour k < 24: one liquidation of notional k + 1 at exactly T0 + k h; hour 24: 23.8 and 23.85
    notional = [*range(1, 25), 23.8, 23.85]
    ts = [T0 + k * HOUR for k in range(24)] + [T0 + 24 * HOUR + 5, T0 + 24 * HOUR + 6]
    liq = liquidations(ts, notional, np.ones(len(ts)))
    rows = checked_rows(liq, freq="1h", bucket_quantiles=(0.995,), bucket_hours=(24,), mining_windows=(24,),
                        mining_quantiles=(0.995,), z_windows=(24,), pct_windows=(24,))
    assert {"big_q99.5_h24_threshold", "big_q99.5_h24_count", "big_q99.5_h24_notional", "big_q99.5_h24_share",
            "all_notional_exq99.5w24", "all_max_exq99.5w24"} <= set(rows.columns)
    last = rows.iloc[24]
    theta = np.quantile(np.arange(1.0, 25.0), 0.995)  # 23.885, over [T0, T0 + 24 h)
    assert last["big_q99.5_h24_threshold"] == pytest.approx(theta, rel=1e-12)
    assert (last["big_q99.5_h24_count"], last["big_q99.5_h24_notional"]) == (0.0, 0.0)  # 23.85 < 23.885
    assert last["all_max_exq99.5w24"] == 0.0 and last["all_notional_exq99.5w24"] == 1.0
    assert rows["all_max_exq99.5w24"].iloc[:24].isna().all()


# -- section 4: a previous open interest or index price of 0 ---------------------------------------

def test_zero_index_price_and_zero_previous_open_interest_give_nan():
    liq = liquidations([T0 + MINUTE + 1, T0 + 2 * MINUTE + 1, T0 + 3 * MINUTE + 1], [100.0] * 3, [2.0] * 3)
    tick = ticker([T0, T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE], mark=[100.0, 101.0, 102.0, 103.0],
                  index=[0.0, 0.0, 100.0, np.nan], open_interest=[0.0, 50.0, np.nan, 0.0])
    rows = checked_rows(liq, tick)
    assert rows["index_price"].tolist()[:3] == [0.0, 0.0, 100.0]
    assert math.isnan(rows["basis"][0]) and math.isnan(rows["basis"][1])  # index price 0
    assert rows["basis"][2] == pytest.approx(0.02) and rows["basis"][3] == pytest.approx(0.03)
    # previous open interest: NaN (first bar), 0, 50, 50 (carried); the bar's own: 0, 50, 50, 0
    assert math.isnan(rows["oi_change"][0]) and math.isnan(rows["oi_change"][1])
    assert rows["oi_change"][2] == 0.0 and rows["oi_change"][3] == -1.0
    assert math.isnan(rows["liq_oi_ratio"][1])  # 2 liquidated over a previous open interest of 0
    assert rows["liq_oi_ratio"][2] == pytest.approx(2 / 50) and rows["liq_oi_ratio"][3] == pytest.approx(2 / 50)
    # the next bar's previous open interest is that 0
    after = checked_rows(liq.assign(ts=liq["ts"] + MINUTE, arrival=liq["arrival"] + MINUTE), tick)
    assert math.isnan(after["oi_change"].iloc[-1]) and math.isnan(after["liq_oi_ratio"].iloc[-1])


# -- section 6: z with std exactly 0, ranks with ties, exq over identical windows ------------------

def test_rolling_windows_of_identical_values():
    # all_notional per 1m bar: 1234.567*3 three times, a spike (x10), four empty bars, a small spike
    price = [1234.567] * 5 + [0.1, 0.1]
    amount = [3.0, 3.0, 3.0, 30.0, 30.0, 30.0, 30.0]
    minute = [0, 1, 2, 3, 3, 8, 9]
    liq = liquidations(T0 + np.array(minute) * MINUTE + 7, price, amount, side=["sell"] * 7)
    rows = checked_rows(liq, mining_quantiles=(0.5, 0.9), pct_windows=(4,))
    identical = rows["all_notional"].to_numpy()[:3]
    assert (identical == 1234.567 * 3).all() and identical.std(ddof=1) > 0  # numpy's std is not 0 here
    # z3: the three previous bars are identical (std exactly 0): NaN, not +inf
    assert math.isnan(rows["all_notional_z3"][3]) and math.isnan(rows["long_notional_z3"][3])
    assert math.isnan(rows["all_count_z3"][3]) and math.isnan(rows["all_max_z3"][3])
    assert math.isnan(rows["all_notional_z3"][8])  # after three empty bars (all 0)
    window = rows["all_notional"].to_numpy()[6:9]
    x = rows["all_notional"][9]
    assert rows["all_notional_z3"][9] == pytest.approx((x - window.mean()) / window.std(ddof=1), rel=1e-12)
    assert math.isnan(rows["short_notional_z3"][9])  # the short side never had a liquidation
    # pct4 with ties: average rank of x_t among the last 4 values, divided by 4
    assert rows["all_notional_pct4"][3] == 1.0
    assert rows["all_notional_pct4"][6] == pytest.approx(2 / 4)  # [x, 0, 0, 0]: ranks 1..3 of the zeros
    assert rows["all_notional_pct4"][7] == pytest.approx(2.5 / 4)  # four zeros
    assert rows["short_notional_pct4"][5] == pytest.approx(2.5 / 4)
    # exq over identical windows: 1.0 only when x_t exceeds them
    assert rows["all_notional_exq90w3"][3] == 1.0 and rows["all_notional_exq50w3"][3] == 1.0
    assert rows["all_notional_exq90w3"][7] == 0.0 and rows["all_notional_exq50w3"][7] == 0.0  # 0 over [0, 0, 0]
    assert math.isnan(rows["all_count_exq50w3"][2])  # fewer than 3 previous bars
    assert rows["short_notional_exq90w3"].iloc[3:].eq(0.0).all()
