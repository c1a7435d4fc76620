"""Metrics: Prometheus text that a real parser reads back, and the bar-close delay histogram."""

from __future__ import annotations

import pytest
from feedkit import T0, make_row, run
from prometheus_client.parser import text_string_to_metric_families

from streamliq.sinks.fanout import Fanout
from streamliq.telemetry import Counter, Gauge, Histogram, Metrics, Registry


def parsed(registry: Registry) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(registry.render()) for s in family.samples}


def test_bar_close_delay_is_observed_against_a_live_clock():
    metrics = Metrics()
    now = T0 / 1e6 + 60 + 0.3  # 0.3 s after the first 1m bar closed

    async def body():
        fanout = Fanout([], metrics, clock=lambda: now)
        rows = [make_row("BTCUSDT", "1m", 0), make_row("ETHUSDT", "1m", 0), make_row("BTCUSDT", "1m", -1)]
        fanout.publish(rows)  # delays 0.3, 0.3 and 60.3 s

    run(body())
    samples = parsed(metrics.registry)
    bucket = "streamliq_bar_close_delay_seconds_bucket"
    assert samples[(bucket, (("le", "0.25"),))] == 0
    assert samples[(bucket, (("le", "0.5"),))] == 2
    assert samples[(bucket, (("le", "60.0"),))] == 2
    assert samples[(bucket, (("le", "300.0"),))] == 3
    assert samples[(bucket, (("le", "+Inf"),))] == 3
    assert samples[("streamliq_bar_close_delay_seconds_count", ())] == 3 == metrics.bar_close_delay.count()
    assert samples[("streamliq_bar_close_delay_seconds_sum", ())] == pytest.approx(60.9)


def test_a_replay_fanout_observes_no_delay():
    metrics = Metrics()

    async def body():
        Fanout([], metrics).publish([make_row("BTCUSDT", "1m", 0)])

    run(body())
    assert metrics.bar_close_delay.count() == 0
    assert metrics.rows.get(freq="1m") == 1


def test_rendering_of_labels_numbers_and_types():
    registry = Registry()
    counter = registry.add(Counter("x_total", "A count\nwith a newline.", ["kind"]))
    gauge = registry.add(Gauge("y", "A gauge."))
    histogram = registry.add(Histogram("z_seconds", "A histogram.", [1.0, 0.1], ["sink"]))
    counter.inc(2, kind='a"b\\c\nd')
    gauge.set(float("nan"))
    histogram.observe(0.05, sink="s")
    histogram.observe(5, sink="s")
    assert registry.render() == (
        "# HELP x_total A count\\nwith a newline.\n"
        "# TYPE x_total counter\n"
        'x_total{kind="a\\"b\\\\c\\nd"} 2\n'
        "# HELP y A gauge.\n"
        "# TYPE y gauge\n"
        "y NaN\n"
        "# HELP z_seconds A histogram.\n"
        "# TYPE z_seconds histogram\n"
        'z_seconds_bucket{sink="s",le="0.1"} 1\n'
        'z_seconds_bucket{sink="s",le="1.0"} 1\n'
        'z_seconds_bucket{sink="s",le="+Inf"} 2\n'
        'z_seconds_sum{sink="s"} 5.05\n'
        'z_seconds_count{sink="s"} 2\n'
    )
    assert parsed(registry)[("x_total", (("kind", 'a"b\\c\nd'),))] == 2


def test_misuse_is_refused():
    registry = Registry()
    counter = registry.add(Counter("a_total", "A.", ["kind"]))
    with pytest.raises(ValueError, match=r"^a_total: counters only go up \(got -1\)$"):
        counter.inc(-1, kind="x")
    with pytest.raises(ValueError, match=r"^a_total: labels \['sink'\] != \['kind'\]$"):
        counter.inc(sink="x")
    with pytest.raises(ValueError, match=r"^metric a_total registered twice$"):
        registry.add(Counter("a_total", "again"))
