"""Counters, gauges and histograms with labels, rendered as Prometheus text (format 0.0.4).

Small on purpose: metrics are updated on the event loop (or under the GIL from a source's
thread) with plain arithmetic, and `Registry.render()` writes the exposition text that
`GET /metrics` serves. `Metrics` holds the metric set every streamliq process exports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeVar

DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


def _label_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class _Metric:
    """One metric family: a name, help text, label names and a value per label tuple."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self.values: dict[tuple[str, ...], float] = {} if self.label_names else {(): 0}

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name}: labels {sorted(labels)} != {sorted(self.label_names)}")
        return tuple(str(labels[name]) for name in self.label_names)

    def get(self, **labels: str) -> float:
        return self.values.get(self._key(labels), 0)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_label_text(self.label_names, key)} {_number(value)}"


class Counter(_Metric):
    """A count that only goes up (`inc`)."""

    kind = "counter"

    def inc(self, amount: float = 1, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: counters only go up (got {amount})")
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0) + amount


class Gauge(_Metric):
    """A value that is set (`set`)."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self.values[self._key(labels)] = value


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.bounds = tuple(sorted(buckets))
        self.series: dict[tuple[str, ...], list[float]] = {}  # per-bucket counts, then +Inf, sum
        if not self.label_names:
            self.series[()] = [0] * (len(self.bounds) + 2)

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        state = self.series.get(key)
        if state is None:
            state = self.series[key] = [0] * (len(self.bounds) + 2)
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                state[i] += 1
                break
        else:
            state[len(self.bounds)] += 1
        state[-1] += value

    def count(self, **labels: str) -> int:
        state = self.series.get(self._key(labels))
        return int(sum(state[:-1])) if state else 0

    def samples(self) -> Iterable[str]:
        for key, state in sorted(self.series.items()):
            cumulative = 0
            for bound, n in zip((*self.bounds, math.inf), state[:-1], strict=True):
                cumulative += n
                labels = _label_text((*self.label_names, "le"), (*key, _number(float(bound))))
                yield f"{self.name}_bucket{labels} {cumulative}"
            labels = _label_text(self.label_names, key)
            yield f"{self.name}_sum{labels} {_number(float(state[-1]))}"
            yield f"{self.name}_count{labels} {cumulative}"


M = TypeVar("M", bound=_Metric)


class Registry:
    """The metrics of one process, rendered together."""

    def __init__(self) -> None:
        self.metrics: dict[str, _Metric] = {}

    def add(self, metric: M) -> M:
        if metric.name in self.metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self.metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        """The Prometheus text exposition format, version 0.0.4."""
        lines = []
        for metric in self.metrics.values():
            lines.append(f"# HELP {metric.name} {_escape(metric.help)}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"


class Metrics:
    """The metric set of a streamliq process; sources, the fan-out and sinks update it."""

    def __init__(self) -> None:
        self.registry = registry = Registry()
        self.messages = registry.add(Counter(
            "streamliq_messages_total", "Input messages (events) received, by kind.", ["kind"]))
        self.rows = registry.add(Counter("streamliq_rows_total", "Closed factor rows emitted, by frequency.", ["freq"]))
        self.late_events = registry.add(Counter(
            "streamliq_late_events_total", "Events that arrived after their bar closed."))
        self.gap_bars = registry.add(Counter("streamliq_gap_bars_total", "Closed bars flagged as gaps."))
        self.reconnects = registry.add(Counter(
            "streamliq_reconnects_total", "Reconnections of an input connection.", ["connection"]))
        self.bad_input = registry.add(Counter(
            "streamliq_bad_input_total", "Malformed input skipped, by kind.", ["kind"]))
        self.sink_queue_depth = registry.add(Gauge(
            "streamliq_sink_queue_depth", "Rows waiting in a sink's queue.", ["sink"]))
        self.sink_dropped = registry.add(Counter(
            "streamliq_sink_dropped_total", "Rows a sink dropped (queue full or failed write).", ["sink"]))
        self.sink_retries = registry.add(Counter(
            "streamliq_sink_retries_total", "Writes a sink retried after an error.", ["sink"]))
        self.sink_duplicates = registry.add(Counter(
            "streamliq_sink_duplicates_total", "Rows a sink already held and rejected (replays).", ["sink"]))
        self.ws_clients = registry.add(Gauge("streamliq_ws_clients", "Connected WebSocket clients."))
        self.ws_cutoffs = registry.add(Counter(
            "streamliq_ws_slow_disconnects_total", "WebSocket clients disconnected because their queue filled."))
        self.bar_close_delay = registry.add(Histogram(
            "streamliq_bar_close_delay_seconds", "Wall-clock time from bar_end to the row being published.",
            DELAY_BUCKETS))

    def record_rows(self, rows: list[dict], now_us: int | None = None) -> None:
        """Count closed rows; with `now_us` (a live clock) also observe each bar-close delay."""
        for row in rows:
            self.rows.inc(freq=row["freq"])
            if row.get("late_events"):
                self.late_events.inc(row["late_events"])
            if row.get("gap"):
                self.gap_bars.inc()
            if now_us is not None:
                self.bar_close_delay.observe((now_us - row["bar_end"]) / 1e6)
