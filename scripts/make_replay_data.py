"""Build streamliq's bundled sample dataset ``replay_data/`` in Tardis CSV layout.

Real part
    Binance USD-M ``!forceOrder@arr`` liquidations recorded on two contiguous
    UTC days (2025-12-27/28) by a public "Moon Dev" style recorder (see
    ``../shared/realdata/SOURCES.md``) are converted to Tardis ``liquidations``
    rows (``binance-futures`` mapping): exact duplicate frames are dropped, only
    ``X == FILLED`` is kept, the ``USDT`` suffix that the recorder stripped is
    restored, and the missing arrival time ``local_timestamp`` is synthesized as
    ``timestamp`` plus a seeded pseudo-random latency of 20-120 ms. Price and
    amount strings are copied verbatim from the source text. One grouped file is
    written per UTC day of ``local_timestamp``.

Synthetic part
    For the twelve symbols with the most liquidations, SYNTHETIC Tardis
    ``derivative_ticker`` (one row per 15 s) and ``trades`` files are generated
    over the whole recording (30 minutes before its first to 30 minutes after
    its last liquidation). Their price level follows the real liquidation fill
    prices of that symbol; every other value is made up.

The script is deterministic (fixed seeds, gzip ``mtime=0``) and uses no network.
It also writes ``replay_data/README.md`` with the per-file row counts.

Usage::

    python scripts/make_replay_data.py [--realdata DIR] [--out DIR] [--trade-rate R]
"""

from __future__ import annotations

import argparse
import gzip
import io
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REALDATA = REPO_ROOT.parent / "shared" / "realdata"
DEFAULT_OUT = REPO_ROOT / "replay_data"

SEED = 20240817
EXCHANGE = "binance-futures"

# One recording of two contiguous UTC days (2025-12-27/28, 257 symbols): the sample's rows then
# span about 31 hours, not the months between separate recordings (which made 99.97% of the
# quick start's rows empty bars).
SOURCE_FILES: tuple[tuple[str, str], ...] = (
    ("moondev_riftfern/binance.csv", "riftfern/data-streams"),
)
SOURCE_COMMITS: dict[str, str] = {
    "riftfern/data-streams": "ce9e4d3805c5db155eb92003b6cc738fbf6bdd6f",
}
RAW_COLUMNS = ["s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T", "usd_size", "tier"]
# Fields of the forceOrder ``o`` object; ``usd_size``/``tier`` are added by the recorder.
FRAME_COLUMNS = RAW_COLUMNS[:11]

LIQ_HEADER = ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"]
TRADES_HEADER = LIQ_HEADER
TICKER_HEADER = [
    "exchange", "symbol", "timestamp", "local_timestamp", "funding_timestamp", "funding_rate",
    "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price",
]

US = 1_000_000  # microseconds per second
DAY_US = 86_400 * US
FUNDING_PERIOD_US = 8 * 3600 * US
LIQ_LATENCY_US = (20_000, 120_000)
FEED_LATENCY_US = (5_000, 60_000)
WINDOW_PAD_US = 30 * 60 * US
N_SYNTHETIC_SYMBOLS = 12
TICKER_EVERY_S = 15  # one derivative_ticker row per 15 s keeps 12 symbols under the 5 MB budget
DEFAULT_TRADE_RATE = 0.05  # trades per second
EMPTY_AFTER_START = 3  # rows without open_interest/last_price after a (re)connect
OI_ONLY_EVERY = 10  # every 10th derivative_ticker row is an open-interest-only update
TRADE_MEDIAN_NOTIONAL_USD = 150.0
TRADE_NOTIONAL_SIGMA = 1.4
UNKNOWN_SIDE_P = 0.005


@dataclass(frozen=True)
class Window:
    """One synthetic window: a symbol on one UTC day, whole seconds in µs."""

    symbol: str
    date: str
    start_us: int
    end_us: int
    first_liq_us: int
    last_liq_us: int
    n_liq: int


@dataclass
class Written:
    """A written file and its number of data rows."""

    path: Path
    rows: int


# ---------------------------------------------------------------------------
# helpers


def restore_symbol(sym: str) -> str:
    """Undo the recorder's removal of ``USDT``: keep ``...USDT``/``...USDC``, else append USDT."""
    return sym if sym.endswith(("USDT", "USDC")) else sym + "USDT"


def decimals(text: str) -> int:
    """Number of significant decimals of a decimal string (trailing zeros ignored)."""
    if "." not in text:
        return 0
    return len(text.split(".", 1)[1].rstrip("0"))


def fmt(value: float, ndigits: int) -> str:
    """Plain decimal (never scientific) with at most ``ndigits`` decimals, no trailing zeros."""
    text = f"{value:.{ndigits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def utc_date(us: int) -> str:
    """UTC calendar date (YYYY-MM-DD) of an epoch-µs timestamp."""
    return pd.Timestamp(us, unit="us", tz="UTC").strftime("%Y-%m-%d")


def utc_time(us: int) -> str:
    """UTC time of day (HH:MM:SS) of an epoch-µs timestamp."""
    return pd.Timestamp(us, unit="us", tz="UTC").strftime("%H:%M:%S")


def sub_rng(*key: str) -> np.random.Generator:
    """Independent deterministic generator for one purpose (stable across runs and platforms)."""
    return np.random.default_rng([SEED, *(zlib.crc32(k.encode()) for k in key)])


def write_csv_gz(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write a gzip CSV with LF line endings and a fixed gzip header (mtime=0, no name)."""
    lines = [",".join(header)]
    lines.extend(",".join(r) for r in rows)
    data = ("\n".join(lines) + "\n").encode("utf-8")  # real symbols may be non-ASCII (币安人生USDT)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return len(lines) - 1


# ---------------------------------------------------------------------------
# real liquidations


@dataclass
class LiqStats:
    """Counts of what the cleaning step did, for the README."""

    raw_rows: dict[str, int]
    exact_dupes: int
    frame_dupes: int
    not_filled: int
    symbols_with_usdt: int
    rows: int


def load_liquidations(realdata: Path) -> tuple[pd.DataFrame, LiqStats]:
    """Read the three Moon Dev CSVs and return clean Tardis liquidation rows (strings kept)."""
    frames = []
    raw_rows: dict[str, int] = {}
    for rel, _repo in SOURCE_FILES:
        df = pd.read_csv(
            realdata / rel, header=None, names=RAW_COLUMNS, dtype=str,
            keep_default_na=False, na_filter=False,
        )
        raw_rows[rel] = len(df)
        df["source"] = rel
        frames.append(df)
    raw = pd.concat(frames, ignore_index=True)
    for col in RAW_COLUMNS:
        raw[col] = raw[col].str.strip()

    n0 = len(raw)
    exact = raw.drop_duplicates(subset=RAW_COLUMNS, keep="first")
    n_exact = n0 - len(exact)
    # Same forceOrder frame written twice with a different recorder-computed usd_size.
    frames_df = exact.drop_duplicates(subset=FRAME_COLUMNS, keep="first")
    n_frame = len(exact) - len(frames_df)
    filled = frames_df[frames_df["X"] == "FILLED"]
    n_not_filled = len(frames_df) - len(filled)

    out = pd.DataFrame({
        "exchange": EXCHANGE,
        "symbol": filled["s"].map(restore_symbol),
        "timestamp": filled["T"].astype("int64") * 1000,
        "id": "",
        "side": filled["S"].str.lower(),
        "price": filled["p"],
        "amount": filled["z"],
        "ap": filled["ap"],
    })
    if not out["side"].isin(["buy", "sell"]).all():
        raise ValueError("unexpected side values in source")
    # Stable canonical order before drawing latencies, so the result does not
    # depend on how the sources happened to be appended.
    out = out.sort_values(["timestamp", "symbol", "side", "price", "amount"], kind="mergesort")
    rng = sub_rng("liquidations", "latency")
    lo, hi = LIQ_LATENCY_US
    out["local_timestamp"] = out["timestamp"] + rng.integers(lo, hi + 1, size=len(out))
    # Tardis files are ordered by arrival; ties keep timestamp order (stable sort).
    out = out.sort_values("local_timestamp", kind="mergesort").reset_index(drop=True)
    out["date"] = pd.to_datetime(out["local_timestamp"], unit="us", utc=True).dt.strftime("%Y-%m-%d")
    stats = LiqStats(
        raw_rows=raw_rows, exact_dupes=n_exact, frame_dupes=n_frame, not_filled=n_not_filled,
        symbols_with_usdt=int(filled["s"].str.endswith("USDT").sum()), rows=len(out),
    )
    return out, stats


def write_liquidations(liq: pd.DataFrame, out_dir: Path) -> list[Written]:
    """One grouped PERPETUALS file per UTC day of local_timestamp."""
    written = []
    for date, day in liq.groupby("date", sort=True):
        path = out_dir / f"{EXCHANGE}_liquidations_{date}_PERPETUALS.csv.gz"
        rows = zip(
            day["exchange"], day["symbol"], day["timestamp"].astype(str),
            day["local_timestamp"].astype(str), day["id"], day["side"], day["price"], day["amount"],
            strict=True,
        )
        written.append(Written(path, write_csv_gz(path, LIQ_HEADER, rows)))
    return written


# ---------------------------------------------------------------------------
# synthetic companions


@dataclass(frozen=True)
class Instrument:
    """Price tick and lot step inferred from the real liquidation strings of a symbol."""

    tick_decimals: int
    lot_decimals: int

    @property
    def tick(self) -> float:
        return 10.0 ** -self.tick_decimals

    @property
    def lot(self) -> float:
        return 10.0 ** -self.lot_decimals


def infer_instrument(rows: pd.DataFrame) -> Instrument:
    """Tick = most common decimals of ``ap`` on the symbol's rows; lot = max decimals of ``amount``."""
    counts = rows["ap"].map(decimals).value_counts()
    best = counts.max()
    tick_dec = int(max(d for d, c in counts.items() if c == best))
    lot_dec = int(rows["amount"].map(decimals).max())
    return Instrument(tick_dec, lot_dec)


def busiest_symbols(liq: pd.DataFrame, n: int) -> list[str]:
    """The n symbols with most liquidation rows (ties broken by name)."""
    counts = liq.groupby("symbol").size().reset_index(name="n")
    counts = counts.sort_values(["n", "symbol"], ascending=[False, True])
    return list(counts["symbol"].head(n))


def make_windows(liq: pd.DataFrame, symbol: str) -> list[Window]:
    """The whole recording, ±30 min (every symbol alike), split by UTC day.

    Every synthetic symbol then has ticker and trades from the run's first bar to its last, so
    its bars are real rows of a market, not empty bars between two liquidation bursts.
    """
    windows = []
    first_all, last_all = int(liq["timestamp"].min()), int(liq["timestamp"].max())
    rows = liq[liq["symbol"] == symbol]
    for date in sorted(liq["date"].unique()):
        day = rows[rows["date"] == date]
        day_start = int(pd.Timestamp(date, tz="UTC").value // 1000)
        # Last second kept such that every arrival time stays on the same UTC day.
        day_last = day_start + DAY_US - 2 * US
        start = max(day_start, math.ceil((first_all - WINDOW_PAD_US) / US) * US)
        end = min(day_last, ((last_all + WINDOW_PAD_US) // US) * US)
        first = int(day["timestamp"].min()) if len(day) else 0
        last = int(day["timestamp"].max()) if len(day) else 0
        windows.append(Window(symbol, str(date), start, end, first, last, len(day)))
    return windows


def anchor_log_price(day: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points (time µs, log price) from real fills: outliers dropped, 1-minute medians."""
    d = day.sort_values("timestamp")
    t = d["timestamp"].to_numpy(dtype=np.int64)
    lp = np.log(d["ap"].astype(float).to_numpy())
    med = pd.Series(lp).rolling(9, center=True, min_periods=1).median().to_numpy()
    keep = np.abs(lp - med) <= 0.05
    t, lp = t[keep], lp[keep]
    bins = pd.Series(lp).groupby(t // (60 * US))
    centers = (np.asarray(bins.median().index, dtype=np.int64) * 60 + 30) * US
    return centers, bins.median().to_numpy()


def price_path(window: Window, anchors: tuple[np.ndarray, np.ndarray],
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-second mid price: interpolated real level times an Ornstein-Uhlenbeck deviation."""
    secs = np.arange(window.start_us, window.end_us + 1, US, dtype=np.int64)
    level = np.interp(secs, anchors[0], anchors[1])
    tau, sd = 120.0, 0.003  # mean reversion (s) and stationary sd of the log deviation
    step_sd = sd * math.sqrt(2.0 / tau)
    shocks = rng.normal(0.0, step_sd, size=len(secs))
    dev = np.empty(len(secs))
    x = rng.normal(0.0, sd)
    for i, e in enumerate(shocks):
        x = x * (1.0 - 1.0 / tau) + e
        dev[i] = x
    return secs, level + dev


def ticker_rows(window: Window, inst: Instrument, secs: np.ndarray, logp: np.ndarray,
                rng: np.random.Generator) -> list[list[str]]:
    """SYNTHETIC derivative_ticker rows (stateful like Tardis), sorted by local_timestamp."""
    n = len(secs)
    mark = np.exp(logp)
    basis = np.empty(n)
    b = 0.0
    for i, e in enumerate(rng.normal(0.0, 0.00005, size=n)):
        b = b * 0.98 + e
        basis[i] = b
    index = mark * (1.0 + basis)
    last = np.round((mark + rng.normal(0.0, 1.0, size=n) * inst.tick) / inst.tick) * inst.tick
    funding = 0.0001 + rng.uniform(-0.00003, 0.00003) + np.cumsum(rng.normal(0.0, 2e-8, size=n))
    lat = rng.integers(FEED_LATENCY_US[0], FEED_LATENCY_US[1] + 1, size=n)
    oi = round(rng.uniform(8e6, 40e6) / mark[0], inst.lot_decimals)
    mark_dec = min(inst.tick_decimals + 2, 8)

    rows: list[list[str]] = []
    k = 0  # next regular (per-second) update
    while k < n:
        if len(rows) % OI_ONLY_EVERY == OI_ONLY_EVERY - 1:
            prev = rows[-1]
            oi = max(round(oi * (1.0 + rng.normal(0.0, 0.0008)), inst.lot_decimals), inst.lot)
            local = int(prev[3]) + int(rng.integers(50_000, 900_001))
            rows.append([*prev[:3], str(local), *prev[4:7], fmt(oi, inst.lot_decimals), *prev[8:]])
            continue
        ts = int(secs[k])
        fresh = len(rows) < EMPTY_AFTER_START
        rows.append([
            EXCHANGE, window.symbol, str(ts), str(ts + int(lat[k])),
            str((ts // FUNDING_PERIOD_US + 1) * FUNDING_PERIOD_US),
            fmt(float(funding[k]), 8), "",
            "" if fresh else fmt(oi, inst.lot_decimals),
            "" if fresh else fmt(float(last[k]), inst.tick_decimals),
            fmt(float(index[k]), 8), fmt(float(mark[k]), mark_dec),
        ])
        k += 1
    rows.sort(key=lambda r: int(r[3]))  # already ordered; kept as a guarantee
    return rows


def trade_rows(window: Window, inst: Instrument, secs: np.ndarray, logp: np.ndarray,
               rate: float, first_id: int, rng: np.random.Generator) -> list[list[str]]:
    """SYNTHETIC trades: Poisson arrivals, ms exchange times, in-order delivery."""
    duration_ms = (window.end_us - window.start_us) // 1000
    n = int(rng.poisson(rate * duration_ms / 1000.0))
    ts = np.sort(window.start_us + rng.integers(0, duration_ms, size=n) * 1000)
    mid = np.exp(np.interp(ts, secs, logp))
    side = rng.choice(
        np.array(["buy", "sell", "unknown"]), size=n,
        p=[(1 - UNKNOWN_SIDE_P) / 2, (1 - UNKNOWN_SIDE_P) / 2, UNKNOWN_SIDE_P],
    )
    half = np.where(side == "buy", 0.5, np.where(side == "sell", -0.5, 0.0)) * inst.tick
    ticks = np.round((mid + half) / inst.tick)
    ticks = np.maximum(ticks, 1)
    notional = TRADE_MEDIAN_NOTIONAL_USD * np.exp(rng.normal(0.0, TRADE_NOTIONAL_SIGMA, size=n))
    lots = np.maximum(np.round(notional / mid / inst.lot), 1)
    lat = rng.integers(FEED_LATENCY_US[0], FEED_LATENCY_US[1] + 1, size=n)
    # One websocket connection delivers in order: arrival never goes backwards.
    local = np.maximum.accumulate(ts + lat)
    return [
        [EXCHANGE, window.symbol, str(int(ts[i])), str(int(local[i])), str(first_id + i),
         str(side[i]), fmt(float(ticks[i]) * inst.tick, inst.tick_decimals),
         fmt(float(lots[i]) * inst.lot, inst.lot_decimals)]
        for i in range(n)
    ]


def write_synthetic(liq: pd.DataFrame, symbols: list[str], out_dir: Path,
                    trade_rate: float) -> tuple[list[Written], list[Written], list[Window]]:
    """Write derivative_ticker/ and trades/ files for every window of the chosen symbols."""
    tick_files, trade_files, all_windows = [], [], []
    for symbol in symbols:
        rows = liq[liq["symbol"] == symbol]
        inst = infer_instrument(rows)
        id_rng = sub_rng(symbol, "trade-id")
        next_id = int(id_rng.integers(50_000_000, 400_000_000))
        prev_end: int | None = None
        for w in make_windows(liq, symbol):
            all_windows.append(w)
            rng = sub_rng(symbol, w.date)
            secs, logp = price_path(w, anchor_log_price(rows), rng)  # anchored on all the symbol's fills
            t_rows = ticker_rows(w, inst, secs[::TICKER_EVERY_S], logp[::TICKER_EVERY_S], rng)
            path = out_dir / "derivative_ticker" / f"{EXCHANGE}_derivative_ticker_{w.date}_{symbol}.csv.gz"
            tick_files.append(Written(path, write_csv_gz(path, TICKER_HEADER, t_rows)))
            if prev_end is not None:  # trades that happened while nothing was generated
                next_id += int((w.start_us - prev_end) / US * trade_rate)
            tr_rows = trade_rows(w, inst, secs, logp, trade_rate, next_id, rng)
            next_id += len(tr_rows)
            prev_end = w.end_us
            path = out_dir / "trades" / f"{EXCHANGE}_trades_{w.date}_{symbol}.csv.gz"
            trade_files.append(Written(path, write_csv_gz(path, TRADES_HEADER, tr_rows)))
    return tick_files, trade_files, all_windows


# ---------------------------------------------------------------------------
# README


def readme_text(out_dir: Path, stats: LiqStats, liq: pd.DataFrame, liq_files: list[Written],
                tick_files: list[Written], trade_files: list[Written], windows: list[Window],
                symbols: list[str], trade_rate: float) -> str:
    """README.md describing provenance, changes and per-file row counts."""
    def rel(p: Path) -> str:
        return p.relative_to(out_dir).as_posix()

    def size(p: Path) -> str:
        return f"{p.stat().st_size / 1024:,.1f} KiB"

    counts = liq.groupby("symbol").size()
    lines = [
        "# replay_data: sample dataset for streamliq",
        "",
        "Generated by `scripts/make_replay_data.py` (deterministic: fixed seed, no network).",
        "Do not edit by hand; re-run `python scripts/make_replay_data.py` instead.",
        "All files are gzip CSV in the Tardis.dev normalized layout (header row, LF line endings,",
        "times in microseconds since the epoch, UTC; files split by the UTC day of `local_timestamp`",
        "and ordered by `local_timestamp`).",
        "",
        "| part | files | origin |",
        "|---|---|---|",
        "| `binance-futures_liquidations_*_PERPETUALS.csv.gz` (top level) | real liquidations | "
        "Binance USD-M `!forceOrder@arr` recordings, reformatted |",
        "| `derivative_ticker/*.csv.gz` | **SYNTHETIC** | made up by the script |",
        "| `trades/*.csv.gz` | **SYNTHETIC** | made up by the script |",
        "",
        "## Real data: liquidations",
        "",
        "Source: rows recorded from Binance's public `!forceOrder@arr` websocket stream by a",
        "public GitHub repository (a \"Moon Dev\" bootcamp-style recorder). Each CSV row is the `o`",
        "object of one real frame (`s,S,o,f,q,p,ap,X,l,z,T,usd_size[,tier]`). **No license is stated**",
        "in the repository. The file was copied byte-for-byte into `../shared/realdata/` (relative",
        "to the repository root, outside it; see `SOURCES.md` there) and the script reads it there.",
        "It is the one recording of contiguous days among the sources: the sample spans about 31",
        "hours, so a replay of it is mostly bars with events, not months of empty bars.",
        "",
        "| input file | repository | commit | raw rows |",
        "|---|---|---|---|",
    ]
    for rel_path, repo in SOURCE_FILES:
        lines.append(
            f"| `{rel_path}` | [github.com/{repo}](https://github.com/{repo}) | "
            f"`{SOURCE_COMMITS[repo]}` | {stats.raw_rows[rel_path]:,} |"
        )
    lines += [
        "",
        "What was changed (nothing else was):",
        "",
        f"1. **Deduplicated.** {stats.exact_dupes:,} rows were exact duplicates of another row",
        "   (some recorders write frames twice) and were dropped. A further",
        f"   {stats.frame_dupes} rows repeated an identical forceOrder frame (all 11 `o` fields equal) and",
        "   differed only in the recorder-computed `usd_size` (one copy is 1/1000 of the other); they",
        "   were dropped too, keeping the first copy.",
        "2. **FILLED only.** Rows with `X != FILLED` are dropped, as Tardis does",
        f"   ({stats.not_filled} such rows in this input).",
        "3. **Symbol restored.** The recorder removed every `USDT` substring from the symbol. Rule used:",
        "   a symbol that already ends with `USDT` or `USDC` is kept, any other gets `USDT` appended",
        "   (`BTC` -> `BTCUSDT`, `1000PEPE` -> `1000PEPEUSDT`, `ZECUSDC` kept).",
        f"   {stats.symbols_with_usdt} rows already carried `USDT`.",
        "4. **Mapped to Tardis `liquidations`** (binance-futures mapping): `exchange=binance-futures`,",
        "   `timestamp = T * 1000` (ms -> µs), `id` empty, `side = lower(S)` (`sell` = a long was",
        "   liquidated, `buy` = a short), `price = p` (the liquidation order price, **not** `ap`),",
        "   `amount = z` (filled quantity, base asset). Price and amount are the original decimal",
        "   strings, unchanged. `usd_size` (and `tier`, if present) are not carried over.",
        "5. **`local_timestamp` is SYNTHESIZED.** The recordings hold no arrival time, so",
        "   `local_timestamp = timestamp + latency`, with latency a seeded pseudo-random integer",
        f"   between {LIQ_LATENCY_US[0]:,} and {LIQ_LATENCY_US[1]:,} µs (20-120 ms). Rows are then",
        "   ordered by `local_timestamp` (ties keep timestamp order), so `timestamp` can be slightly",
        "   out of order, as in real Tardis files. Each file holds one UTC day of `local_timestamp`.",
        "",
        f"Result: {stats.rows:,} liquidations, {liq['symbol'].nunique()} symbols. Known quirks are kept",
        "because they are real: Binance's stream is a snapshot of at most one liquidation per symbol",
        "per second (undercount); the recorder ran in sessions (about 14:30-16:00 and 21:00-22:00 on",
        "the first day, 20:00-21:00 on the second), so most hours hold no liquidation: those bars are",
        "empty and not gaps (the files exist).",
        "",
        "| file | rows | size | first -> last `local_timestamp` (UTC) |",
        "|---|---|---|---|",
    ]
    for wf in liq_files:
        local = liq.loc[liq["date"] == wf.path.name.split("_")[2], "local_timestamp"]
        lines.append(
            f"| `{rel(wf.path)}` | {wf.rows:,} | {size(wf.path)} | "
            f"{utc_time(int(local.min()))} -> {utc_time(int(local.max()))} |"
        )
    lines += [
        "",
        "## SYNTHETIC data: derivative_ticker and trades",
        "",
        "**Every file under `derivative_ticker/` and `trades/` is SYNTHETIC. It was generated by",
        "`scripts/make_replay_data.py` and is not market data. Only its price level is tied to",
        "reality (it follows the real liquidation fill prices of the symbol). Do not use it for",
        "research; it exists so the ticker and trade code paths can be replayed.**",
        "",
        f"Symbols: the {N_SYNTHETIC_SYMBOLS} symbols with the most liquidations in the real data",
        "(count over all days): " + ", ".join(f"`{s}` ({counts[s]})" for s in symbols) + ".",
        "Windows: for every symbol alike, from 30 minutes before the first to 30 minutes after the",
        "last liquidation of the whole recording (exchange time, whole seconds), split by UTC day:",
        "",
        "| symbol | date | window (UTC) | liquidations in it | first -> last liquidation |",
        "|---|---|---|---|---|",
    ]
    for w in windows:
        lines.append(
            f"| {w.symbol} | {w.date} | {utc_time(w.start_us)} -> {utc_time(w.end_us)} | {w.n_liq} | "
            f"{utc_time(w.first_liq_us)} -> {utc_time(w.last_liq_us)} |"
        )
    lines += [
        "",
        "How the values are made:",
        "",
        "* Price path: per second, the log of the real liquidation average fill prices (`ap`) of the",
        "  symbol (outliers > 5 % from a rolling median dropped, 1-minute medians),",
        "  interpolated piecewise-linearly (held flat before the first / after the last), plus an",
        "  Ornstein-Uhlenbeck deviation (sd 0.3 %, mean reversion 120 s). Tick size and lot step are",
        "  inferred from the decimals of the real `ap` and `z` strings.",
        f"* `derivative_ticker`: one row every {TICKER_EVERY_S} seconds, `timestamp` on whole seconds,"
        " `local_timestamp` =",
        "  `timestamp` + 5-60 ms. `mark_price` = path; `index_price` = mark times (1 + small",
        "  mean-reverting basis, ~0.02 %), 8 decimals; `last_price` = mark plus about one tick of noise,",
        "  on the tick; `funding_rate` ~0.0001 (+/-0.00003 per window) with a tiny random drift;",
        "  `funding_timestamp` = next 00:00/08:00/16:00 UTC; `predicted_funding_rate` empty (as",
        "  for Binance); `open_interest` a slow random walk in base units (start ~8-40 M USD worth).",
        f"  The first {EMPTY_AFTER_START} rows of each window leave `open_interest` and `last_price` empty",
        f"  (as Tardis does after a reconnect). Every {OI_ONLY_EVERY}th row is an open-interest-only update:",
        "  same `timestamp` and values as the previous row, a new `open_interest`, and a",
        "  `local_timestamp` 50-900 ms after the previous row's.",
        f"* `trades`: Poisson arrivals, {trade_rate:g} trade/s on average, exchange times on whole ms,",
        f"  side `buy`/`sell` 50/50 with {UNKNOWN_SIDE_P:.1%} `unknown`, price = path rounded to the",
        "  tick after adding +half a tick (buy) or -half a tick (sell), amount lognormal in base units",
        f"  (median {TRADE_MEDIAN_NOTIONAL_USD:g} USD notional, sigma {TRADE_NOTIONAL_SIGMA}, rounded to the"
        " lot step, at least one lot;",
        "  the sources hold no real trades of these coins), `id` an increasing integer that keeps",
        "  increasing across a symbol's days. `local_timestamp` = `timestamp` + 5-60 ms, made",
        "  non-decreasing (one connection delivers in order).",
        "",
        "| file | rows | size |",
        "|---|---|---|",
    ]
    for wf in tick_files + trade_files:
        lines.append(f"| `{rel(wf.path)}` | {wf.rows:,} | {size(wf.path)} |")
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------


def clean_old_outputs(out_dir: Path) -> None:
    """Remove files this script wrote earlier (only its own name patterns)."""
    patterns = [
        (out_dir, f"{EXCHANGE}_liquidations_*_PERPETUALS.csv.gz"),
        (out_dir / "derivative_ticker", f"{EXCHANGE}_derivative_ticker_*.csv.gz"),
        (out_dir / "trades", f"{EXCHANGE}_trades_*.csv.gz"),
    ]
    for folder, pattern in patterns:
        for old in folder.glob(pattern):
            old.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA,
                        help="folder holding moondev_riftfern/ "
                             "(default: ../shared/realdata from the repo root)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: replay_data/ in the repo root)")
    parser.add_argument("--trade-rate", type=float, default=DEFAULT_TRADE_RATE,
                        help=f"mean synthetic trades per second (default {DEFAULT_TRADE_RATE})")
    args = parser.parse_args(argv)
    out_dir: Path = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_old_outputs(out_dir)

    liq, stats = load_liquidations(args.realdata.resolve())
    liq_files = write_liquidations(liq, out_dir)
    symbols = busiest_symbols(liq, N_SYNTHETIC_SYMBOLS)
    tick_files, trade_files, windows = write_synthetic(liq, symbols, out_dir, args.trade_rate)
    readme = out_dir / "README.md"
    readme.write_text(
        readme_text(out_dir, stats, liq, liq_files, tick_files, trade_files, windows, symbols,
                    args.trade_rate),
        encoding="utf-8", newline="\n",
    )

    print(f"liquidations: {stats.rows} rows after dropping {stats.exact_dupes} exact duplicates, "
          f"{stats.frame_dupes} duplicate frames, {stats.not_filled} not FILLED")
    print(f"synthetic symbols: {', '.join(symbols)}")
    total = 0
    for wf in liq_files + tick_files + trade_files:
        total += wf.path.stat().st_size
        print(f"wrote {wf.path} ({wf.rows} rows, {wf.path.stat().st_size} bytes)")
    total += readme.stat().st_size
    print(f"wrote {readme}")
    print(f"total {total} bytes ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
