"""LiveDaemon: the venues' websockets and REST into the engine, rows out as bars close on the wall clock.

Each venue of the settings (`streamliq/venues/registry.py`) gets its connections, its REST client,
its instruments (read at start, and daily, as `instruments` records: the contract specs turning
its quantities into base units) and, where the venue needs them, REST pollers. Nothing here
depends on which venue it is.

Everything that reaches the engine passes through `_apply` as a record (records.py): it is
written to the recording first, then applied to the LiveCore. Bars close on clock ticks at
`bar_end + lateness` of every frequency, whether or not any message arrived.

Checkpoints (`--state`) hold the engine and the time of the last record; they are saved every
`checkpoint_every_s` and on shutdown, after the output was synced, so a restart continues the
rolling windows, emits the bars of the downtime with `gap = true`, and writes no row twice.
After a hard kill the checkpoint is older than the output; `<state>.written` (the last bar_end
written per frequency, replaced atomically after every write) lets the restarted daemon skip the
rows it had already written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
from river import stats

from ..engine import BarEngine
from ..engine.block import RowBlock
from ..sinks.append import AppendingFileSink
from ..sources.positioning.spec import PERIODS_US
from ..telemetry import Metrics
from ..venues.base import METRICS, STREAM_CHANNELS, TICKER, Venue
from ..venues.registry import DEFAULT, venue
from .aggregates import aggregate_mapping, followed_specs, make_engine
from .checkpoint import load_state, save_state
from .connection import ConnectPacer, StreamConnection
from .core import LiveCore
from .pollers import InstrumentsPoller, MetricsPoller, OpenInterestPoller, all_perpetuals
from .records import RecordWriter
from .rest import RestClient
from .settings import LiveSettings

log = logging.getLogger("streamliq.live")
FEED_INTERVAL_S = 0.5
INPUT_KINDS = {"ws": "websocket", "oi": "open_interest", "metrics": "positioning"}
INSTRUMENTS_REFRESH_S = 24 * 3600.0
SHUTDOWN_GRACE_S = 1.5  # for the network tasks; the whole stop must stay under 5 s


@dataclass
class LiveStats:
    """Counters of one daemon run (also what the summary line prints)."""

    started: float = field(default_factory=time.time)
    rows: int = 0
    ticks: int = 0
    delays: int = 0  # rows whose bar-close delay (emitted - (bar_end + lateness)) was observed
    # streaming estimates (river's P^2 quantiles): constant memory however long the daemon runs
    delay_p50: stats.Quantile = field(default_factory=lambda: stats.Quantile(0.5))
    delay_p99: stats.Quantile = field(default_factory=lambda: stats.Quantile(0.99))

    def observe_delays(self, delays_s: list[float]) -> None:
        """Add the bar-close delays (seconds) of rows just emitted."""
        for delay in delays_s:
            self.delay_p50.update(delay)
            self.delay_p99.update(delay)
        self.delays += len(delays_s)

    def delay_percentiles(self) -> tuple[float, float]:
        """p50 and p99 of the bar-close delay in seconds since start (NaN before any row)."""
        if not self.delays:
            return float("nan"), float("nan")
        return float(self.delay_p50.get()), float(self.delay_p99.get())


class LiveDaemon:
    """A row source (`streamliq.feed.RowSource`): `run(publish)` until `stop()` (or SIGTERM/SIGINT
    when `handle_signals`), then checkpoint and return.

    `sink` is the durable `--out` file, written synchronously before every checkpoint; `publish`
    hands the same rows to the fan-out (server, Redis, callbacks), which never blocks the daemon.
    """

    def __init__(self, settings: LiveSettings, sink: AppendingFileSink | None = None,
                 metrics: Metrics | None = None, handle_signals: bool = True) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = metrics or Metrics()
        self.publish: Callable[[list[dict]], None] | None = None
        self.handle_signals = handle_signals
        self.stats = LiveStats()
        self.recorder = RecordWriter(settings.record) if settings.record else None
        self.connections: list[StreamConnection] = []
        self.rest: RestClient | None = None  # the first venue's REST client
        self.rests: dict[str, RestClient] = {}  # venue -> its REST client
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None  # the error of a task that died
        self._last_t = 0
        self._all_symbols: asyncio.Future | None = None  # exchangeInfo's symbols, asked once
        self._written: dict[str, int] = _read_json(settings.state + ".written") if settings.state else {}
        self.core: LiveCore | None = None
        self._pending_specs: list = []  # specs read before the engine exists (aggregate rows' coins)

    # -- time and records --------------------------------------------------------------------
    def now(self) -> int:
        """Local time in µs, never going backwards (arrival times must be monotonic)."""
        self._last_t = max(self._last_t, time.time_ns() // 1000)
        return self._last_t

    def _apply(self, record: dict) -> None:
        if self.recorder is not None:
            self.recorder.write(record)
        block = self.core.apply(record)
        if record["k"] in INPUT_KINDS:
            self.metrics.messages.labels(kind=INPUT_KINDS[record["k"]]).inc()
        if block is not None and len(block):
            self._publish(block)
        if record["k"] == "tick":
            self._export_counters()

    def _export_counters(self) -> None:
        """Bring the Prometheus counters up to the core's and the connections' own counts."""
        self.metrics.catch_up(self.metrics.bad_input, "kind", self.core.bad.counts)
        self.metrics.catch_up(self.metrics.reconnects, "connection",
                              {c.name: c.stats.reconnects for c in self.connections})

    def _publish(self, block: RowBlock) -> None:
        now_s = time.time()
        lateness_s = self.settings.factors.lateness_us / 1e6
        self.stats.observe_delays((now_s - block["bar_end"] / 1e6 - lateness_s).tolist())
        if self._written:
            written = np.array([self._written.get(freq, 0) for freq in block["freq"]], np.int64)
            block = block.take(block["bar_end"] > written)
        if self.sink is not None:
            self.sink.write(block)
        if self.settings.state and len(block):
            for freq, end in zip(block["freq"].tolist(), block["bar_end"].tolist(), strict=True):
                self._written[freq] = max(self._written.get(freq, 0), end)
            _write_json(self.settings.state + ".written", self._written)
        self.stats.rows += len(block)  # the fan-out (`publish`) counts them in the metrics, once
        if self.publish is not None and len(block):
            self.publish(block)  # rows become dicts at the edge, only for the sinks that send them so

    # -- lifecycle ---------------------------------------------------------------------------
    def clock(self) -> float:
        """The wall clock (s): a `Feed` of this source measures each row's bar-close delay with it."""
        return time.time()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, publish: Callable[[list[dict]], None] | None = None) -> LiveStats:
        """Follow the market and publish closed rows until stopped; then checkpoint."""
        self.publish = publish
        settings = self.settings
        loop = asyncio.get_running_loop()
        if self.handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        session = aiohttp.ClientSession()
        self.rests = {name: RestClient(session, settings.rest_urls[name]) for name in settings.instruments}
        self.rest = self.rests.get(settings.venues[0]) or next(iter(self.rests.values()))
        pollers = {name: InstrumentsPoller(self.rests[name], venue(name), self.now) for name in settings.instruments}
        # contract specs first where quantities need them (and for the aggregate rows' coins)
        first = [name for name in pollers if venue(name).specs_before_streams or settings.aggregate]
        try:
            bodies = await self._first_instruments(pollers, first)
            if bodies is not None:
                self._pending_specs = followed_specs(bodies, settings.instruments)
                engine, notes = self._restore()
        except BaseException:
            bodies = None
            raise
        finally:
            if bodies is None:  # stopped while waiting for an instruments endpoint, or no engine
                await session.close()
                self._remove_signal_handlers(loop)
        if bodies is None:
            return self.stats
        self.core = LiveCore(engine)
        self.core.normalizer.metrics_seen.update(
            {(endpoint, symbol): ts for endpoint, symbol, ts in notes.get("metrics_seen", [])})
        self._apply({"t": self.now(), "k": "start", "symbols": _listed(settings.instruments.get(DEFAULT)),
                     "venues": {name: _listed(symbols) for name, symbols in settings.instruments.items()}})
        for record in bodies:
            self._apply(record)
        self.connections = self._plan_connections()
        tasks = [asyncio.create_task(c.run(notes["last_time"]), name=c.name) for c in self.connections]
        tasks.append(asyncio.create_task(self._clock(), name="clock"))
        for name, poller in pollers.items():
            tasks.append(asyncio.create_task(poller.run(self._apply, INSTRUMENTS_REFRESH_S if name in first else 0.0,
                                                        INSTRUMENTS_REFRESH_S), name=_task_name(name, "instruments")))
        if settings.state:
            tasks.append(asyncio.create_task(self._checkpoints(), name="checkpoints"))
        for name in settings.instruments:
            channels = settings.venue_channels(name)
            if venue(name).polls_open_interest and TICKER in channels and settings.oi_interval_s > 0:
                tasks.append(asyncio.create_task(self._poll_open_interest(name),
                                                 name=_task_name(name, "open-interest")))
            if venue(name).polls_metrics and METRICS in channels:
                tasks.append(asyncio.create_task(self._poll_metrics(name), name=_task_name(name, "metrics")))
        for task in tasks:
            task.add_done_callback(self._task_ended)
        log.info("event=started venues=%s connections=%d symbols=%s freqs=%s channels=%s",
                 ",".join(settings.instruments), len(self.connections),
                 len(settings.symbols) if settings.symbols else "all",
                 ",".join(f.name for f in settings.factors.freqs), ",".join(settings.channels))
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(tasks, session)
            self._remove_signal_handlers(loop)
        if self._failure is not None:
            raise self._failure
        return self.stats

    def _remove_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _first_instruments(self, pollers: dict[str, InstrumentsPoller], names: list[str]) -> list[dict] | None:
        """The instruments records of `names`, fetched now (retried until answered), or None if
        the daemon is stopped meanwhile."""
        if not names:
            return []
        fetch = asyncio.gather(*(pollers[name].fetch() for name in names))
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch
            return None
        stop.cancel()
        return [record for records in fetch.result() for record in records]

    def _task_ended(self, task: asyncio.Task) -> None:
        """A network task or the clock only ends by cancellation; anything else is a bug, and a
        daemon without its clock would silently emit nothing: checkpoint, stop and fail loudly."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("event=task_failed task=%s error=%r", task.get_name(), str(task.exception()),
                  exc_info=task.exception())
        self._failure = self._failure or task.exception()
        self.stop()

    def _restore(self) -> tuple[BarEngine, dict]:
        """The checkpointed engine and notes (the feed's last time, metric rows seen), or fresh ones
        (with the aggregate rows' coins when asked for: the specs were read first)."""
        mapping = aggregate_mapping(self._pending_specs) if self.settings.aggregate else None
        if self.settings.state:
            loaded = load_state(self.settings.state, self.settings.factors, mapping)
            if loaded is not None:
                engine, notes = loaded
                log.info("event=restored state=%s last_time_us=%d", self.settings.state, notes["last_time"])
                return engine, notes
        return make_engine(self.settings.factors, mapping), {"last_time": self.now()}

    async def _shutdown(self, tasks: list[asyncio.Task], session: aiohttp.ClientSession) -> None:
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        if pending:
            log.warning("event=shutdown_slow tasks=%s", ",".join(t.get_name() for t in pending))
        await session.close()
        if self.core is not None:
            self._apply({"t": self.now(), "k": "tick"})
            self._checkpoint()
        if self.recorder is not None:
            self.recorder.close()
        if self.sink is not None:
            self.sink.close()
        p50, p99 = self.stats.delay_percentiles()
        log.info("event=stopped rows=%d messages=%d duplicates=%d bad_input=%d reconnects=%d "
                 "delay_p50_s=%.3f delay_p99_s=%.3f", self.stats.rows, self.core.messages,
                 self.core.duplicates, self.core.bad.total, sum(c.stats.reconnects for c in self.connections),
                 p50, p99)

    def _checkpoint(self) -> None:
        if self.sink is not None and hasattr(self.sink, "sync"):
            self.sink.sync()
        if self.recorder is not None:
            self.recorder.flush()
        if self.settings.state:
            save_state(self.settings.state, self.core.engine, {
                "last_time": self.core.last_time,
                "metrics_seen": [[*key, ts] for key, ts in self.core.normalizer.metrics_seen.items()]})

    # -- tasks ------------------------------------------------------------------------------
    def _plan_connections(self) -> list[StreamConnection]:
        """Each venue's streams spread over connections, all of one symbol's streams on the same
        connection; a venue's shared streams (one for all its symbols) ride on its first one."""
        plans = []
        for name, symbols in self.settings.instruments.items():
            plans += self._venue_connections(venue(name), symbols)
        return plans

    def _venue_connections(self, v: Venue, symbols: tuple[str, ...] | None) -> list[StreamConnection]:
        settings = self.settings
        channels = tuple(c for c in settings.venue_channels(v.name) if c in STREAM_CHANNELS)
        base, prefix, pacer = settings.ws_urls[v.name], "" if v.name == DEFAULT else f"{v.name}.", \
            ConnectPacer(v.limits.connect_gap_s)

        def make(name: str, url: str, streams: list, chunk: frozenset[str] | None) -> StreamConnection:
            return StreamConnection(prefix + name, url, streams, chunk, self._apply, self.now,
                                    rotate_after=settings.rotate_after_s, venue=v, pacer=pacer)

        if not channels:
            return []
        if symbols is None:
            return [make("all", v.ws_endpoint(base, None), v.all_market_streams(channels), None)]
        shared = v.shared_streams(channels)
        per_symbol = max(len(v.streams(s, channels)) for s in symbols)
        if per_symbol == 0:
            return [make("c0", v.ws_endpoint(base, None), shared, frozenset(symbols))]
        per_connection = max(1, min(settings.streams_per_connection, v.limits.streams_per_connection) // per_symbol)
        groups: dict[str, list[str]] = {}  # websocket URL -> its symbols, in the given order
        for symbol in symbols:
            groups.setdefault(v.ws_endpoint(base, symbol), []).append(symbol)
        plans = []
        for url, group in groups.items():
            for start in range(0, len(group), per_connection):
                chunk = group[start:start + per_connection]
                streams = [name for s in chunk for name in v.streams(s, channels)]
                carried = frozenset(chunk)
                if shared and not plans:  # the shared streams' outage hides every symbol of the venue
                    streams, carried = shared + streams, frozenset(symbols)
                plans.append(make(f"c{len(plans)}", url, streams, carried))
        return plans

    async def _clock(self) -> None:
        """Tick at every `bar_end + lateness` of any frequency; feed buffered events in between."""
        widths = [f.us for f in self.settings.factors.freqs]
        lateness = self.settings.factors.lateness_us
        while True:
            now = time.time_ns() // 1000
            due = min(((now - lateness) // w + 1) * w + lateness for w in widths)
            await asyncio.sleep(min(FEED_INTERVAL_S, (due - now) / 1e6))
            if time.time_ns() // 1000 >= due:
                self.stats.ticks += 1
                self._apply({"t": self.now(), "k": "tick"})
            else:
                self.core.feed()

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self.settings.checkpoint_every_s)
            self._checkpoint()

    async def _symbols(self, name: str) -> list[str]:
        symbols = self.settings.instruments[name]
        if symbols:
            return list(symbols)
        if self._all_symbols is None:
            self._all_symbols = asyncio.ensure_future(all_perpetuals(self.rests[name], venue(name)))
        return list(await asyncio.shield(self._all_symbols))  # each poller gets its own list

    async def _poll_open_interest(self, name: str) -> None:
        poller = OpenInterestPoller(self.rests[name], await self._symbols(name), self.settings.oi_interval_s,
                                    self._apply, self.now, venue=venue(name))
        await poller.run()

    async def _poll_metrics(self, name: str) -> None:
        period = self.settings.metrics_period
        poller = MetricsPoller(self.rests[name], await self._symbols(name), period, PERIODS_US[period] / 1e6,
                               self._apply, self.now, venue=venue(name))
        await poller.run()

    def health(self) -> dict:
        """Feed status per connection and the daemon's counters."""
        return {
            "kind": "live",
            "connections": {c.name: {"state": c.stats.state, "streams": len(c.streams),
                                     "reconnects": c.stats.reconnects, "rotations": c.stats.rotations,
                                     "frames": c.stats.frames, "last_frame": c.stats.last_frame,
                                     "last_error": c.stats.last_error} for c in self.connections},
            "rows": self.stats.rows,
            "messages": self.core.messages if self.core else 0,
            "duplicates_dropped": self.core.duplicates if self.core else 0,
            "bad_input": dict(self.core.bad.counts) if self.core else {},
            "rest": vars(self.rest.stats) if self.rest else {},
        }



def _task_name(venue_name: str, task: str) -> str:
    return task if venue_name == DEFAULT else f"{venue_name}.{task}"


def _listed(symbols: tuple[str, ...] | None) -> list[str] | None:
    return None if symbols is None else list(symbols)


def _read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        log.warning("event=written_marks_unreadable path=%s", path)
        return {}


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps(data))
    os.replace(tmp, path)
