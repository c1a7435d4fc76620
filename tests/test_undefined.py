"""Each "when undefined" rule of FACTORS.md, on hand-made bars through the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import EXCHANGE, MINUTE, T0

from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.events import BUY, SELL, LiquidationBatch, TickerBatch, TradeBatch

INSTRUMENT = ((EXCHANGE, "ETHUSDT"),)
SECOND = 1_000_000


def liquidations(ts: list[int], side: list[int], price: list[float], amount: list[float]) -> LiquidationBatch:
    ts_ = np.array(ts, np.int64)
    return LiquidationBatch(instruments=INSTRUMENT, instrument=np.zeros(len(ts), np.int32), ts=ts_, arrival=ts_,
                            side=np.array(side, np.int8), price=np.array(price, float), amount=np.array(amount, float))


def rows_of(*batches, config: FactorConfig | None = None) -> list[dict]:
    engine = BarEngine(config or FactorConfig.build(freq="1m", z_windows=(2,), pct_windows=(3,), mining_windows=(2,)))
    for batch in batches:
        engine.feed(batch)
    return engine.flush().to_dicts()


def test_empty_side_and_empty_bar():
    # bar 0: one short liquidation; bar 1: empty; bar 2: one long liquidation
    rows = rows_of(liquidations([T0, T0 + 2 * MINUTE], [BUY, SELL], [100.0, 100.0], [1.0, 2.0]))
    first, empty, last = rows
    assert (first["long_count"], first["long_qty"], first["long_notional"], first["long_max"]) == (0, 0.0, 0.0, 0.0)
    assert all(math.isnan(first[f"long_{c}"]) for c in ("mean", "std", "skew", "kurt", "vwap"))
    assert first["imbalance"] == -1.0 and last["imbalance"] == 1.0
    assert empty["n_events"] == 0 and empty["all_count"] == 0 and empty["all_max"] == 0.0
    for column in ("imbalance", "whale_index", "time_concentration", "all_mean", "all_vwap"):
        assert math.isnan(empty[column]), column
    assert first["time_concentration"] == 1.0 and first["whale_index"] == 1.0


@pytest.mark.parametrize(("n", "defined"), [(1, set()), (2, {"std"}), (3, {"std", "skew"}),
                                            (4, {"std", "skew", "kurt"})])
def test_moments_need_enough_values(n, defined):
    row = rows_of(liquidations([T0 + i for i in range(n)], [SELL] * n, [100.0 + i for i in range(n)],
                               [1.0 + i * i for i in range(n)]))[0]
    for stat in ("std", "skew", "kurt"):
        assert math.isnan(row[f"all_{stat}"]) != (stat in defined), (n, stat)


def test_identical_values_have_zero_std_and_no_skew_or_kurt():
    row = rows_of(liquidations([T0 + i for i in range(6)], [SELL] * 6, [0.1] * 6, [3.0] * 6))[0]
    assert row["all_std"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(row["all_skew"]) and math.isnan(row["all_kurt"])


def test_size_buckets_undefined_without_lookback_and_share_without_notional():
    config = FactorConfig.build(freq="1m", bucket_hours=(0.05,))  # a 3-minute lookback
    rows = rows_of(liquidations([T0, T0 + 1, T0 + MINUTE + 5], [SELL] * 3, [10.0, 30.0, 40.0], [1.0] * 3),
                   config=config)
    assert all(math.isnan(rows[0][f"big_q90_h0.05_{c}"]) for c in ("threshold", "count", "notional", "share"))
    assert rows[1]["big_q90_h0.05_threshold"] == pytest.approx(np.quantile([10.0, 30.0], 0.9))
    assert rows[1]["big_q90_h0.05_count"] == 1.0 and rows[1]["big_q90_h0.05_share"] == 1.0


def test_rolling_features_need_enough_bars_and_spread():
    rows = rows_of(liquidations([T0 + k * MINUTE for k in range(4)], [SELL] * 4, [1.0, 1.0, 1.0, 5.0], [1.0] * 4))
    z = [row["all_notional_z2"] for row in rows]
    assert math.isnan(z[0]) and math.isnan(z[1])  # fewer than 2 previous bars
    assert math.isnan(z[2])  # previous two equal: std = 0
    assert math.isnan(rows[1]["all_notional_pct3"]) and rows[2]["all_notional_pct3"] == pytest.approx(2 / 3)
    assert math.isnan(rows[1]["all_notional_exq90w2"]) and rows[3]["all_notional_exq90w2"] == 1.0
    assert rows[2]["all_notional_exq90w2"] == 0.0


def test_ticker_and_trade_columns_undefined_until_first_value():
    ts = np.array([T0 + MINUTE, T0 + 2 * MINUTE + 1], np.int64)
    ticker = TickerBatch(instruments=INSTRUMENT, instrument=np.zeros(2, np.int32), ts=ts, arrival=ts,
                         mark_price=np.array([100.0, np.nan]), index_price=np.array([np.nan, 99.0]),
                         last_price=np.full(2, np.nan), funding_rate=np.full(2, np.nan),
                         open_interest=np.array([np.nan, 0.0]))
    trade_ts = np.array([T0 + MINUTE + 3], np.int64)
    trades = TradeBatch(instruments=INSTRUMENT, instrument=np.zeros(1, np.int32), ts=trade_ts, arrival=trade_ts,
                        side=np.array([0], np.int8), price=np.array([100.0]), amount=np.array([2.0]))
    rows = rows_of(liquidations([T0], [SELL], [100.0], [1.0]), ticker, trades)
    before, with_ticker, carried = rows
    assert math.isnan(before["close"]) and math.isnan(before["volume_qty"]) and math.isnan(before["blood_content"])
    assert with_ticker["close"] == 100.0 and math.isnan(with_ticker["index_price"]) and math.isnan(with_ticker["basis"])
    assert with_ticker["volume_qty"] == 2.0 and with_ticker["taker_buy_qty"] == 0.0 == with_ticker["taker_sell_qty"]
    assert with_ticker["blood_content"] == 0.0
    assert carried["open"] == carried["close"] == 100.0 and carried["ret"] == 0.0
    assert carried["index_price"] == 99.0 and carried["open_interest"] == 0.0
    assert carried["volume_qty"] == 0.0 and math.isnan(carried["blood_content"])
    assert math.isnan(carried["pain_long"])


def test_late_event_counts_only_in_arrival_bar():
    on_time = liquidations([T0], [SELL], [100.0], [1.0])
    late_ts = np.array([T0 + 10 * SECOND], np.int64)
    late = LiquidationBatch(instruments=INSTRUMENT, instrument=np.zeros(1, np.int32), ts=late_ts,
                            arrival=late_ts + MINUTE, side=np.array([BUY], np.int8), price=np.array([5.0]),
                            amount=np.array([1.0]))
    rows = rows_of(on_time, late)
    assert [row["late_events"] for row in rows] == [0, 1]
    assert [row["n_events"] for row in rows] == [1, 0]
    assert rows[0]["all_notional"] == 100.0 and rows[1]["all_notional"] == 0.0
