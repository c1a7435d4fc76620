"""Synthetic all-market Binance USD-M liquidations in the Tardis layout, for the benchmarks.

One gzip CSV per UTC day, ``binance-futures_liquidations_{date}_PERPETUALS.csv.gz``, columns
``exchange,symbol,timestamp,local_timestamp,id,side,price,amount`` (integer µs, ``id`` empty as
in Tardis's Binance liquidations), rows sorted by ``local_timestamp`` = ``timestamp`` + 5-80 ms
(non-decreasing, as from the one ``!forceOrder@arr`` connection).

The model (seeded, vectorized with numpy):

* **Activity is heavy-tailed across symbols.** Symbol ranks get daily rates from a Pareto
  distribution by quantile (deterministic, so the calibration does not hang on a few draws):
  scale ``--min-per-day`` (3), tail index ``--tail-alpha`` (0.65), capped at 40,000 a day.
  With 400 symbols about ten have thousands a day, the median symbol about nine.
* **Clustered in time.** Per day a market-wide intensity (volatility clustered over about an
  hour, plus a few market-wide cascades of 5-30 minutes at 10-30x) places cluster starts of
  every symbol; a cluster holds a geometric number of liquidations (larger for busy symbols),
  1-6 s apart, mostly on one side (longs liquidated, ``side = sell``, in 60 % of clusters).
  As Binance's snapshot stream does, a symbol has at most one liquidation a second.
* **Sizes from the real sample.** Notionals are drawn from the ``usd_size`` column of the
  real ``!forceOrder@arr`` recording in ``realdata/moondev_riftfern/binance.csv`` (2,045 rows),
  times a lognormal jitter of 5 % so that bars rarely hold identical values; ``amount`` is the
  notional over the price, rounded to the symbol's lot (at least one lot).
* **Prices** start from the real sample's prices (symbols reuse its 257 names, then
  ``SYNnnnUSDT``) and follow a per-symbol random walk of 5 % a day, printed with five
  significant digits; a liquidation's price is 0-1 % beyond the market on its side.

The manifest records, per symbol, the first event's ``timestamp`` and, for the run, the last
one, so the number of rows of any frequency is known without reading the data
(`expected_rows`): every symbol has a row per bar from its first event's bar to the run's last.

Run as a script only by the benchmarks (``--_generate``), in a child process.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchkit import LIQ_HEADER, ensure_generated, jitter_sort, log, write_csv_gz

if TYPE_CHECKING:
    import numpy as np

GENERATOR_VERSION = 1
EXCHANGE = "binance-futures"
FIRST_DAY = date(2025, 3, 1)
DAY_SECONDS = 86_400
US = 1_000_000
DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "moondev_riftfern" / "binance.csv"
MAX_RATE = 40_000.0  # liquidations per symbol and day
DAILY_VOL = 0.05
SIZE_JITTER = 0.05
LONG_CLUSTER_SHARE = 0.6  # clusters of long liquidations (side sell)
SIDE_FLIP = 0.1  # share of a cluster's liquidations on the other side
CLUSTER_GAP_S = 3.0  # mean seconds between liquidations of a cluster


@dataclass(frozen=True)
class AllMarketParams:
    """Everything the generated files depend on (the cache key)."""

    symbols: int
    days: int
    seed: int = 20250301
    min_per_day: float = 3.0
    tail_alpha: float = 0.65
    gzip_level: int = 1
    first_day: str = FIRST_DAY.isoformat()
    version: int = GENERATOR_VERSION

    def folder_name(self) -> str:
        """The cache folder of these parameters."""
        return (f"allmarket-{self.symbols}x{self.days}d-m{self.min_per_day:g}-a{self.tail_alpha:g}"
                f"-seed{self.seed}-v{self.version}")


def file_name(day: date) -> str:
    """The Tardis grouped file name of `day`."""
    return f"{EXCHANGE}_liquidations_{day.isoformat()}_PERPETUALS.csv.gz"


def load_sample(path: Path) -> tuple[list[float], dict[str, float]]:
    """Notionals (``usd_size``) and the last price per symbol of a moondev ``binance.csv``."""
    notionals: list[float] = []
    prices: dict[str, float] = {}
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 12:
                continue
            try:
                price, usd = float(row[5]), float(row[11])
            except ValueError:
                continue
            if usd > 0 and price > 0:
                notionals.append(usd)
                prices[row[0]] = price
    if not notionals:
        raise SystemExit(f"no liquidation sizes found in {path}")
    return notionals, prices


def symbol_rates(params: AllMarketParams) -> list[float]:
    """Daily rate per symbol rank: Pareto quantiles, busiest first, capped at MAX_RATE."""
    n = params.symbols
    return [min(MAX_RATE, params.min_per_day * ((i + 0.5) / n) ** (-1 / params.tail_alpha)) for i in range(n)]


@dataclass
class Universe:
    """Per symbol: name, daily rate, cluster mean size, price tick, lot, and the running log price."""

    names: list[str]
    rates: np.ndarray
    cluster_mean: np.ndarray
    tick: np.ndarray
    lot: np.ndarray
    log_price: np.ndarray


def make_universe(params: AllMarketParams, sample_prices: dict[str, float], rng: np.random.Generator) -> Universe:
    """Symbols (real names first, busiest shuffled among them), rates, ticks, lots, start prices."""
    import numpy as np

    real = sorted(sample_prices)
    names = [f"{s}USDT" if not s.endswith("USDC") else s for s in real][: params.symbols]
    names += [f"SYN{i:04d}USDT" for i in range(params.symbols - len(names))]
    start = np.array([sample_prices.get(s, 0.0) for s in real][: params.symbols]
                     + list(np.exp(rng.uniform(math.log(1e-3), math.log(100.0), max(0, params.symbols - len(real))))))
    rates = np.array(symbol_rates(params))[rng.permutation(params.symbols)]
    cluster_mean = 1.0 + np.minimum(rates / 200.0, 5.0)
    tick = 10.0 ** (np.floor(np.log10(start)) - 4)
    lot = np.clip(10.0 ** np.floor(np.log10(5.0 / start)), 1e-3, 1.0)
    return Universe(names, rates, cluster_mean, tick, lot, np.log(start))


def intensity(rng: np.random.Generator) -> np.ndarray:
    """Market-wide weight of each second of a day (sums to 1)."""
    import numpy as np

    hourly = np.convolve(rng.standard_normal(1440 + 59), np.ones(60) / math.sqrt(60), mode="valid")
    weight = np.repeat(np.exp(0.8 * hourly), 60)
    for _ in range(rng.poisson(3)):
        begin = int(rng.integers(0, DAY_SECONDS))
        weight[begin:begin + int(rng.integers(300, 1800))] *= rng.uniform(10, 30)
    return weight / weight.sum()


def generate_day(params: AllMarketParams, index: int, universe: Universe, notionals: np.ndarray) -> dict[str, Any]:
    """The columns of day `index` (advances the universe's prices)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng([params.seed, index, 1])
    day_start = ((date.fromisoformat(params.first_day) - date(1970, 1, 1)).days + index) * DAY_SECONDS * US
    n_sym = len(universe.names)

    # clusters: per symbol a Poisson count, starts from the market-wide intensity
    clusters = rng.poisson(universe.rates / universe.cluster_mean)
    c_sym = np.repeat(np.arange(n_sym), clusters)
    c_start = rng.choice(DAY_SECONDS, size=len(c_sym), p=intensity(rng)) + rng.random(len(c_sym))
    c_size = rng.geometric(1.0 / universe.cluster_mean[c_sym])
    c_long = rng.random(len(c_sym)) < LONG_CLUSTER_SHARE

    # liquidations: 1-6 s apart inside a cluster
    sym = np.repeat(c_sym, c_size)
    first = np.repeat(np.cumsum(c_size) - c_size, c_size)
    gaps = rng.uniform(1.0, 2 * CLUSTER_GAP_S, len(sym))
    gaps[np.cumsum(c_size) - c_size] = 0.0
    steps = np.cumsum(gaps)
    seconds = np.repeat(c_start, c_size) + steps - steps[first]
    long = np.repeat(c_long, c_size) ^ (rng.random(len(sym)) < SIDE_FLIP)
    keep = seconds < DAY_SECONDS
    sym, seconds, long = sym[keep], seconds[keep], long[keep]

    # Binance's snapshot: at most one liquidation per symbol and second
    ms = np.floor(seconds * 1000).astype(np.int64)
    _, unique = np.unique(sym.astype(np.int64) * DAY_SECONDS + ms // 1000, return_index=True)
    sym, ms, long = sym[unique], ms[unique], long[unique]

    # prices: per symbol a random walk through the day, sampled at its liquidations
    order = np.lexsort((ms, sym))
    sym, ms, long = sym[order], ms[order], long[order]
    n = len(sym)
    new = np.ones(n, bool)
    new[1:] = sym[1:] != sym[:-1]
    prev_ms = np.where(new, 0, np.concatenate(([0], ms[:-1])))
    steps = rng.standard_normal(n) * DAILY_VOL * np.sqrt((ms - prev_ms) / (DAY_SECONDS * 1000))
    total = np.cumsum(steps)
    head = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    walk = total - total[head] + steps[head]
    mid = np.exp(universe.log_price[sym] + walk)
    last = np.flatnonzero(np.append(new[1:], True)) if n else np.zeros(0, np.int64)
    rest = np.ones(n_sym)
    rest[sym[last]] = (DAY_SECONDS * 1000 - ms[last]) / (DAY_SECONDS * 1000)
    universe.log_price[sym[last]] += walk[last]
    universe.log_price += rng.standard_normal(n_sym) * DAILY_VOL * np.sqrt(rest)

    offset = rng.uniform(0.0, 0.01, len(sym))
    tick = universe.tick[sym]
    price = np.round(np.where(long, np.floor(mid * (1 - offset) / tick), np.ceil(mid * (1 + offset) / tick)) * tick,
                     12)
    price = np.maximum(price, tick)
    notional = rng.choice(notionals, len(sym)) * np.exp(rng.normal(0.0, SIZE_JITTER, len(sym)))
    lot = universe.lot[sym]
    amount = np.round(np.maximum(np.rint(notional / price / lot), 1) * lot, 3)

    ts = day_start + ms * 1000
    by_time = np.argsort(ts, kind="stable")
    local, order = jitter_sort(rng, ts[by_time], day_start + DAY_SECONDS * US)
    rows = by_time[order]
    n = len(rows)
    names = pa.array(universe.names)
    return {
        "exchange": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([EXCHANGE])),
        "symbol": pa.DictionaryArray.from_arrays(pa.array(sym[rows].astype(np.int32)), names),
        "timestamp": ts[rows],
        "local_timestamp": local[order],
        "id": pa.nulls(n, pa.string()),
        "side": pa.DictionaryArray.from_arrays(pa.array(long[rows].astype(np.int32)), pa.array(["buy", "sell"])),
        "price": price[rows],
        "amount": amount[rows],
    }


def generate_set(target: Path, params: AllMarketParams, sample: Path) -> None:
    """Write every day of `params` into `target` (a fresh folder) and its manifest.json last."""
    import numpy as np

    target.mkdir(parents=True)
    sample_notionals, sample_prices = load_sample(sample)
    notionals = np.array(sample_notionals)
    universe = make_universe(params, sample_prices, np.random.default_rng([params.seed, 0xA11]))
    files = []
    first_ts: dict[str, int] = {}
    last_ts = 0
    for index in range(params.days):
        day = date.fromisoformat(params.first_day) + timedelta(days=index)
        columns = generate_day(params, index, universe, notionals)
        rows = write_csv_gz(target / file_name(day), LIQ_HEADER, columns, params.gzip_level)
        symbols = columns["symbol"].indices.to_numpy()
        ts = columns["timestamp"]
        if rows:
            last_ts = max(last_ts, int(ts.max()))
            order = np.argsort(ts, kind="stable")
            seen, where = np.unique(symbols[order], return_index=True)
            for s, i in zip(seen, where, strict=True):
                first_ts.setdefault(universe.names[s], int(ts[order][i]))
        files.append({"name": file_name(day), "day": day.isoformat(), "rows": rows,
                      "bytes": (target / file_name(day)).stat().st_size})
        log(f"  day {index + 1}/{params.days} ({day}): {rows:,} liquidations, {len(set(symbols)):,} symbols")
    manifest = {"params": asdict(params), "sample": str(sample), "files": files,
                "events": sum(f["rows"] for f in files), "first_ts": first_ts, "last_ts": last_ts}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def expected_rows(manifest: dict, bar_seconds: int) -> int:
    """Rows a replay emits at bars of `bar_seconds`: per symbol, its first bar to the run's last."""
    bar = bar_seconds * US
    last = manifest["last_ts"] // bar
    return sum(last - ts // bar + 1 for ts in manifest["first_ts"].values())


def ensure_data(data_root: Path, params: AllMarketParams, sample: Path) -> tuple[Path, dict]:
    """The cached set of `params`, generated in a child process when missing or stale."""
    folder = data_root / params.folder_name()

    def command(building: Path) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--_generate", str(building),
                "--symbols", str(params.symbols), "--days", str(params.days), "--seed", str(params.seed),
                "--min-per-day", repr(params.min_per_day), "--tail-alpha", repr(params.tail_alpha),
                "--gzip-level", str(params.gzip_level), "--sample", str(sample)]

    return folder, ensure_generated(folder, {"params": asdict(params)}, command)


def add_generator_arguments(parser: argparse.ArgumentParser, common: bool = True) -> None:
    """The generator's knobs (shared by the benchmarks that use this data); `common`: also
    --seed and --gzip-level (a script with another generator defines those itself)."""
    if common:
        parser.add_argument("--seed", type=int, default=AllMarketParams.seed,
                            help="generator seed (default: %(default)s)")
        parser.add_argument("--gzip-level", type=int, default=1, choices=range(1, 10), metavar="1-9",
                            help="gzip level of the generated files (default: %(default)s)")
    parser.add_argument("--min-per-day", type=float, default=AllMarketParams.min_per_day,
                        help="the quietest symbols' liquidations a day, the Pareto scale (default: %(default)s)")
    parser.add_argument("--tail-alpha", type=float, default=AllMarketParams.tail_alpha,
                        help="Pareto tail index of the symbols' daily rates (default: %(default)s)")
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE,
                        help="real moondev binance.csv for the size distribution (default: %(default)s)")


def params_from(args: argparse.Namespace, symbols: int, days: int) -> AllMarketParams:
    """The generator parameters of parsed arguments (the default seed when --seed is None)."""
    seed = AllMarketParams.seed if args.seed is None else args.seed
    return AllMarketParams(symbols, days, seed, args.min_per_day, args.tail_alpha, args.gzip_level)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--_generate", type=Path, required=True, help="the fresh folder to fill")
    parser.add_argument("--symbols", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    add_generator_arguments(parser)
    args = parser.parse_args(argv)
    generate_set(args._generate, params_from(args, args.symbols, args.days), args.sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
