"""Live daemon benchmark on three venues: messages/s and bar-close delay against the fakes.

    python benchmarks/live_multivenue.py [--coins 100] [--frames 300000] [--steady-seconds 20]

The fake Binance, Bybit and OKX (tests/fake_*.py) run in this process; `streamliq run --venues
binance,bybit,okx --symbols C000,C001,...` runs as a subprocess following liquidations and
tickers of every coin on every venue (Binance `forceOrder` + `markPrice`, Bybit `allLiquidation`
+ `tickers`, OKX `liquidation-orders` + mark price, index, funding, open interest, last price).
Two phases, each with a fresh daemon (as benchmarks/live_throughput.py does for Binance alone):

1. steady: every second, per coin and venue, one ticker update and, for a tenth of the coins, a
   liquidation; 1s and 1m bars; the daemon's summary gives the bar-close delay p50/p99.
2. blast: `--frames` pre-encoded frames, a third per venue, pushed by the three fakes at once as
   fast as the sockets take them; the rate is messages read / time until the daemon is idle.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fake_binance import FakeBinance, encode, force_order_event, mark_price_event
from fake_bybit import FakeBybit, liquidation_message, ticker_message
from fake_okx import FakeOkx, channel_message
from fake_okx import liquidation_message as okx_liquidation
from fake_venue import Frame, plain_frame
from live_throughput import measure_blast, stop_daemon


class Market:
    """The three fakes following the same coins."""

    def __init__(self, coins: list[str]) -> None:
        self.coins = coins
        self.binance = FakeBinance([f"{c}USDT" for c in coins], max_streams=1024)
        self.bybit = FakeBybit([f"{c}USDT" for c in coins])
        self.okx = FakeOkx({f"{c}-USDT-SWAP": ("0.1", "linear") for c in coins}, backlog=())
        self.fakes = (self.binance, self.bybit, self.okx)

    def __enter__(self) -> Market:
        for fake in self.fakes:
            fake.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for fake in self.fakes:
            fake.stop()

    def start_daemon(self, freq: str) -> subprocess.Popen:
        urls = {kind: ",".join(f"{f.name}={getattr(f, kind)}" for f in self.fakes) for kind in ("ws_url", "rest_url")}
        args = [sys.executable, "-m", "streamliq.cli", "run", "--venues", "binance,bybit,okx", "--symbols",
                ",".join(self.coins), "--freq", freq, "--channels", "liquidations,ticker", "--lateness", "1s",
                "--oi-interval", "0", "--ws-url", urls["ws_url"], "--rest-url", urls["rest_url"], "--out", "-",
                "--log-level", "WARNING"]
        daemon = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.binance.wait_until_subscribed(*(f"{c.lower()}usdt@markPrice@1s" for c in self.coins), timeout=120)
        self.bybit.wait_until_subscribed(*(f"tickers.{c}USDT" for c in self.coins), timeout=120)
        self.okx.wait_until_subscribed("liquidation-orders:SWAP", *(f"tickers:{c}-USDT-SWAP" for c in self.coins),
                                       timeout=120)
        return daemon

    def second(self, n: int) -> tuple[list[Frame], list[Frame], list[Frame]]:
        """One second of market on each venue: a ticker update per coin, liquidations for a tenth."""
        t = time.time_ns() // 1_000_000
        binance, bybit, okx = [], [], []
        for i, coin in enumerate(self.coins):
            price = f"{100.0 + (i + n) % 97 / 10:.1f}"
            binance.append(encode(f"{coin.lower()}usdt@markPrice@1s",
                                  mark_price_event(f"{coin}USDT", price, price, "0.0001", t + 8 * 3600_000, t)))
            bybit.append(plain_frame(f"tickers.{coin}USDT", ticker_message(f"{coin}USDT", t, "delta", markPrice=price)))
            okx.append(plain_frame(f"mark-price:{coin}-USDT-SWAP",
                                   channel_message("mark-price", f"{coin}-USDT-SWAP", t, markPx=price)))
            if (i + n) % 10 == 0:
                binance.append(encode(f"{coin.lower()}usdt@forceOrder", force_order_event(f"{coin}USDT", "SELL",
                                                                                          price, 1.5, t)))
                bybit.append(plain_frame(f"allLiquidation.{coin}USDT",
                                         liquidation_message(f"{coin}USDT", [(t, "Buy", "1.5", price)], t)))
                okx.append(plain_frame("liquidation-orders:SWAP",
                                       okx_liquidation(f"{coin}-USDT-SWAP", [("sell", price, "15", t)])))
        return binance, bybit, okx

    def push(self, frames: tuple[list[Frame], list[Frame], list[Frame]]) -> int:
        """Each venue's frames pushed by its fake at once (one thread each); the frames sent."""
        sent = [0, 0, 0]

        def push(k: int) -> None:
            sent[k] = self.fakes[k].push_frames(frames[k])
        threads = [threading.Thread(target=push, args=(k,)) for k in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(sent)


def summary_numbers(summary: str) -> tuple[int, int, float, float]:
    rows, messages = re.search(r"streamliq run: ([\d,]+) rows from ([\d,]+) messages", summary).groups()
    p50, p99 = re.search(r"delay p50 ([\d.na]+) s, p99 ([\d.na]+) s", summary).groups()
    return int(rows.replace(",", "")), int(messages.replace(",", "")), float(p50), float(p99)


def steady(market: Market, seconds: int) -> None:
    daemon = market.start_daemon("1s,1m")
    pushed, start = 0, time.monotonic()
    for n in range(seconds):
        pushed += market.push(market.second(n))
        time.sleep(max(0.0, start + n + 1 - time.monotonic()))
    rows, messages, p50, p99 = summary_numbers(stop_daemon(daemon))
    print(f"steady: 3 venues x {len(market.coins)} coins, {pushed / seconds:,.0f} msgs/s for {seconds} s; "
          f"{messages:,} messages read, {rows:,} rows; bar-close delay p50 {p50 * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")


def blast(market: Market, n: int) -> None:
    daemon = market.start_daemon("1m")
    frames: tuple[list[Frame], list[Frame], list[Frame]] = ([], [], [])
    second = 0
    while sum(map(len, frames)) < n:
        for k, part in enumerate(market.second(second)):
            frames[k].extend(part)
        second += 1
    pushed_in, elapsed, cpu = measure_blast(daemon, lambda: market.push(frames))
    _, messages, _, _ = summary_numbers(stop_daemon(daemon))
    print(f"blast: {sum(map(len, frames)):,} frames over 3 venues x {len(market.coins)} coins pushed in "
          f"{pushed_in:.2f} s; daemon read {messages:,} messages in {elapsed:.2f} s = {messages / elapsed:,.0f} "
          f"msgs/s using {cpu:.2f} CPU s ({cpu / elapsed:.0%} of one core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, default in (("--coins", 100), ("--frames", 300_000), ("--steady-seconds", 20)):
        parser.add_argument(flag, type=int, default=default)
    args = parser.parse_args()
    with Market([f"C{i:03d}" for i in range(args.coins)]) as market:
        steady(market, args.steady_seconds)
        blast(market, args.frames)


if __name__ == "__main__":
    main()
