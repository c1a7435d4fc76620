"""The block close against the slow, per-row reference on adversarial data, for any batching.

`tests/reference.py` computes every row on its own with pandas and numpy (one bar, one window,
one `numpy.quantile` at a time): the obviously-correct close. The data is built to break a
columnar close: many symbols starting at different bars, silences of days, a spike after an
all-zero window, whole bars of identical sizes, zero-spread windows, late and out-of-order
events, and empty bars everywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import EXCHANGE, MINUTE, T0, assert_rows_equal, channel_batch, frame_of
from test_parity import expected_rows, single_event

from streamliq.driver import run_steps
from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.features.buckets import SortedLookback
from streamliq.sources.merge import merge_by_arrival

PARAMS = {"z_windows": (3, 12), "pct_windows": (5,), "bucket_quantiles": (0.9, 0.5),
          "bucket_hours": (0.25, 2), "mining_windows": (4,), "mining_quantiles": (0.9, 0.25)}
FREQS = {"1m": 60, "5m": 300}
HOUR = 60 * MINUTE


def adversarial_events(seed: int = 3) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    liq, ticker = [], []
    for s in range(9):
        symbol = f"S{8 - s}USDT"  # the first to start sorts last: engine ids differ from the output order
        start = T0 + s * 7 * MINUTE + int(rng.integers(0, MINUTE))  # each starts at another bar
        bursts = [start, start + 40 * MINUTE, start + 3 * HOUR, start + 50 * HOUR]  # silences of hours and days
        if s % 3 == 0:
            bursts += [start + 50 * HOUR + 30 * MINUTE]  # a spike after an all-zero window
        for burst in bursts:
            n = int(rng.integers(1, 30))
            ts = burst + np.sort(rng.integers(0, 3 * MINUTE, n))
            price = 100.0 * (s + 1) * (1 + rng.normal(0, 0.001, n))
            amount = np.round(rng.lognormal(0, 1, n), 3) + 0.001
            if rng.random() < 0.4:  # identical sizes
                price[:] = price[0]
                amount[:] = amount[0]
            liq.append(pd.DataFrame({"symbol": symbol, "timestamp": ts, "side": rng.choice(["buy", "sell"], n),
                                     "price": price, "amount": amount}))
        if s < 3:  # a ticker for some symbols only, starting late
            tick_ts = np.arange(start + 20 * MINUTE, start + 4 * HOUR, 45_000_000)
            mark = 100.0 * (s + 1) * np.exp(np.cumsum(rng.normal(0, 1e-3, len(tick_ts))))
            frame = pd.DataFrame({"symbol": symbol, "timestamp": tick_ts, "mark_price": mark,
                                  "index_price": mark * 1.0001, "last_price": mark, "funding_rate": 1e-4,
                                  "open_interest": 1000.0 + np.arange(len(tick_ts))})
            frame.loc[rng.random(len(frame)) < 0.2, "mark_price"] = np.nan
            ticker.append(frame)
    frames = {"liquidations": pd.concat(liq, ignore_index=True),
              "derivative_ticker": pd.concat(ticker, ignore_index=True)}
    for frame in frames.values():
        delay = rng.integers(1_000, 200_000, len(frame))
        late = rng.random(len(frame)) < 0.05
        delay[late] = rng.integers(3_000_000, 400_000_000, int(late.sum()))  # late and out of order
        frame.insert(0, "exchange", EXCHANGE)
        frame.insert(3, "local_timestamp", frame["timestamp"].to_numpy() + delay)
    return {channel: frame.sort_values("local_timestamp", kind="stable", ignore_index=True)
            for channel, frame in frames.items()}


def _batches(events: dict[str, pd.DataFrame], size: int) -> list[list]:
    """Per channel, arrival-ordered batches of at most `size` events."""
    out = []
    for channel, frame in events.items():
        whole = channel_batch(channel, frame)
        out.append([whole.take(slice(i, i + size)) for i in range(0, len(whole), size)])
    return out


def _run(streams: list[list], config: FactorConfig) -> pd.DataFrame:
    """Merge the streams by arrival as a replay does; feed, advance after every step, flush."""
    engine = BarEngine(config)
    blocks = list(run_steps(engine, merge_by_arrival(streams)))
    blocks.append(engine.flush())
    return frame_of([row for block in blocks for row in block.to_dicts()], engine.columns)


@pytest.fixture(scope="module")
def events() -> dict[str, pd.DataFrame]:
    return adversarial_events()


@pytest.fixture(scope="module")
def config() -> FactorConfig:
    return FactorConfig.build(freq=list(FREQS), **PARAMS)


def test_block_close_equals_the_per_row_reference(events, config):
    expected = expected_rows(events, freqs=FREQS, **PARAMS)
    actual = _run(_batches(events, 100_000), config)
    assert actual["late_events"].sum() > 0 and (actual["all_count"] == 0).mean() > 0.9
    assert_rows_equal(actual, expected)


def test_every_batching_gives_identical_rows(events, config):
    chunks = _run(_batches(events, 100_000), config)
    assert_rows_equal(_run(_batches(events, 7), config), chunks, exact=True)
    tagged = pd.concat([frame.assign(channel=channel) for channel, frame in events.items()], ignore_index=True)
    tagged = tagged.sort_values("local_timestamp", kind="stable")
    alone = _run([[single_event(record) for record in tagged.to_dict("records")]], config)
    assert_rows_equal(alone, chunks, exact=True)


def test_live_sized_closes_read_the_sorted_lookback_and_change_no_row(events, monkeypatch):
    """Closes of a bar or two take the thresholds of rows that sample their instrument's whole
    lookback from `SortedLookback` (kept in value order close by close, with expiry); the rows
    equal those of one long close, bit for bit."""
    config = FactorConfig.build(freq="1m", **{**PARAMS, "bucket_quantiles": (0.9,), "bucket_hours": (2,)})
    served = []

    def counting(self, first, count, q):
        served.append(len(first))
        return original(self, first, count, q)
    original = SortedLookback.quantile
    monkeypatch.setattr(SortedLookback, "quantile", counting)
    live = _run(_batches(events, 7), config)
    assert sum(served) > 100  # rows whose threshold came from the sorted lookback
    assert_rows_equal(live, _run(_batches(events, 100_000), config), exact=True)
