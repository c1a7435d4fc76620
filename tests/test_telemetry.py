"""Metrics: the prometheus-client registry of each process, read back by a real parser."""

from __future__ import annotations

import pytest
from feedkit import T0, make_row, run, series
from prometheus_client.parser import text_string_to_metric_families

from streamliq.sinks.fanout import Fanout
from streamliq.telemetry import Metrics


def parsed(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics.render()[0].decode()) for s in family.samples}


def test_bar_close_delay_is_observed_against_a_live_clock():
    metrics = Metrics()
    now = T0 / 1e6 + 60 + 0.3  # 0.3 s after the first 1m bar closed

    async def body():
        fanout = Fanout([], metrics, clock=lambda: now)
        rows = [make_row("BTCUSDT", "1m", 0), make_row("ETHUSDT", "1m", 0), make_row("BTCUSDT", "1m", -1)]
        fanout.publish(rows)  # delays 0.3, 0.3 and 60.3 s

    run(body())
    samples = parsed(metrics)
    bucket = "streamliq_bar_close_delay_seconds_bucket"
    assert samples[(bucket, (("le", "0.25"),))] == 0
    assert samples[(bucket, (("le", "0.5"),))] == 2
    assert samples[(bucket, (("le", "60.0"),))] == 2
    assert samples[(bucket, (("le", "300.0"),))] == 3
    assert samples[(bucket, (("le", "+Inf"),))] == 3
    assert samples[("streamliq_bar_close_delay_seconds_count", ())] == 3
    assert samples[("streamliq_bar_close_delay_seconds_sum", ())] == pytest.approx(60.9)


def test_a_replay_fanout_observes_no_delay():
    metrics = Metrics()

    async def body():
        Fanout([], metrics).publish([make_row("BTCUSDT", "1m", 0)])

    run(body())
    assert metrics.value("streamliq_bar_close_delay_seconds_count") == 0
    assert metrics.value("streamliq_rows_total", freq="1m") == 1


def test_rows_late_events_and_gaps_are_counted_once_per_frequency():
    """A late event is late for the bar of one frequency: counted under that frequency only."""
    metrics = Metrics()
    rows = series("BTCUSDT", "1m", 40) + series("ETHUSDT", "15m", 30)

    async def body():
        fanout = Fanout([], metrics)
        fanout.publish(rows[:25])
        fanout.publish(rows[25:])

    run(body())
    for freq in ("1m", "15m"):
        mine = [r for r in rows if r["freq"] == freq]
        assert metrics.value("streamliq_rows_total", freq=freq) == len(mine)
        assert metrics.value("streamliq_late_events_total", freq=freq) == sum(r["late_events"] for r in mine) > 0
        assert metrics.value("streamliq_gap_bars_total", freq=freq) == sum(r["gap"] for r in mine) > 0


def test_each_metrics_has_its_own_registry_and_catch_up_never_counts_twice():
    first, second = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    first.catch_up(first.bad_input, "kind", {"bad number": 2})
    first.catch_up(first.bad_input, "kind", {"bad number": 2, "not JSON": 1})
    first.catch_up(first.bad_input, "kind", {"bad number": 5, "not JSON": 1})
    assert first.value("streamliq_bad_input_total", kind="bad number") == 5
    assert first.value("streamliq_bad_input_total", kind="not JSON") == 1
    assert second.value("streamliq_bad_input_total", kind="bad number") == 0
    text, content_type = first.render()
    text = text.decode()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert '# TYPE streamliq_bad_input_total counter' in text
    assert 'streamliq_bad_input_total{kind="bad number"} 5.0' in text
