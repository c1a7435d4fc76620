"""Hypothesis properties: chunking never changes a row; moment merges equal the whole."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from conftest import EXCHANGE, T0, assert_rows_equal, frame_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.events import LiquidationBatch, TickerBatch, TradeBatch
from streamliq.engine.features.moments import Moments

SECOND = 1_000_000
CONFIG = FactorConfig.build(freq="1m,5m", lateness="5s", z_windows=(3,), pct_windows=(4,),
                            bucket_quantiles=(0.5,), bucket_hours=(0.25,), mining_windows=(3,))
INSTRUMENTS = ((EXCHANGE, "AAAUSDT"), (EXCHANGE, "BBBUSDT"))


@st.composite
def event_streams(draw) -> list:
    """Batches of one channel each, in arrival order, with late and out-of-order events."""
    n = draw(st.integers(1, 120))
    arrival = T0 + np.cumsum(draw(st.lists(st.integers(0, 20 * SECOND), min_size=n, max_size=n)))
    delay = np.array(draw(st.lists(st.sampled_from([0, SECOND // 10, 3 * SECOND, 40 * SECOND, 200 * SECOND]),
                                   min_size=n, max_size=n)))
    channel = np.array(draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=n, max_size=n)))
    instrument = np.array(draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)), dtype=np.int32)
    price = np.array(draw(st.lists(st.sampled_from([100.0, 100.5, 101.25, 99.0]), min_size=n, max_size=n)))
    amount = np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 7.25]), min_size=n, max_size=n)))
    side = np.array(draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n)), dtype=np.int8)
    missing = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    ts = arrival - delay
    events = []
    for i in range(n):
        one = slice(i, i + 1)
        common = {"instruments": INSTRUMENTS, "instrument": instrument[one], "ts": ts[one], "arrival": arrival[one]}
        if channel[i] == 0:
            events.append(LiquidationBatch(side=side[one], price=price[one], amount=amount[one], **common))
        elif channel[i] == 1:
            mark = np.where(missing[one], np.nan, price[one])
            events.append(TickerBatch(mark_price=mark, index_price=price[one] - 0.1, last_price=mark,
                                      funding_rate=np.array([1e-4]), open_interest=amount[one] * 1000, **common))
        else:
            events.append(TradeBatch(side=side[one], price=price[one], amount=amount[one], **common))
    return events


def run(events: list, group: int) -> pd.DataFrame:
    """Feed runs of up to `group` consecutive same-channel events as one batch each, advancing
    the watermark to each batch's last arrival, like a live driver would."""
    engine = BarEngine(CONFIG)
    rows: list[dict] = []
    batches: list[list] = []
    for event in events:
        if batches and type(batches[-1][0]) is type(event) and len(batches[-1]) < group:
            batches[-1].append(event)
        else:
            batches.append([event])
    for run_ in batches:
        columns = {name: np.concatenate([getattr(e, name) for e in run_]) for name in run_[0]._columns()}
        engine.feed(type(run_[0])(instruments=INSTRUMENTS, **columns))
        rows += engine.advance(int(columns["arrival"][-1])).to_dicts()
    rows += engine.flush().to_dicts()
    return frame_of(rows, engine.columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_streams())
def test_batching_never_changes_a_row(events):
    one_by_one = run(events, group=1)
    assert_rows_equal(run(events, group=7), one_by_one, exact=True)
    assert_rows_equal(run(events, group=100_000), one_by_one, exact=True)


finite = st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=1, max_size=60), st.integers(0, 60), st.floats(1e3, 1e6))
def test_moment_merge_equals_whole(values, cut, offset):
    data = np.array(values) + offset  # price-like values: a large level, smaller spread
    cut = min(cut, len(data))
    whole = Moments()
    whole.update(data)
    left, right = Moments(), Moments()
    left.update(data[:cut])
    right.update(data[cut:])
    left.merge(right)
    streamed = Moments()
    for value in data:
        streamed.update(np.array([value]))
    series = pd.Series(data)
    for moments in (whole, left, streamed):
        assert moments.n == len(data)
        # a mean of large values of both signs cancels: its error is relative to the largest value
        assert math.isclose(moments.value_mean(), series.mean(), rel_tol=1e-12,
                            abs_tol=max(1e-9, 1e-12 * float(np.abs(data).max())))
        if len(data) >= 2:
            assert math.isclose(moments.variance(), series.var(), rel_tol=1e-9, abs_tol=1e-12)
        all_equal = len(data) >= 2 and series.var() <= 1e-14 * series.mean() ** 2  # FACTORS.md section 3
        for ours, theirs, needed in ((moments.skew(), series.skew(), 3), (moments.kurt(), series.kurt(), 4)):
            if len(data) < needed or all_equal:
                assert math.isnan(ours)
            else:  # merged, whole and one-at-a-time all give the pandas value at the contract's tolerance
                assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1.0, 1e6), min_size=4, max_size=40))
def test_skew_and_kurt_match_pandas(values):
    data = np.array(values)
    moments = Moments()
    moments.update(data)
    series = pd.Series(data)
    if series.var() <= 1e-14 * series.mean() ** 2:
        assert math.isnan(moments.skew()) and math.isnan(moments.kurt())
        return
    assert math.isclose(moments.skew(), series.skew(), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(moments.kurt(), series.kurt(), rel_tol=1e-9, abs_tol=1e-12)


def test_identical_values_have_no_skew():
    moments = Moments()
    moments.update(np.full(50, 0.1 * 3))
    assert moments.variance() == 0.0
    assert math.isnan(moments.skew()) and math.isnan(moments.kurt())
