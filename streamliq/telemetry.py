"""The Prometheus metrics every streamliq process exports, on the official `prometheus-client`.

Each `Metrics` owns its own `CollectorRegistry` (never the process-global one), so a daemon, a
server and every test hold independent counts; `GET /metrics` serves `Metrics.render()`, the
client's own exposition. Metrics are updated on the event loop (or from a replay's thread;
the client's metrics are thread-safe).

Who counts what, once: the row source counts its input (`messages`, `bad_input`, `reconnects`),
the fan-out counts the rows it hands to the sinks (`record_rows`), and each sink its own losses.
A row is therefore counted exactly once, however many sinks receive it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from .sinks.chunk import RowChunk

DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The metric set of a streamliq process; sources, the fan-out and sinks update it."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self._caught_up: dict[tuple[Counter, str], int] = {}  # what `catch_up` exported so far
        self.messages = Counter("streamliq_messages_total", "Input messages (events) received, by kind.",
                                ["kind"], registry=registry)
        self.rows = Counter("streamliq_rows_total", "Closed factor rows emitted, by frequency.", ["freq"],
                            registry=registry)
        self.late_events = Counter("streamliq_late_events_total",
                                   "Events that arrived after their bar closed, by the frequency of that bar.",
                                   ["freq"], registry=registry)
        self.gap_bars = Counter("streamliq_gap_bars_total", "Closed bars flagged as gaps, by frequency.", ["freq"],
                                registry=registry)
        self.reconnects = Counter("streamliq_reconnects_total", "Reconnections of an input connection.",
                                  ["connection"], registry=registry)
        self.bad_input = Counter("streamliq_bad_input_total", "Malformed input skipped, by kind.", ["kind"],
                                 registry=registry)
        self.sink_queue_depth = Gauge("streamliq_sink_queue_depth", "Rows waiting in a sink's queue.", ["sink"],
                                      registry=registry)
        self.sink_dropped = Counter("streamliq_sink_dropped_total",
                                    "Rows a sink dropped (queue full or failed write).", ["sink"], registry=registry)
        self.sink_retries = Counter("streamliq_sink_retries_total", "Writes a sink retried after an error.",
                                    ["sink"], registry=registry)
        self.sink_duplicates = Counter("streamliq_sink_duplicates_total",
                                       "Rows a sink already held and rejected (replays).", ["sink"],
                                       registry=registry)
        self.ws_clients = Gauge("streamliq_ws_clients", "Connected WebSocket clients.", registry=registry)
        self.ws_cutoffs = Counter("streamliq_ws_slow_disconnects_total",
                                  "WebSocket clients disconnected because their queue filled.", registry=registry)
        self.bar_close_delay = Histogram("streamliq_bar_close_delay_seconds",
                                         "Wall-clock time from bar_end to the row being published.",
                                         buckets=DELAY_BUCKETS, registry=registry)

    def record_rows(self, rows: RowChunk, now_us: int | None = None) -> None:
        """Count closed rows, per frequency; with `now_us` (a live clock) also observe each
        bar-close delay."""
        codes, labels = rows.coded("freq")
        n = len(labels)
        counts = np.bincount(codes, minlength=n)
        late = np.bincount(codes, weights=rows.column("late_events"), minlength=n)
        gaps = np.bincount(codes, weights=rows.column("gap"), minlength=n)
        for code in np.flatnonzero(counts).tolist():
            name = str(labels[code])
            self.rows.labels(freq=name).inc(int(counts[code]))
            if late[code]:
                self.late_events.labels(freq=name).inc(int(late[code]))
            if gaps[code]:
                self.gap_bars.labels(freq=name).inc(int(gaps[code]))
        if now_us is not None:
            for end in rows.column("bar_end").tolist():
                self.bar_close_delay.observe((now_us - end) / 1e6)

    def catch_up(self, counter: Counter, label: str, totals: dict[str, int]) -> None:
        """Raise `counter{label=key}` to `totals[key]` for counts kept elsewhere (a replay's
        or a connection's own statistics), which only ever grow."""
        for key, total in totals.items():
            done = self._caught_up.get((counter, key), 0)
            if total > done:
                counter.labels(**{label: key}).inc(total - done)
                self._caught_up[(counter, key)] = total

    def value(self, sample: str, **labels: str) -> float:
        """The current value of one sample, e.g. `value("streamliq_rows_total", freq="1m")`; 0 if absent."""
        return self.registry.get_sample_value(sample, labels) or 0.0

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """Every metric in the format an `Accept` header asks for (the client's own negotiation:
        OpenMetrics if asked, else the Prometheus text format 0.0.4), and its content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
