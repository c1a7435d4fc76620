"""Hand-computed self-checks of tests/reference.py, the independent reference of FACTORS.md."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference import (
    hours_label,
    output_columns,
    quantile_label,
    reference_factors,
)

S = 1_000_000  # one second in µs
M = 60 * S  # one minute in µs


def liq_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (symbol, ts, arrival, side, price, amount) on exchange 'ex'."""
    cols = ["symbol", "ts", "arrival", "side", "price", "amount"]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(0, "exchange", "ex")
    return df.astype({"ts": "int64", "arrival": "int64", "price": "float64", "amount": "float64"})


def tick_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (symbol, ts, arrival, mark, index, last, funding, oi)."""
    cols = [
        "symbol",
        "ts",
        "arrival",
        "mark_price",
        "index_price",
        "last_price",
        "funding_rate",
        "open_interest",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(0, "exchange", "ex")
    return df.astype({"ts": "int64", "arrival": "int64"})


def trade_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (symbol, ts, arrival, side, price, amount)."""
    return liq_frame(rows)


def run(liq: pd.DataFrame, **kw: object) -> pd.DataFrame:
    params: dict[str, object] = {
        "freq_seconds": 60,
        "freq_name": "1m",
        "z_windows": (2,),
        "pct_windows": (2,),
        "bucket_quantiles": (0.5,),
        "bucket_hours": (1,),
        "mining_windows": (2,),
        "mining_quantiles": (0.5,),
    }
    params.update(kw)
    return reference_factors(liq, **params)  # type: ignore[arg-type]


def test_labels_and_columns() -> None:
    assert quantile_label(0.9) == "90"
    assert quantile_label(0.995) == "99.5"
    assert quantile_label(0.35) == "35"
    assert hours_label(24) == "24"
    assert hours_label(24.0) == "24"
    assert hours_label(1.5) == "1.5"
    cols = output_columns()
    assert "big_q90_h24_threshold" in cols
    assert "all_notional_exq90w24" in cols
    assert "all_max_z168" in cols and "short_notional_pct168" in cols
    assert len(cols) == len(set(cols))


def test_three_liquidations_one_bar() -> None:
    # notionals 100, 200, 600 (all longs liquidated)
    liq = liq_frame(
        [
            ("BTC", 1 * S, 2 * S, "sell", 100.0, 1.0),
            ("BTC", 10 * S, 11 * S, "sell", 50.0, 4.0),
            ("BTC", 30 * S, 31 * S, "sell", 200.0, 3.0),
        ]
    )
    out = run(liq)
    assert len(out) == 1
    r = out.iloc[0]
    assert r["long_count"] == 3 and r["short_count"] == 0 and r["all_count"] == 3
    assert r["long_qty"] == 8.0
    assert r["long_notional"] == 900.0
    assert r["long_max"] == 600.0
    assert r["long_mean"] == 300.0
    assert r["long_std"] == pytest.approx(math.sqrt(70000.0))
    # bias-corrected skew G1 = n*sqrt(n-1)/(n-2) * sum d^3 / (sum d^2)^1.5
    d = np.array([-200.0, -100.0, 300.0])
    g1 = 3 * math.sqrt(2) / 1 * (d**3).sum() / (d**2).sum() ** 1.5
    assert r["long_skew"] == pytest.approx(g1)
    assert math.isnan(r["long_kurt"])  # n < 4
    assert r["long_vwap"] == pytest.approx(900.0 / 8.0)
    assert r["short_max"] == 0.0 and math.isnan(r["short_mean"])
    assert math.isnan(r["short_vwap"]) and r["short_notional"] == 0.0
    assert r["imbalance"] == 1.0
    assert r["whale_index"] == pytest.approx(600.0 / 900.0)
    # sub-intervals of 1 s: ts 1 s -> k=1, 10 s -> k=10, 30 s -> k=30
    assert r["time_concentration"] == pytest.approx((1 + 4 + 36) / 81)
    assert r["n_events"] == 3 and r["late_events"] == 0 and not r["gap"]
    assert r["bar_start"] == pd.Timestamp(0, unit="us", tz="UTC")
    assert r["bar_end"] == pd.Timestamp(M, unit="us", tz="UTC")
    assert str(out["bar_start"].dtype) == "datetime64[us, UTC]"
    assert out["all_count"].dtype == np.int64 and out["n_events"].dtype == np.int64
    assert out["gap"].dtype == bool and r["freq"] == "1m"
    # no ticker / trades: all NaN
    for c in (
        "open",
        "close",
        "basis",
        "ret",
        "volume_qty",
        "blood_content",
        "pain_long",
    ):
        assert math.isnan(r[c])


def test_kurt_and_equal_values() -> None:
    liq = liq_frame(
        [("BTC", i * S, i * S, "buy", 10.0, 0.1) for i in range(5)]
        + [("ETH", i * S, i * S, "buy", p, 1.0) for i, p in enumerate([1.0, 2.0, 4.0, 8.0])]
    )
    out = run(liq)
    btc = out[out["symbol"] == "BTC"].iloc[0]
    assert btc["short_count"] == 5
    assert math.isnan(btc["short_skew"]) and math.isnan(btc["short_kurt"])
    eth = out[out["symbol"] == "ETH"].iloc[0]
    v = pd.Series([1.0, 2.0, 4.0, 8.0])
    n = 4
    d = v - v.mean()
    m2, m4 = (d**2).sum() / n, (d**4).sum() / n
    g2 = ((n + 1) * (m4 / m2**2) - 3 * (n - 1)) * (n - 1) / ((n - 2) * (n - 3))
    assert eth["short_kurt"] == pytest.approx(g2)
    assert eth["imbalance"] == -1.0


def test_late_event_counted_in_arrival_bar() -> None:
    liq = liq_frame(
        [
            ("BTC", 10 * S, 64 * S + 999_999, "sell", 100.0, 1.0),  # on time (just)
            ("BTC", 20 * S, 65 * S, "sell", 500.0, 1.0),  # late: arrival >= 60 s + 5 s
            ("BTC", 70 * S, 71 * S, "buy", 10.0, 1.0),
        ]
    )
    out = run(liq)
    assert list(out["n_events"]) == [1, 1]
    assert list(out["late_events"]) == [0, 1]
    assert list(out["all_notional"]) == [100.0, 10.0]
    # the late event is not in the size-bucket lookback either
    assert out["big_q50_h1_threshold"].iloc[1] == 100.0


def test_late_only_symbol_and_run_last_bar() -> None:
    liq = liq_frame(
        [
            ("BTC", 0, 1 * S, "sell", 1.0, 1.0),
            ("ETH", 30 * S, 3 * M + 2 * S, "sell", 1.0, 1.0),  # late, arrival bar 3
        ]
    )
    out = run(liq)
    btc = out[out["symbol"] == "BTC"]
    eth = out[out["symbol"] == "ETH"]
    assert len(btc) == 4  # bars 0..3: run's last bar is the late arrival bar
    assert len(eth) == 1 and eth["late_events"].iloc[0] == 1 and eth["n_events"].iloc[0] == 0
    assert eth["bar_start"].iloc[0] == pd.Timestamp(3 * M, unit="us", tz="UTC")
    assert list(out["symbol"]) == ["BTC"] * 4 + ["ETH"]
    assert list(out.index) == list(range(5))


def test_empty_bar_between_busy_bars() -> None:
    liq = liq_frame(
        [
            ("BTC", 5 * S, 6 * S, "sell", 100.0, 2.0),
            ("BTC", 2 * M + 5 * S, 2 * M + 6 * S, "buy", 100.0, 3.0),
        ]
    )
    out = run(liq)
    assert len(out) == 3
    mid = out.iloc[1]
    assert mid["all_count"] == 0 and mid["all_notional"] == 0.0 and mid["all_max"] == 0.0
    assert math.isnan(mid["all_mean"]) and math.isnan(mid["imbalance"])
    assert math.isnan(mid["time_concentration"]) and mid["n_events"] == 0
    # lookback for bar 2 = bars 0 and 1 = one liquidation of 200
    assert mid["big_q50_h1_threshold"] == 200.0
    assert mid["big_q50_h1_count"] == 0.0 and math.isnan(mid["big_q50_h1_share"])
    assert out.iloc[2]["big_q50_h1_threshold"] == 200.0
    assert out.iloc[2]["big_q50_h1_count"] == 1.0
    assert out.iloc[2]["big_q50_h1_share"] == 1.0
    assert math.isnan(out.iloc[0]["big_q50_h1_threshold"])
    assert math.isnan(out.iloc[0]["big_q50_h1_count"])


def test_size_bucket_threshold_tiny_lookback() -> None:
    # notionals 10, 20, 30, 40 in bars 0..3, then bar 4 with 25 and 26
    rows = [("BTC", i * M + S, i * M + S, "sell", float(10 * (i + 1)), 1.0) for i in range(4)]
    rows += [("BTC", 4 * M + S, 4 * M + S, "buy", 25.0, 1.0)]
    rows += [("BTC", 4 * M + 2 * S, 4 * M + 2 * S, "buy", 26.0, 1.0)]
    liq = liq_frame(rows)
    out = run(liq, bucket_hours=(1, 2 / 60), bucket_quantiles=(0.5, 0.9))
    r = out.iloc[4]
    assert r["big_q50_h1_threshold"] == 25.0
    assert r["big_q50_h1_count"] == 1.0 and r["big_q50_h1_notional"] == 26.0
    assert r["big_q50_h1_share"] == pytest.approx(26.0 / 51.0)
    assert r["big_q90_h1_threshold"] == pytest.approx(37.0)
    assert r["big_q90_h1_count"] == 0.0 and r["big_q90_h1_notional"] == 0.0
    # 2-minute lookback: only 30 and 40 -> median 35
    h = hours_label(2 / 60)
    assert r[f"big_q50_h{h}_threshold"] == 35.0


def test_ticker_ohlc_carry_and_ret() -> None:
    liq = liq_frame([("BTC", 5 * S, 5 * S, "sell", 105.0, 2.0)])
    nan = math.nan
    tick = tick_frame(
        [
            ("BTC", 1 * S, 1 * S, 100.0, 99.0, 100.5, 0.0001, 1000.0),
            ("BTC", 2 * S, 2 * S, 120.0, nan, nan, nan, nan),
            ("BTC", 3 * S, 3 * S, 90.0, nan, nan, nan, 1100.0),
            ("BTC", 4 * S, 4 * S, nan, 98.0, nan, nan, nan),
            (
                "BTC",
                20 * S,
                4 * S + 1,
                110.0,
                nan,
                nan,
                nan,
                nan,
            ),  # last in arrival order
            ("BTC", 2 * M + 1 * S, 2 * M + 1 * S, 121.0, nan, nan, 0.0002, 1210.0),
            ("BTC", 3 * M + 1 * S, 4 * M + 6 * S, 999.0, 1.0, 1.0, 1.0, 1.0),  # late
        ]
    )
    out = run(liq, ticker=tick)
    assert len(out) == 5  # late arrival bar 4 extends the run
    b0, b1, b2, b3 = (out.iloc[i] for i in range(4))
    assert (b0["open"], b0["high"], b0["low"], b0["close"]) == (
        100.0,
        120.0,
        90.0,
        110.0,
    )
    assert b0["index_price"] == 98.0 and b0["last_price"] == 100.5
    assert b0["open_interest"] == 1100.0 and b0["funding_rate"] == 0.0001
    assert b0["n_events"] == 6
    assert math.isnan(b0["ret"]) and math.isnan(b0["oi_change"])
    assert math.isnan(b0["liq_oi_ratio"])
    assert b0["basis"] == pytest.approx((110.0 - 98.0) / 98.0)
    assert b0["pain_long"] == pytest.approx(110.0 / 105.0 - 1)
    assert math.isnan(b0["pain_short"])
    assert (b1["open"], b1["high"], b1["low"], b1["close"]) == (
        110.0,
        110.0,
        110.0,
        110.0,
    )
    assert b1["ret"] == 0.0 and b1["index_price"] == 98.0 and b1["oi_change"] == 0.0
    assert b1["liq_oi_ratio"] == 0.0
    assert b2["close"] == 121.0
    assert b2["ret"] == pytest.approx(math.log(121.0 / 110.0))
    assert b2["oi_change"] == pytest.approx(0.1)
    assert b2["funding_rate"] == 0.0002 and b2["index_price"] == 98.0
    # bar 3: the only ticker event is late -> carried, not 999
    assert b3["close"] == 121.0 and b3["open_interest"] == 1210.0
    assert b3["n_events"] == 0 and b3["late_events"] == 0
    assert out.iloc[4]["late_events"] == 1


def test_trades() -> None:
    liq = liq_frame(
        [
            ("BTC", 5 * S, 5 * S, "sell", 10.0, 2.0),
            ("BTC", 3 * M, 3 * M, "sell", 10.0, 1.0),
        ]
    )
    trd = trade_frame(
        [
            ("BTC", M + 1 * S, M + 1 * S, "buy", 10.0, 3.0),
            ("BTC", M + 2 * S, M + 2 * S, "sell", 11.0, 1.0),
            ("BTC", M + 3 * S, M + 3 * S, "unknown", 12.0, 4.0),
        ]
    )
    out = run(liq, trades=trd)
    assert math.isnan(out.iloc[0]["volume_qty"]) and math.isnan(out.iloc[0]["blood_content"])
    r1 = out.iloc[1]
    assert r1["volume_qty"] == 8.0 and r1["volume_notional"] == 30.0 + 11.0 + 48.0
    assert r1["taker_buy_qty"] == 3.0 and r1["taker_sell_qty"] == 1.0
    assert r1["blood_content"] == 0.0 and r1["n_events"] == 3
    r2 = out.iloc[2]
    assert r2["volume_qty"] == 0.0 and r2["taker_buy_qty"] == 0.0
    assert math.isnan(r2["blood_content"])
    assert math.isnan(out.iloc[3]["blood_content"])


def test_rolling_features() -> None:
    # all_notional per bar: 1, 3, 3, 7, 0
    rows = [
        ("BTC", 0 * M, 0, "sell", 1.0, 1.0),
        ("BTC", 1 * M, 1 * M, "sell", 3.0, 1.0),
        ("BTC", 2 * M, 2 * M, "sell", 3.0, 1.0),
        ("BTC", 3 * M, 3 * M, "sell", 7.0, 1.0),
        ("ETH", 4 * M + 1, 4 * M + 1, "sell", 1.0, 1.0),  # BTC bar 4 is empty
    ]
    liq = liq_frame(rows)
    out = run(liq, z_windows=(2,), pct_windows=(2,), mining_windows=(2,))
    out = out[out["symbol"] == "BTC"].reset_index(drop=True)
    assert len(out) == 5
    z = out["all_notional_z2"].to_list()
    assert math.isnan(z[0]) and math.isnan(z[1])
    assert z[2] == pytest.approx((3 - 2) / math.sqrt(2))
    assert math.isnan(z[3])  # previous two values equal
    assert z[4] == pytest.approx((0 - 5) / math.sqrt(8))
    pct = out["all_notional_pct2"].to_list()
    assert math.isnan(pct[0])
    assert pct[1:] == [1.0, 0.75, 1.0, 0.5]
    exq = out["all_notional_exq50w2"].to_list()
    assert math.isnan(exq[0]) and math.isnan(exq[1])
    assert exq[2:] == [1.0, 1.0, 0.0]
    assert out["all_count_z2"].isna().iloc[:4].all()  # counts 1,1,1,1


def test_zscore_matches_pandas_rolling() -> None:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(200):
        for _ in range(int(rng.integers(0, 4))):
            side = "buy" if rng.random() < 0.5 else "sell"
            rows.append(
                (
                    "BTC",
                    i * M + int(rng.integers(0, M)),
                    i * M + M,
                    side,
                    float(rng.uniform(10, 1000)),
                    float(rng.uniform(0.1, 5)),
                )
            )
    liq = liq_frame(sorted(rows, key=lambda r: r[2]))
    out = run(liq, z_windows=(24,), pct_windows=(24,), mining_windows=(24,))
    for x in ("all_notional", "long_notional", "all_max"):
        s = out[x]
        prev = s.shift(1).rolling(24)
        exp = (s - prev.mean()) / prev.std()
        exp[prev.std() == 0] = np.nan
        np.testing.assert_allclose(out[f"{x}_z24"], exp, rtol=1e-9, atol=1e-12)


def test_empty_input_has_columns() -> None:
    liq = liq_frame([])
    out = run(liq)
    assert len(out) == 0
    assert list(out.columns) == output_columns((2,), (2,), (0.5,), (1,), (2,), (0.5,))
    assert out["n_events"].dtype == np.int64


def _random_run(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def base(n: int) -> pd.DataFrame:
        ts = np.sort(rng.integers(0, 300 * M, n))
        arrival = ts + rng.integers(0, 70 * S, n)  # some events are late
        keys = rng.choice(["a|BTC", "a|ETH", "b|BTC"], n)
        df = pd.DataFrame(
            {
                "exchange": [k.split("|")[0] for k in keys],
                "symbol": [k.split("|")[1] for k in keys],
                "ts": ts,
                "arrival": arrival,
            }
        )
        return df

    liq = base(3000)
    liq["side"] = rng.choice(["buy", "sell"], len(liq))
    liq["price"] = rng.uniform(90, 110, len(liq))
    liq["amount"] = rng.uniform(0.01, 10, len(liq))
    tick = base(2000)
    for c in ("mark_price", "index_price", "last_price", "funding_rate", "open_interest"):
        val = rng.uniform(90, 110, len(tick))
        val[rng.random(len(tick)) < 0.3] = np.nan
        tick[c] = val
    trd = base(2000)
    trd["side"] = rng.choice(["buy", "sell", "unknown"], len(trd))
    trd["price"] = rng.uniform(90, 110, len(trd))
    trd["amount"] = rng.uniform(0.01, 10, len(trd))
    by_arrival = [d.sort_values("arrival", kind="stable").reset_index(drop=True) for d in (liq, tick, trd)]
    return by_arrival[0], by_arrival[1], by_arrival[2]


def _on_time(df: pd.DataFrame, f_us: int, lateness: int) -> pd.DataFrame:
    out = df.copy()
    out["b"] = out["ts"] // f_us
    out["late"] = out["arrival"] >= (out["b"] + 1) * f_us + lateness
    out["ab"] = out["arrival"] // f_us
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_random_crosscheck_with_groupby(seed: int) -> None:
    liq, tick, trd = _random_run(seed)
    f_us = 5 * M
    out = reference_factors(
        liq, tick, trd, freq_seconds=300, freq_name="5m", z_windows=(6,), mining_windows=(6,)
    )
    lq, tk, tr = (_on_time(d, f_us, 5 * S) for d in (liq, tick, trd))
    allev = pd.concat([lq, tk, tr])
    last = max(allev.loc[~allev["late"], "b"].max(), allev.loc[allev["late"], "ab"].max())
    keys = ["exchange", "symbol"]
    for (ex, sym), rows in out.groupby(keys):
        ev = allev[(allev["exchange"] == ex) & (allev["symbol"] == sym)]
        first = min(ev.loc[~ev["late"], "b"].min(), ev.loc[ev["late"], "ab"].min())
        bars = pd.RangeIndex(first, last + 1)
        starts = rows["bar_start"].astype("int64").to_numpy() // f_us
        assert (starts == np.arange(first, last + 1)).all()
        on = ev[~ev["late"]]
        np.testing.assert_array_equal(rows["n_events"], on.groupby("b").size().reindex(bars, fill_value=0))
        np.testing.assert_array_equal(
            rows["late_events"], ev[ev["late"]].groupby("ab").size().reindex(bars, fill_value=0)
        )
        lsym = lq[(lq["exchange"] == ex) & (lq["symbol"] == sym) & ~lq["late"]]
        lsym = lsym.assign(v=lsym["price"] * lsym["amount"])
        g = lsym.groupby("b")["v"]
        np.testing.assert_allclose(rows["all_notional"], g.sum().reindex(bars, fill_value=0.0), rtol=1e-12)
        np.testing.assert_allclose(rows["all_std"], g.std().reindex(bars), rtol=1e-9)
        np.testing.assert_allclose(rows["all_max"], g.max().reindex(bars, fill_value=0.0))
        longs = lsym[lsym["side"] == "sell"].groupby("b")
        np.testing.assert_array_equal(rows["long_count"], longs.size().reindex(bars, fill_value=0))
        vwap = longs["v"].sum() / longs["amount"].sum()
        np.testing.assert_allclose(rows["long_vwap"], vwap.reindex(bars), rtol=1e-12)
        # ticker: close = last mark in arrival order, carried forward
        tsym = tk[(tk["exchange"] == ex) & (tk["symbol"] == sym) & ~tk["late"]]
        close = tsym.dropna(subset=["mark_price"]).groupby("b")["mark_price"].last()
        np.testing.assert_allclose(rows["close"], close.reindex(bars).ffill(), rtol=0)
        oi = tsym.groupby("b")["open_interest"].last().reindex(bars).ffill()  # last skips NaN
        np.testing.assert_allclose(rows["open_interest"], oi, rtol=0)
        # trades
        rsym = tr[(tr["exchange"] == ex) & (tr["symbol"] == sym) & ~tr["late"]]
        vol = rsym.groupby("b")["amount"].sum().reindex(bars)
        if len(rsym):
            vol[vol.index >= rsym["b"].min()] = vol[vol.index >= rsym["b"].min()].fillna(0.0)
        np.testing.assert_allclose(rows["volume_qty"], vol, rtol=1e-12)
        # exq by an explicit loop
        x = rows["all_notional"].to_numpy()
        exp = [np.nan] * 6 + [float(x[t] > np.quantile(x[t - 6 : t], 0.9)) for t in range(6, len(x))]
        np.testing.assert_array_equal(rows["all_notional_exq90w6"], exp)
    assert list(out.groupby(keys).size().index) == [("a", "BTC"), ("a", "ETH"), ("b", "BTC")]
    assert out["late_events"].sum() > 0
