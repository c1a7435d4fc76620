"""The cost of a live close through a whole day, measured on the engine alone.

What it measures
    `live_throughput.py` runs the daemon for seconds; a daemon runs for days. A close's cost
    may grow with what the engine remembers: a day of liquidations for the size buckets, up to
    the largest window of bars for the rolling features. This script feeds a synthetic day of
    liquidations (``--events`` a day over ``--instruments`` perpetuals, heavy-tailed activity)
    to a ``BarEngine`` one bar at a time, as the live daemon does, and times every
    ``advance`` (the close of one bar of every instrument). It prints p50/p99/max of the close
    time in the first, middle and last hour of the day. No I/O, no event loop: the close alone.

How to run
    python benchmarks/live_day_close.py                          # 400 instruments, 100k a day, 1m
    python benchmarks/live_day_close.py --freq 1s --events 50000  # 86,400 closes
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from streamliq.engine.config import FactorConfig
from streamliq.engine.core import BarEngine
from streamliq.engine.events import BUY, SELL, LiquidationBatch

T0 = 1_740_787_200_000_000  # 2025-03-01 00:00 UTC, µs
DAY_US = 86_400_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instruments", type=int, default=400)
    parser.add_argument("--events", type=int, default=100_000, help="liquidations in the day (default: 100000)")
    parser.add_argument("--freq", default="1m", help="bar frequency (default: 1m)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    config = FactorConfig.build(freq=args.freq)
    step = config.freqs[0].us
    rng = np.random.default_rng(args.seed)
    instruments = tuple(("binance-futures", f"S{i:04d}USDT") for i in range(args.instruments))
    activity = 1 / np.arange(1, args.instruments + 1)  # a few busy instruments, a long quiet tail
    ts = np.sort(rng.integers(T0, T0 + DAY_US, args.events))
    inst = rng.choice(args.instruments, args.events, p=activity / activity.sum()).astype(np.int32)
    price = 100 * np.exp(rng.normal(0, 1, args.events))
    amount = np.exp(rng.normal(0, 1.5, args.events))
    side = np.where(rng.random(args.events) < 0.5, BUY, SELL).astype(np.int8)
    edges = np.searchsorted(ts, np.arange(T0, T0 + DAY_US + step, step))

    engine = BarEngine(config)
    seconds = []
    for k in range(len(edges) - 1):
        a, b = edges[k], edges[k + 1]
        if b > a:
            engine.feed(LiquidationBatch(instruments=instruments, instrument=inst[a:b], ts=ts[a:b],
                                         arrival=ts[a:b] + 1_000, side=side[a:b], price=price[a:b],
                                         amount=amount[a:b]))
        started = time.perf_counter()
        engine.advance(T0 + (k + 1) * step + config.lateness_us + 1_000)
        seconds.append(time.perf_counter() - started)
    ms = np.array(seconds) * 1000
    hour = max(1, len(ms) // 24)
    print(f"live closes through one day: {args.instruments} instruments, {args.events:,} liquidations, "
          f"{args.freq} bars ({len(ms):,} closes)\n")
    print("| hour of the day | close p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    for label, part in (("first", ms[:hour]), ("13th", ms[12 * hour:13 * hour]), ("last", ms[-hour:])):
        print(f"| {label} | {np.percentile(part, 50):.1f} | {np.percentile(part, 99):.1f} | {part.max():.1f} |")


if __name__ == "__main__":
    main()
