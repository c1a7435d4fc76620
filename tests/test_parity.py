"""Replay, the pandas API and a one-event-at-a-time feed against the independent reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_rows_equal, frame_of, reference_inputs, write_tardis
from reference import reference_factors

from streamliq import LiquidationFactorEngine, replay
from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.events import BATCH_TYPES, SIDE_CODES, TICKER_FIELDS

PARAMS = {"z_windows": (5, 30), "pct_windows": (10,), "bucket_quantiles": (0.9, 0.5),
          "bucket_hours": (1, 0.5), "mining_windows": (8,), "mining_quantiles": (0.9, 0.5)}
FREQS = {"1m": 60, "15m": 900}


def expected_rows(events: dict, freqs=FREQS, lateness_us: int = 5_000_000, **params) -> pd.DataFrame:
    params = {**PARAMS, **params}
    inputs = reference_inputs(events)
    frames = [reference_factors(inputs["liquidations"], inputs["ticker"], inputs["trades"],
                                freq_seconds=seconds, freq_name=name, lateness_us=lateness_us, **params)
              for name, seconds in freqs.items()]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def expected(events) -> pd.DataFrame:
    return expected_rows(events)


def test_replay_matches_reference(events, expected, tmp_path):
    write_tardis(events, tmp_path)
    actual = replay(tmp_path, freq="1m,15m", **PARAMS)
    assert_rows_equal(actual, expected)


def test_pandas_api_matches_reference(events, expected):
    liq = events["liquidations"].set_index(pd.to_datetime(events["liquidations"]["timestamp"], unit="us"))
    engine = LiquidationFactorEngine(resample_freq=["1m", "15m"], z_windows=PARAMS["z_windows"],
                                     pct_windows=PARAMS["pct_windows"])
    actual = engine.process(liq, bucket_quantiles=PARAMS["bucket_quantiles"],
                            bucket_window_hours=PARAMS["bucket_hours"], mining_windows=PARAMS["mining_windows"],
                            mining_quantiles=PARAMS["mining_quantiles"], ticker_df=events["derivative_ticker"],
                            trades_df=events["trades"])
    assert actual.index.name == "bar_start"
    assert_rows_equal(actual, expected)


def one_at_a_time(events: dict, config: FactorConfig) -> pd.DataFrame:
    """Feed every event alone in arrival order and advance the watermark after each, like live."""
    tagged = pd.concat([frame.assign(channel=channel) for channel, frame in events.items()], ignore_index=True)
    tagged = tagged.sort_values("local_timestamp", kind="stable")
    engine = BarEngine(config)
    rows: list[dict] = []
    for record in tagged.to_dict("records"):
        engine.feed(single_event(record))
        rows += engine.advance(record["local_timestamp"]).to_dicts()
    rows += engine.flush().to_dicts()
    return frame_of(rows, engine.columns)


def single_event(record: dict):
    channel = record["channel"]
    fields = {}
    if channel == "derivative_ticker":
        fields = {name: np.array([record[name]], dtype=float) for name in TICKER_FIELDS}
    else:
        fields = {"side": np.array([SIDE_CODES[record["side"]]], np.int8),
                  "price": np.array([record["price"]]), "amount": np.array([record["amount"]])}
    return BATCH_TYPES[channel](instruments=((record["exchange"], record["symbol"]),),
                                instrument=np.zeros(1, np.int32), ts=np.array([record["timestamp"]], np.int64),
                                arrival=np.array([record["local_timestamp"]], np.int64), **fields)


def test_one_event_at_a_time_matches_reference(events, expected):
    actual = one_at_a_time(events, FactorConfig.build(freq="1m,15m", **PARAMS))
    assert_rows_equal(actual, expected)


def test_liquidations_only_and_zero_lateness(events, tmp_path):
    liq_only = {"liquidations": events["liquidations"]}
    write_tardis(liq_only, tmp_path)
    actual = replay(tmp_path, freq="5m", lateness="0s", **PARAMS)
    assert_rows_equal(actual, expected_rows(liq_only, freqs={"5m": 300}, lateness_us=0))
    assert actual["close"].isna().all() and actual["volume_qty"].isna().all()
    assert actual["late_events"].sum() > 0


def test_replay_data_matches_reference():
    """The bundled real sample (two contiguous December 2025 days, 5 symbols, both frequencies)."""
    symbols = ["ONTUSDT", "ATUSDT", "DASHUSDT", "BTCUSDT", "币安人生USDT"]
    data = Path(__file__).resolve().parent.parent / "replay_data"
    actual = replay(data, freq="15m,1h", symbols=symbols, start="2025-12-27", end="2025-12-28")
    files = {}
    for channel in ("liquidations", "derivative_ticker", "trades"):
        paths = sorted(p for p in data.rglob(f"*_{channel}_2025-12-2[78]_*.csv.gz"))
        frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
        frame = frame[frame["symbol"].isin(symbols)].sort_values("local_timestamp", kind="stable")
        files[channel] = frame.reset_index(drop=True)
    assert len(files["liquidations"]) > 100 and len(files["trades"]) > 1000
    expected = expected_rows(files, freqs={"15m": 900, "1h": 3600}, z_windows=(24, 168), pct_windows=(168,),
                             bucket_quantiles=(0.9,), bucket_hours=(24,), mining_windows=(24,),
                             mining_quantiles=(0.9,))
    assert_rows_equal(actual, expected)
