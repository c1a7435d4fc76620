"""Events/s of the partitioned replay on 1 and 2 Dask workers, and the ratio.

What it measures
    A synthetic multi-symbol Tardis set (``--symbols`` symbols over ``--days`` days) is replayed
    three ways, each as a child process timed from start to exit (imports and, for Dask, the
    start of the local cluster included):

        streamliq replay --data-dir DIR --quiet --out OUT.parquet              (single process)
        streamliq replay --data-dir DIR --quiet --out OUT --workers 1          (Dask, 1 worker)
        streamliq replay --data-dir DIR --quiet --out OUT --workers 2          (Dask, 2 workers)

    and prints events, seconds and events/s of each, then the 2-worker / 1-worker ratio. With
    ``--repeat K`` the best of K runs is kept. The load average is printed too: on a shared
    machine other processes take cores away and the ratio drops with them.

Synthetic data
    Per symbol and UTC day: ``--trades`` trades, one ``derivative_ticker`` row every 5 s and
    about 2,000 liquidations; liquidations of all symbols go to one grouped
    ``..._liquidations_<day>_PERPETUALS.csv.gz`` file per day (the layout Tardis serves), ticker
    and trades to per-symbol files. Arrival is exchange time plus 5-80 ms, and a file holds the
    UTC day of ``local_timestamp``, as Tardis splits them: exchange times stop 80 ms before
    midnight. (Version 3 of the data let events of one day's files arrive just after midnight,
    which made every partitioned task replay its symbols a second time to reproduce the single
    process's clock; real files never need that.) Seeded; cached under ``--data-root``
    (regenerated when the parameters change).

How to run
    python benchmarks/distributed_scaling.py                     # 16 symbols, 2 days
    python benchmarks/distributed_scaling.py --symbols 32 --days 3 --repeat 3
    python benchmarks/distributed_scaling.py --symbols 400 --days 10 --trades 2000 --freq 1h --per-symbol
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

EXCHANGE = "binance-futures"
FIRST_DAY_US = 1_735_689_600_000_000  # 2025-01-01 00:00 UTC
DAY_US = 86_400_000_000
TICKER_EVERY_US = 5_000_000
LIQUIDATIONS_PER_DAY = 2_000
MAX_DELAY_US = 80_000  # arrival is exchange time plus 5-80 ms


def generate(root: Path, symbols: int, days: int, trades: int, seed: int = 1) -> int:
    """Write the data set under `root` (unless it is there already); return its event count."""
    manifest = root / "manifest.json"
    wanted = {"symbols": symbols, "days": days, "trades": trades, "seed": seed, "version": 4}
    if manifest.exists() and json.loads(manifest.read_text())["params"] == wanted:
        return json.loads(manifest.read_text())["events"]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    names = [f"SYM{i:02d}USDT" for i in range(symbols)]
    events = 0
    for day in range(days):
        start = FIRST_DAY_US + day * DAY_US
        stamp = time.strftime("%Y-%m-%d", time.gmtime(start / 1e6))
        liquidations = []
        for number, name in enumerate(names):
            price0 = 10.0 * (number + 1)
            ticker_ts = np.arange(start, start + DAY_US, TICKER_EVERY_US)
            mark = price0 * np.exp(np.cumsum(rng.normal(0, 2e-4, len(ticker_ts))))
            _write(root / f"{EXCHANGE}_derivative_ticker_{stamp}_{name}.csv.gz", _arrive(rng, {
                "exchange": EXCHANGE, "symbol": name, "timestamp": ticker_ts, "funding_timestamp": None,
                "funding_rate": np.full(len(ticker_ts), 1e-4), "predicted_funding_rate": None,
                "open_interest": 1e6 + np.cumsum(rng.normal(0, 50, len(ticker_ts))), "last_price": mark,
                "index_price": mark * (1 + rng.normal(0, 1e-4, len(ticker_ts))), "mark_price": mark}))
            last = start + DAY_US - MAX_DELAY_US  # files hold the UTC day of local_timestamp, as Tardis'
            trade_ts = np.sort(rng.integers(start, last, trades))
            _write(root / f"{EXCHANGE}_trades_{stamp}_{name}.csv.gz", _arrive(rng, {
                "exchange": EXCHANGE, "symbol": name, "timestamp": trade_ts, "id": None,
                "side": rng.choice(["buy", "sell"], trades), "price": price0 * (1 + rng.normal(0, 1e-3, trades)),
                "amount": rng.lognormal(0, 1, trades)}))
            n = int(rng.poisson(LIQUIDATIONS_PER_DAY))
            liquidations.append(_arrive(rng, {
                "exchange": EXCHANGE, "symbol": name, "timestamp": np.sort(rng.integers(start, last, n)),
                "id": None, "side": rng.choice(["buy", "sell"], n), "price": price0 * (1 + rng.normal(0, 2e-3, n)),
                "amount": rng.lognormal(0, 1.2, n)}))
            events += len(ticker_ts) + trades + n
        merged = pa.concat_tables(liquidations).sort_by("local_timestamp")
        _write(root / f"{EXCHANGE}_liquidations_{stamp}_PERPETUALS.csv.gz", merged)
    manifest.write_text(json.dumps({"params": wanted, "events": events}))
    return events


def _arrive(rng: np.random.Generator, columns: dict) -> pa.Table:
    """The columns as a table with `local_timestamp` (exchange time + 5-80 ms), in arrival order."""
    n = len(columns["timestamp"])
    arrival = columns["timestamp"] + rng.integers(5_000, MAX_DELAY_US, n)
    order = np.argsort(arrival, kind="stable")
    names = list(columns)
    names.insert(names.index("timestamp") + 1, "local_timestamp")
    columns = {**columns, "local_timestamp": arrival}
    return pa.table({name: _column(columns[name], n, order) for name in names})


def _column(values, n: int, order: np.ndarray) -> pa.Array:
    if values is None:
        return pa.nulls(n, pa.string())
    if isinstance(values, str):
        return pa.array([values] * n)
    return pa.array(np.asarray(values)[order])


def _write(path: Path, table: pa.Table) -> None:
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write((",".join(table.column_names) + "\n").encode())  # pyarrow would quote the names
        pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def best_seconds(command: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=16)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--trades", type=int, default=100_000, help="trades per symbol and day")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--freq", help="bar frequencies of every run, e.g. 1h (default: streamliq's)")
    parser.add_argument("--per-symbol", action="store_true",
                        help="also run 2 workers with one task per symbol (--tasks SYMBOLS), the layout before tasks "
                             "of many symbols")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/streamliq-bench-scaling"))
    parser.add_argument("--streamliq", default=str(Path(sys.executable).with_name("streamliq")))
    args = parser.parse_args()

    events = generate(args.data_root / "data", args.symbols, args.days, args.trades)
    out = args.data_root / "out"
    base = [args.streamliq, "replay", "--data-dir", str(args.data_root / "data"), "--quiet",
            *(["--freq", args.freq] if args.freq else [])]
    runs = {
        "single process": [*base, "--out", f"{out}.parquet"],
        "dask, 1 worker": [*base, "--out", str(out), "--workers", "1"],
        "dask, 2 workers": [*base, "--out", str(out), "--workers", "2"],
    }
    if args.per_symbol:
        runs["2 w, per symbol"] = [*base, "--out", str(out), "--workers", "2", "--tasks", str(args.symbols)]
    print(f"{args.symbols} symbols x {args.days} days: {events:,} events; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} before the runs")
    rates = {}
    for name, command in runs.items():
        seconds = best_seconds(command, args.repeat)
        rates[name] = events / seconds
        print(f"{name:>16}: {seconds:7.2f} s  {rates[name]:>12,.0f} events/s")
    ratio = rates["dask, 2 workers"] / rates["dask, 1 worker"]
    print(f"2 workers / 1 worker: {ratio:.2f}x, 2 workers / single process: "
          f"{rates['dask, 2 workers'] / rates['single process']:.2f}x  "
          f"(load average {os.getloadavg()[0]:.2f} after the runs)")


if __name__ == "__main__":
    main()
