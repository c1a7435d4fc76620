"""Replay throughput of `streamliq replay` against a pyarrow CSV-reading floor.

What it measures
    For each day count N in ``--days`` the script replays a synthetic Tardis data set of N
    days (one symbol, ``binance-futures`` ``BTCUSDT``) with

        streamliq replay --data-dir DIR --out /tmp/streamliq-bench-out-<N>d.parquet --quiet --freq F

    and, as a floor, reads the very same ``.csv.gz`` files with ``pyarrow.csv.open_csv``
    (all columns, default types, every batch iterated, nothing else done). Both run as child
    processes and are timed the same way: wall time from ``Popen`` to ``os.wait4``, so
    interpreter start-up and imports are included, and peak RSS from the ``rusage`` that
    ``os.wait4`` returns for that child (``ru_maxrss``, KiB on Linux). Events are the data rows
    of all files. With ``--repeat K`` the best (smallest) time of K runs is kept and the peak
    RSS is the largest of the K runs.

    The table lists, per N: events, seconds and events/s of both, the ratio
    ``streamliq events/s / pyarrow events/s`` (1.0 would mean streamliq is as fast as merely
    parsing its input), and both peak RSS values; then the RSS growth from the smallest to the
    largest N. A replay that streams its input should grow little with N.

    Note on RSS: Linux carries the parent's peak RSS into a child's ``ru_maxrss`` at ``exec``.
    This process therefore imports only the standard library while it measures; data
    generation and the floor run in their own processes.

Synthetic data
    Per UTC day about 20,000 liquidations, 86,400 ``derivative_ticker`` rows (one a second) and
    2,000,000 trades, in the Tardis CSV layout (header row, LF, gzip, integer microseconds,
    one file per channel and UTC day of ``local_timestamp``, sorted by ``local_timestamp``,
    which is ``timestamp`` plus 5-80 ms, non-decreasing as from one connection). The price
    is a random walk around 60,000 with clustered volatility; trades and liquidations come
    more often when it is volatile; amounts are lognormal. Generation is seeded and
    vectorized with numpy; files are written with ``pyarrow.csv.write_csv`` into a gzip
    stream (level 1 by default: ``--gzip-level``).
    Each data set is cached under ``--data-root`` in ``days-<N>/`` (with a ``manifest.json``),
    so reruns skip generation; days already generated for another N are hard-linked.

How to run
    python benchmarks/replay_throughput.py                       # --days 1,7
    python benchmarks/replay_throughput.py --days 1 --repeat 3 --json /tmp/bench.json
    python benchmarks/replay_throughput.py --days 1,7,30 --freq 15m,1h --data-root /data/bench

    Needs numpy and pyarrow, and the ``streamliq`` console script (found next to this
    Python, on PATH, or given with ``--streamliq``). Linux (``os.wait4``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allmarket_data import AllMarketParams, add_generator_arguments, expected_rows, params_from
from allmarket_data import ensure_data as ensure_all_market
from benchkit import (
    LIQ_HEADER,
    Tally,
    count_text,
    ensure_generated,
    fmt,
    jitter_sort,
    log,
    markdown_table,
    parquet_rows,
    read_manifest,
    self_rss_mib,
    streamliq_command,
    verdict,
    warm_cache,
    write_csv_gz,
)

if TYPE_CHECKING:  # imported at run time only inside the generator process
    import numpy as np
    import pyarrow as pa

GENERATOR_VERSION = 1
EXCHANGE = "binance-futures"
SYMBOL = "BTCUSDT"
FIRST_DAY = date(2024, 3, 1)
DEFAULT_DATA_ROOT = Path("/tmp/streamliq-bench")
CHANNELS = ("liquidations", "derivative_ticker", "trades")

US = 1_000_000  # microseconds per second
DAY_SECONDS = 86_400
DAY_US = DAY_SECONDS * US
FUNDING_PERIOD_US = 8 * 3600 * US
START_PRICE = 60_000.0
DAILY_VOL = 0.03  # daily log-return sd
ANCHOR_REVERSION = 0.2  # daily pull of the price level back towards START_PRICE
MAX_DAYS = 4_096
TICK = 0.1  # BTCUSDT price tick
LOT = 0.001  # BTCUSDT amount step
TRADE_MEDIAN_BTC = 0.01
TRADE_SIGMA = 1.6
LIQ_MEDIAN_BTC = 0.05
LIQ_SIGMA = 1.5
LIQ_PRICE_OFFSET_SD = 0.004  # liquidation order price beyond the market
OPEN_INTEREST_BTC = 80_000.0
TRADE_ID_BASE = 4_000_000_000
TRADE_ID_PER_DAY = 10_000_000

TRADES_HEADER = LIQ_HEADER
TICKER_HEADER = (
    "exchange", "symbol", "timestamp", "local_timestamp", "funding_timestamp", "funding_rate",
    "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price",
)

# The floor: parse every file with pyarrow and nothing else (only pyarrow is imported).
PANDAS_SCRIPT = Path(__file__).resolve().with_name("pandas_allmarket.py")
FREQ_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600}

FLOOR_PROGRAM = """\
import json, sys
import pyarrow, pyarrow.csv
rows = 0
for path in sys.argv[1:]:
    for batch in pyarrow.csv.open_csv(path):
        rows += batch.num_rows
print(json.dumps({"rows": rows, "pyarrow": pyarrow.__version__}))
"""


# ---------------------------------------------------------------------------------------------
# synthetic data (runs in a child process: `--_generate`)


@dataclass(frozen=True)
class GenParams:
    """Everything the generated files depend on (the cache key, with the day count)."""

    seed: int
    liquidations_per_day: int
    trades_per_day: int
    gzip_level: int = 1
    first_day: str = FIRST_DAY.isoformat()
    exchange: str = EXCHANGE
    symbol: str = SYMBOL
    version: int = GENERATOR_VERSION


def file_name(channel: str, day: date) -> str:
    return f"{EXCHANGE}_{channel}_{day.isoformat()}_{SYMBOL}.csv.gz"


def _anchors(seed: int) -> np.ndarray:
    """Log price at each UTC midnight: a mean-reverting daily random walk."""
    import numpy as np

    z = np.random.default_rng([seed, 0xA]).standard_normal(MAX_DAYS + 1)
    out = np.empty(MAX_DAYS + 1)
    out[0] = level = math.log(START_PRICE)
    for i in range(MAX_DAYS):
        level += DAILY_VOL * z[i] - ANCHOR_REVERSION * (level - math.log(START_PRICE))
        out[i + 1] = level
    return out


def _day_path(rng: np.random.Generator, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Per second: log mid price (a Brownian bridge from `start` to `end`) and volatility level."""
    import numpy as np

    hourly = np.convolve(rng.standard_normal(1440 + 59), np.ones(60) / math.sqrt(60), mode="valid")
    vol = np.repeat(np.exp(0.5 * hourly - 0.125), 60)  # mean ~1, clustered over ~an hour
    steps = rng.standard_normal(DAY_SECONDS) * vol * (DAILY_VOL / math.sqrt(DAY_SECONDS))
    walk = np.concatenate(([0.0], np.cumsum(steps)))
    t = np.arange(DAY_SECONDS + 1) / DAY_SECONDS
    log_mid = start + t * (end - start) + walk - t * walk[-1]
    return log_mid[:DAY_SECONDS], vol


def _lots(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    import numpy as np

    lots = np.rint(rng.lognormal(math.log(median / LOT), sigma, n))
    return np.clip(lots, 1, 1e7) / 1000  # whole lots of 0.001 BTC, printed as short decimals


def _ticks(price: np.ndarray, up: np.ndarray | bool) -> np.ndarray:
    import numpy as np

    return np.where(up, np.ceil(price / TICK), np.floor(price / TICK)) / 10


def _const(value: str, n: int) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def _sides(buy: np.ndarray) -> pa.Array:
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array((~buy).astype("int32")), pa.array(["buy", "sell"]))


def generate_day(params: GenParams, index: int, anchors: np.ndarray) -> dict[str, dict[str, Any]]:
    """The three tables (column name -> array) of day `index`."""
    import numpy as np
    import pyarrow as pa

    day_start = int((date.fromisoformat(params.first_day) - date(1970, 1, 1)).days + index) * DAY_US
    day_end = day_start + DAY_US
    rng = np.random.default_rng([params.seed, index])
    log_mid, vol = _day_path(rng, anchors[index], anchors[index + 1])
    mid = np.exp(log_mid)
    sigma_s = DAILY_VOL / math.sqrt(DAY_SECONDS)

    # derivative_ticker: one row a second on whole seconds
    ts = day_start + np.arange(DAY_SECONDS, dtype=np.int64) * US
    local, order = jitter_sort(rng, ts, day_end)
    basis = np.convolve(rng.standard_normal(DAY_SECONDS + 299), np.ones(300) / math.sqrt(300), mode="valid")
    mark = np.rint(mid * 100) / 100
    funding = 0.0001 + np.cumsum(rng.normal(0, 2e-9, DAY_SECONDS)) + rng.normal(0, 3e-5)
    open_interest = OPEN_INTEREST_BTC * np.exp(np.cumsum(rng.normal(0, 2e-4, DAY_SECONDS)))
    n = len(order)
    ticker = {
        "exchange": _const(params.exchange, n),
        "symbol": _const(params.symbol, n),
        "timestamp": ts[order],
        "local_timestamp": local[order],
        "funding_timestamp": (ts[order] // FUNDING_PERIOD_US + 1) * FUNDING_PERIOD_US,
        "funding_rate": np.round(funding[order], 8),
        "predicted_funding_rate": pa.nulls(n, pa.string()),
        "open_interest": np.round(open_interest[order], 3),
        "last_price": _ticks(mid + rng.normal(0, 2 * TICK, DAY_SECONDS), True)[order],
        "index_price": np.round(mark * (1 + 2e-4 * basis), 8)[order],
        "mark_price": mark[order],
    }

    # trades: Poisson arrivals, busier when volatile, exchange times on whole ms
    counts = rng.poisson(params.trades_per_day * vol / vol.sum())
    second = np.repeat(np.arange(DAY_SECONDS), counts)
    ts = np.sort(day_start + second * US + rng.integers(0, 1000, len(second)) * 1000)
    second = (ts - day_start) // US
    trade_ids = TRADE_ID_BASE + index * TRADE_ID_PER_DAY + np.arange(len(ts), dtype=np.int64)
    buy = rng.random(len(ts)) < 0.5
    price = _ticks(mid[second] * np.exp(rng.normal(0, 0.3 * sigma_s, len(ts)) * vol[second]), buy)
    amount = _lots(rng, TRADE_MEDIAN_BTC, TRADE_SIGMA, len(ts))
    local, order = jitter_sort(rng, ts, day_end)
    n = len(order)
    trades = {
        "exchange": _const(params.exchange, n), "symbol": _const(params.symbol, n),
        "timestamp": ts[order], "local_timestamp": local[order], "id": trade_ids[order],
        "side": _sides(buy[order]), "price": price[order], "amount": amount[order],
    }

    # liquidations: at most one a second (Binance's forceOrder snapshot), clustered in volatile
    # and falling (longs liquidated, side sell) or rising (shorts, side buy) minutes
    weight = vol**2
    second = np.sort(rng.choice(DAY_SECONDS, size=min(params.liquidations_per_day, DAY_SECONDS),
                                replace=False, p=weight / weight.sum()))
    ts = day_start + second * US + rng.integers(0, 1000, len(second)) * 1000
    move = (log_mid[second] - log_mid[np.maximum(second - 60, 0)]) / (sigma_s * math.sqrt(60))
    buy = rng.random(len(ts)) < 1 / (1 + np.exp(-1.5 * move))
    offset = np.abs(rng.normal(0, LIQ_PRICE_OFFSET_SD, len(ts)))
    price = _ticks(mid[second] * np.where(buy, 1 + offset, 1 - offset), buy)
    amount = _lots(rng, LIQ_MEDIAN_BTC, LIQ_SIGMA, len(ts))
    local, order = jitter_sort(rng, ts, day_end)
    n = len(order)
    liquidations = {
        "exchange": _const(params.exchange, n), "symbol": _const(params.symbol, n),
        "timestamp": ts[order], "local_timestamp": local[order], "id": pa.nulls(n, pa.string()),
        "side": _sides(buy[order]), "price": price[order], "amount": amount[order],
    }
    return {"liquidations": liquidations, "derivative_ticker": ticker, "trades": trades}


def _cached_elsewhere(data_root: Path, params: GenParams, name: str) -> tuple[Path, dict] | None:
    """A file of the same name and parameters in another cached day-count set."""
    for manifest_path in sorted(data_root.glob("days-*/manifest.json")):
        manifest = read_manifest(manifest_path.parent)
        if manifest is None or manifest["params"] != asdict(params):
            continue
        for entry in manifest["files"]:
            source = manifest_path.parent / entry["name"]
            if entry["name"] == name and source.is_file() and source.stat().st_size == entry["bytes"]:
                return source, entry
    return None


def generate_set(target: Path, days: int, params: GenParams, data_root: Path) -> None:
    """Write `days` days into `target` (a fresh folder) and its manifest.json last."""
    target.mkdir(parents=True)
    anchors = _anchors(params.seed)
    files = []
    for index in range(days):
        day = date.fromisoformat(params.first_day) + timedelta(days=index)
        tables = None
        for channel, header in zip(CHANNELS, (LIQ_HEADER, TICKER_HEADER, TRADES_HEADER), strict=True):
            name = file_name(channel, day)
            path = target / name
            cached = _cached_elsewhere(data_root, params, name)
            if cached is not None:
                os.link(cached[0], path)
                rows = cached[1]["rows"]
            else:
                if tables is None:
                    tables = generate_day(params, index, anchors)
                rows = write_csv_gz(path, header, tables[channel], params.gzip_level)
            files.append({"name": name, "channel": channel, "day": day.isoformat(), "rows": rows,
                          "bytes": path.stat().st_size})
        print(f"  day {index + 1}/{days} ({day}) ready", file=sys.stderr, flush=True)
    manifest = {"params": asdict(params), "days": days, "files": files,
                "events": sum(f["rows"] for f in files)}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# the cache (stdlib only: the measuring process must stay small)


def ensure_data(data_root: Path, days: int, params: GenParams) -> tuple[Path, dict]:
    """The cached `days`-day set, generated (in a child process) when missing or stale."""
    folder = data_root / f"days-{days}"

    def command(building: Path) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--_generate", str(building),
                "--days", str(days), "--seed", str(params.seed), "--data-root", str(data_root),
                "--liquidations-per-day", str(params.liquidations_per_day),
                "--trades-per-day", str(params.trades_per_day), "--gzip-level", str(params.gzip_level)]

    manifest = ensure_generated(folder, {"params": asdict(params), "days": days}, command)
    return folder, manifest


# ---------------------------------------------------------------------------------------------
# measuring


@dataclass
class Result:
    """The numbers of one day count (best time of the repeats, largest peak RSS)."""

    days: int
    events: int
    files: int
    bytes_gz: int
    streamliq_seconds: float | None = None
    streamliq_rss_mib: float | None = None
    streamliq_error: str | None = None
    streamliq_rows: int | None = None
    pyarrow_seconds: float | None = None
    pyarrow_rss_mib: float | None = None
    pyarrow_rows: int | None = None
    pyarrow_error: str | None = None
    streamliq_all_seconds: list[float] = field(default_factory=list)
    pyarrow_all_seconds: list[float] = field(default_factory=list)

    @property
    def streamliq_eps(self) -> float | None:
        return self.events / self.streamliq_seconds if self.streamliq_seconds else None

    @property
    def pyarrow_eps(self) -> float | None:
        return self.events / self.pyarrow_seconds if self.pyarrow_seconds else None

    @property
    def ratio(self) -> float | None:
        a, b = self.streamliq_eps, self.pyarrow_eps
        return a / b if a and b else None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "streamliq_events_per_s": self.streamliq_eps,
                "pyarrow_events_per_s": self.pyarrow_eps, "ratio": self.ratio}


def bench(days: int, folder: Path, manifest: dict, args: argparse.Namespace) -> Result:
    """Dense mode, one day count: streamliq replay against the pyarrow read-only floor."""
    paths = [folder / entry["name"] for entry in manifest["files"]]
    result = Result(days, manifest["events"], len(paths), sum(entry["bytes"] for entry in manifest["files"]))
    out = Path(tempfile.gettempdir()) / f"streamliq-bench-out-{days}d.parquet"
    replay = [*streamliq_command(args.streamliq), "replay", "--data-dir", str(folder), "--out", str(out),
              "--quiet", "--freq", args.freq]
    floor = [sys.executable, "-c", FLOOR_PROGRAM, *map(str, paths)]
    streamliq, pyarrow = Tally("streamliq"), Tally("pyarrow read")
    warm_cache(paths)
    for attempt in range(args.repeat):
        label = f"[{days} d, run {attempt + 1}/{args.repeat}]"
        streamliq.run(replay, label, args.timeout)
        pyarrow.run(floor, label, args.timeout)
    result.streamliq_all_seconds, result.pyarrow_all_seconds = streamliq.seconds, pyarrow.seconds
    result.streamliq_seconds, result.pyarrow_seconds = streamliq.best, pyarrow.best
    result.streamliq_rss_mib, result.pyarrow_rss_mib = streamliq.rss_mib, pyarrow.rss_mib
    result.streamliq_error, result.pyarrow_error = streamliq.error, pyarrow.error
    if pyarrow.error is None:
        result.pyarrow_rows = json.loads(pyarrow.stdout)["rows"]
    if streamliq.error is None and out.exists():
        result.streamliq_rows = parquet_rows(out)
    return result


# ---------------------------------------------------------------------------------------------
# report


def growth(results: list[Result], name: str) -> float | None:
    """RSS growth in percent from the smallest to the largest day count."""
    ok = [r for r in results if getattr(r, name) is not None]
    if len(ok) < 2 or min(r.days for r in ok) == max(r.days for r in ok):
        return None
    small = min(ok, key=lambda r: r.days)
    large = max(ok, key=lambda r: r.days)
    return (getattr(large, name) / getattr(small, name) - 1) * 100


def report(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"streamliq replay --freq {args.freq} vs pyarrow.csv.open_csv (best of {args.repeat})",
        "",
        "| days | events | streamliq s | streamliq ev/s | pyarrow-read s | pyarrow ev/s | ratio "
        "| streamliq peak RSS MiB | pyarrow peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.days} | {r.events:,} | {fmt(r.streamliq_seconds, '.2f')} "
            f"| {fmt(r.streamliq_eps, ',.0f')} "
            f"| {fmt(r.pyarrow_seconds, '.2f')} | {fmt(r.pyarrow_eps, ',.0f')} | {fmt(r.ratio, '.3f')} "
            f"| {fmt(r.streamliq_rss_mib, ',.0f')} | {fmt(r.pyarrow_rss_mib, ',.0f')} |"
        )
    lines.append("")
    if len({r.days for r in results}) > 1:
        small, large = min(r.days for r in results), max(r.days for r in results)
        s, p = growth(results, "streamliq_rss_mib"), growth(results, "pyarrow_rss_mib")
        lines.append(f"Peak RSS growth from {small} to {large} day(s): streamliq "
                     f"{fmt(s, '+.1f')}%, pyarrow read {fmt(p, '+.1f')}%")
    for r in results:
        lines.append(f"- acceptance, {r.days} d: streamliq at least 0.8x the pyarrow read throughput: "
                     f"{fmt(r.ratio, '.3f')}x {verdict(None if r.ratio is None else r.ratio >= 0.8)}")
    if len({r.days for r in results}) > 1:
        s = growth(results, "streamliq_rss_mib")
        lines.append(f"- acceptance: streamliq peak RSS of the longest run within 20% of the shortest: "
                     f"{fmt(s, '+.1f')}% {verdict(None if s is None else s <= 20)}")
    for r in results:
        notes = []
        if r.pyarrow_rows is not None and r.pyarrow_rows != r.events:
            notes.append(f"pyarrow read {r.pyarrow_rows:,} rows, the manifest says {r.events:,}")
        if r.streamliq_rows is not None:
            notes.append(f"streamliq wrote {r.streamliq_rows:,} factor rows")
        if r.streamliq_error:
            notes.append(f"streamliq failed: {r.streamliq_error.splitlines()[-1]}")
        if notes:
            lines.append(f"- {r.days} d: " + "; ".join(notes))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# all-market mode: streamliq replay (all columns) against the plain pandas script (a subset)


@dataclass
class AllMarketResult:
    """One (data set, frequency) of the all-market mode."""

    symbols: int
    days: int
    freq: str
    events: int
    expected_rows: int
    streamliq: Tally
    pandas: Tally
    streamliq_rows: int | None = None
    pandas_rows: int | None = None

    @property
    def ratio(self) -> float | None:
        """pandas time / streamliq time: above 1 means streamliq is faster."""
        a, b = self.pandas.best, self.streamliq.best
        return a / b if a and b else None

    def rows_per_s(self, tally: Tally) -> float | None:
        """Output rows a second (the rows streamliq wrote, else the expected count)."""
        rows = self.streamliq_rows or self.expected_rows
        return rows / tally.best if tally.best else None

    def rows_agree(self) -> bool:
        """streamliq, pandas and the generator's manifest agree on the row count."""
        return self.streamliq_rows == self.pandas_rows == self.expected_rows

    def as_json(self) -> dict[str, Any]:
        return {"symbols": self.symbols, "days": self.days, "freq": self.freq, "events": self.events,
                "expected_rows": self.expected_rows, "streamliq_rows": self.streamliq_rows,
                "pandas_rows": self.pandas_rows, "rows_agree": self.rows_agree(), "ratio": self.ratio,
                "streamliq_rows_per_s": self.rows_per_s(self.streamliq),
                "pandas_rows_per_s": self.rows_per_s(self.pandas),
                "streamliq": self.streamliq.as_json(), "pandas": self.pandas.as_json()}


def bench_all_market(folder: Path, manifest: dict, freq: str, args: argparse.Namespace) -> AllMarketResult:
    """Time `streamliq replay` and the pandas script, each in its own child, on one data set and freq."""
    params = manifest["params"]
    paths = [folder / entry["name"] for entry in manifest["files"]]
    stem = Path(tempfile.gettempdir()) / f"streamliq-bench-allmarket-{params['symbols']}x{params['days']}d-{freq}"
    out_streamliq, out_pandas = stem.with_suffix(".streamliq.parquet"), stem.with_suffix(".pandas.parquet")
    replay = [*streamliq_command(args.streamliq), "replay", "--data-dir", str(folder), "--out", str(out_streamliq),
              "--quiet", "--freq", freq]
    script = [sys.executable, str(PANDAS_SCRIPT), "--freq", freq, "--out", str(out_pandas), *map(str, paths)]
    result = AllMarketResult(params["symbols"], params["days"], freq, manifest["events"],
                             expected_rows(manifest, FREQ_SECONDS[freq]), Tally("streamliq"), Tally("pandas"))
    warm_cache(paths)
    for attempt in range(args.repeat):
        label = f"[{result.symbols}x{result.days} d {freq}, run {attempt + 1}/{args.repeat}]"
        result.streamliq.run(replay, label, args.timeout)
        result.pandas.run(script, label, args.timeout)
    if result.streamliq.error is None:
        result.streamliq_rows = parquet_rows(out_streamliq)
    if result.pandas.error is None:
        result.pandas_rows = json.loads(result.pandas.stdout.strip().splitlines()[-1])["rows"]
    if not args.keep_outputs:
        for path in (out_streamliq, out_pandas):
            path.unlink(missing_ok=True)
    return result


def report_all_market(results: list[AllMarketResult], repeat: int) -> str:
    """The all-market table and the row-count check."""
    rows = [[f"{r.symbols}x{r.days}d", r.freq, f"{r.events:,}", _rows_text(r), fmt(r.streamliq.best, ".2f"),
             fmt(r.pandas.best, ".2f"), fmt(r.rows_per_s(r.streamliq), ",.0f"), fmt(r.rows_per_s(r.pandas), ",.0f"),
             fmt(r.ratio, ".2f"), fmt(r.streamliq.rss_mib, ",.0f"), fmt(r.pandas.rss_mib, ",.0f")]
            for r in results]
    lines = [f"all-market: streamliq replay (all columns) vs the plain pandas script (a subset), best of {repeat}",
             "ratio = pandas s / streamliq s (above 1: streamliq faster)", "",
             *markdown_table(["data", "freq", "events", "rows", "streamliq s", "pandas s", "streamliq rows/s",
                              "pandas rows/s", "ratio", "streamliq peak RSS MiB", "pandas peak RSS MiB"], rows), ""]
    for r in results:
        lines.append(f"- {r.symbols}x{r.days} d {r.freq}: rows streamliq {count_text(r.streamliq_rows)}, "
                     f"pandas {count_text(r.pandas_rows)}, expected {r.expected_rows:,} "
                     f"({'agree' if r.rows_agree() else 'DIFFER'})")
        for tally in (r.streamliq, r.pandas):
            if tally.error:
                lines.append(f"  {tally.name} failed: {tally.error.splitlines()[-1]}")
        if r.freq == "5m":  # 1m is reported, not judged
            fast = None if r.ratio is None else r.ratio >= 1.2
            small = None if r.streamliq.rss_mib is None or r.pandas.rss_mib is None else (
                r.streamliq.rss_mib <= r.pandas.rss_mib)
            lines.append(f"  acceptance (5m at 400x10): streamliq at least 1.2x the pandas speed: "
                         f"{fmt(r.ratio, '.2f')}x {verdict(fast)}; peak RSS no more than pandas: {verdict(small)}")
    return "\n".join(lines)


def _rows_text(r: AllMarketResult) -> str:
    return count_text(r.streamliq_rows if r.streamliq_rows is not None else r.pandas_rows)


def main_all_market(args: argparse.Namespace) -> int:
    """Run the all-market mode for every --days value and --freq."""
    freqs = [f.strip() for f in (args.freq or "5m,1m").split(",") if f.strip()]
    unknown = [f for f in freqs if f not in FREQ_SECONDS]
    if unknown:
        raise SystemExit(f"--freq: all-market mode takes {', '.join(FREQ_SECONDS)}; got {', '.join(unknown)}")
    results = []
    for days in args.days or [10]:
        params = params_from(args, args.symbols, days)
        folder, manifest = ensure_all_market(args.data_root, params, args.sample)
        log(f"data: {folder} ({manifest['events']:,} liquidations, {len(manifest['first_ts'])} symbols)")
        results.extend(bench_all_market(folder, manifest, freq, args) for freq in freqs)
    print(report_all_market(results, args.repeat))
    if args.json:
        payload = {"benchmark": "replay_throughput", "mode": "all-market", "repeat": args.repeat,
                   "streamliq_command": streamliq_command(args.streamliq), "data_root": str(args.data_root),
                   **_machine(), "results": [r.as_json() for r in results]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    failed = any(r.streamliq.error or r.pandas.error for r in results)
    return 1 if failed or not all(r.rows_agree() for r in results) else 0


def _machine() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "measuring_process_rss_mib": self_rss_mib()}


def parse_days(text: str) -> list[int]:
    try:
        days = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--days: expected comma-separated integers, got {text!r}") from None
    if not days or days[0] < 1 or days[-1] > MAX_DAYS - 1:
        raise argparse.ArgumentTypeError(f"--days: each value must be in 1..{MAX_DAYS - 1}")
    return days


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("dense", "all-market"), default="dense",
                        help="dense: one busy symbol with trades and ticker vs the pyarrow read floor; "
                             "all-market: many symbols' liquidations vs the pandas script (default: dense)")
    parser.add_argument("--days", type=parse_days,
                        help="comma-separated day counts to replay (default: 1,7 dense, 10 all-market)")
    parser.add_argument("--symbols", type=int, default=400, help="all-market: perpetuals (default: 400)")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="all-market: keep the parquet outputs in the temp folder")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT,
                        help=f"cache of generated data sets (default: {DEFAULT_DATA_ROOT})")
    parser.add_argument("--freq", help="dense: passed to streamliq replay --freq as is (default: 15m); "
                                       "all-market: comma list, one run each (default: 5m,1m)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per measurement, best time kept (default: 1)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument("--timeout", type=float, help="kill a run after this many seconds (default: none)")
    parser.add_argument("--streamliq",
                        help="the streamliq executable (default: next to this Python or on PATH)")
    parser.add_argument("--seed", type=int, help="generator seed (default: 20240301 dense, "
                                                 f"{AllMarketParams.seed} all-market)")
    parser.add_argument("--liquidations-per-day", type=int, default=20_000, help="(default: %(default)s)")
    parser.add_argument("--trades-per-day", type=int, default=2_000_000, help="(default: %(default)s)")
    parser.add_argument("--gzip-level", type=int, default=1, choices=range(1, 10), metavar="1-9",
                        help="gzip level of the generated files (default: %(default)s)")
    add_generator_arguments(parser, common=False)
    parser.add_argument("--_generate", type=Path, help=argparse.SUPPRESS)  # internal: generator process
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    if not hasattr(os, "wait4"):
        raise SystemExit("this benchmark needs os.wait4 (Linux or another Unix)")
    if args.mode == "all-market":
        return main_all_market(args)
    args.days = args.days or [1, 7]
    args.freq = args.freq or "15m"
    params = GenParams(20240301 if args.seed is None else args.seed, args.liquidations_per_day,
                       args.trades_per_day, args.gzip_level)
    if args._generate is not None:
        generate_set(args._generate, args.days[-1], params, args.data_root)
        return 0
    results = []
    for days in args.days:
        folder, manifest = ensure_data(args.data_root, days, params)
        results.append(bench(days, folder, manifest, args))
    text = report(results, args)
    print(text)
    parent_rss = self_rss_mib()
    if any(r.streamliq_rss_mib is not None and r.streamliq_rss_mib <= parent_rss * 1.05 for r in results):
        print(f"warning: a child's peak RSS is close to this process's own ({parent_rss:.0f} MiB), "
              "which Linux reports as a floor for it", file=sys.stderr)
    if args.json:
        payload = {
            "benchmark": "replay_throughput", "freq": args.freq, "repeat": args.repeat,
            "streamliq_command": streamliq_command(args.streamliq), "data_root": str(args.data_root),
            "generator": asdict(params), **_machine(),
            "rss_growth_pct": {"streamliq": growth(results, "streamliq_rss_mib"),
                               "pyarrow": growth(results, "pyarrow_rss_mib")},
            "results": [r.as_json() for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if any(r.streamliq_error or r.pyarrow_error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
