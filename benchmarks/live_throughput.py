"""Live daemon benchmark: messages/s on one core and bar-close delay, against the fake Binance.

    python benchmarks/live_throughput.py [--symbols 400] [--frames 400000] [--steady-seconds 20]
    python benchmarks/live_throughput.py --phases steady --json /tmp/live.json    # the delay only
    python benchmarks/live_throughput.py --symbols 20 --steady-seconds 5 --frames 20000   # a quick check

The fake exchange (tests/fake_binance.py) runs in this process; `streamliq run` runs as a
subprocess subscribed to liquidations, mark prices and aggregate trades of N symbols
(3 streams each, 200 streams per connection). Two phases, each with a fresh daemon:

1. steady: a realistic market for `--steady-seconds` (every second one mark price and one trade
   per symbol, a liquidation for a tenth of them) with 1s and 1m bars; the daemon's summary gives
   the delay from `bar_end + lateness` to the row's emission (p50/p99). Acceptance at 400
   symbols: p99 under 20 ms (printed as PASS/FAIL).
2. blast: `--frames` pre-encoded frames pushed as fast as the sockets take them; the rate is
   frames / time until the daemon has read them all, and the daemon's CPU time shows it ran on one core.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fake_binance import FakeBinance, agg_trade_event, encode, force_order_event, mark_price_event


def start_daemon(fake: FakeBinance, symbols: list[str], freq: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "streamliq.cli", "run", "--symbols", ",".join(symbols), "--freq", freq,
            "--channels", "liquidations,ticker,trades", "--lateness", "1s", "--oi-interval", "0",
            "--ws-url", fake.ws_url, "--rest-url", fake.rest_url, "--out", "-", "--log-level", "WARNING"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_daemon(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=30)[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime in clock ticks


def measure_blast(daemon: subprocess.Popen, push: Callable[[], object]) -> tuple[float, float, float]:
    """Run `push`, then wait until the daemon's CPU use settles (the sockets may still hold frames):
    (seconds to push, seconds until the daemon was idle, the daemon's CPU seconds meanwhile)."""
    cpu_before = cpu_seconds(daemon.pid)
    start = time.monotonic()
    push()
    pushed_in = time.monotonic() - start
    last = cpu_seconds(daemon.pid)
    while True:
        time.sleep(0.5)
        now = cpu_seconds(daemon.pid)
        if now - last < 0.05:
            break
        last = now
    return pushed_in, time.monotonic() - start - 0.5, last - cpu_before


def market_second(symbols: list[str], second: int) -> list:
    t = time.time_ns() // 1_000_000
    frames = []
    for i, s in enumerate(symbols):
        price = 100.0 + (i + second) % 97 / 10
        mark = mark_price_event(s, price, price, "0.0001", t + 8 * 3600_000, t)
        frames.append(encode(f"{s.lower()}@markPrice@1s", mark))
        frames.append(encode(f"{s.lower()}@aggTrade", agg_trade_event(s, price, 0.25, i % 2 == 0, t, agg_id=second)))
        if (i + second) % 10 == 0:
            frames.append(encode(f"{s.lower()}@forceOrder", force_order_event(s, "SELL", price, 1.5, t)))
    return frames


def wait_subscribed(fake: FakeBinance, symbols: list[str]) -> None:
    fake.wait_until_subscribed(*(f"{s.lower()}@aggTrade" for s in symbols), timeout=120)


P99_LIMIT_MS = 20.0


def steady(fake: FakeBinance, symbols: list[str], seconds: int) -> dict:
    """Phase 1: a realistic market for `seconds`; the daemon's bar-close delay p50/p99."""
    daemon = start_daemon(fake, symbols, "1s,1m")
    wait_subscribed(fake, symbols)
    pushed = 0
    start = time.monotonic()
    for second in range(seconds):
        pushed += fake.push_many(market_second(symbols, second))
        time.sleep(max(0.0, start + second + 1 - time.monotonic()))
    summary = stop_daemon(daemon)
    delay = re.search(r"delay p50 ([\d.]+) s, p99 ([\d.]+) s", summary)
    rows = re.search(r"streamliq run: ([\d,]+) rows from ([\d,]+) messages", summary)
    if delay is None or rows is None:
        raise SystemExit(f"steady: no delay summary from the daemon; its stderr ends with:\n{summary[-2000:]}")
    p50, p99 = float(delay.group(1)) * 1000, float(delay.group(2)) * 1000
    print(f"steady: {len(symbols)} symbols, {pushed / seconds:,.0f} msgs/s for {seconds} s; "
          f"{rows.group(1)} rows (1s and 1m bars)")
    print(f"steady: bar-close delay at {len(symbols)} symbols: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(acceptance at 400 symbols: p99 < {P99_LIMIT_MS:g} ms: {'PASS' if p99 < P99_LIMIT_MS else 'FAIL'})",
          flush=True)
    return {"symbols": len(symbols), "seconds": seconds, "msgs_per_s": pushed / seconds,
            "rows": int(rows.group(1).replace(",", "")), "delay_p50_ms": p50, "delay_p99_ms": p99,
            "p99_ok": p99 < P99_LIMIT_MS}


def blast(fake: FakeBinance, symbols: list[str], n: int) -> dict:
    """Phase 2: `n` frames as fast as the sockets take them; the daemon's read rate and CPU."""
    daemon = start_daemon(fake, symbols, "1m")
    wait_subscribed(fake, symbols)
    frames = []
    second = 0
    while len(frames) < n:
        frames += market_second(symbols, second)
        second += 1
    frames = frames[:n]
    pushed_in, elapsed, cpu = measure_blast(daemon, lambda: fake.push_many(frames))
    summary = stop_daemon(daemon)
    messages = int(re.search(r"from ([\d,]+) messages", summary).group(1).replace(",", ""))
    print(f"blast: {n:,} frames over {len(symbols)} symbols pushed in {pushed_in:.2f} s; daemon read "
          f"{messages:,} messages in {elapsed:.2f} s = {messages / elapsed:,.0f} msgs/s using "
          f"{cpu:.2f} CPU s ({cpu / elapsed:.0%} of one core)", flush=True)
    return {"frames": n, "messages": messages, "seconds": elapsed, "msgs_per_s": messages / elapsed,
            "cpu_seconds": cpu}


def main() -> None:
    """Run the phases and print their numbers."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=400, help="symbols subscribed (default: 400)")
    parser.add_argument("--frames", type=int, default=400_000, help="blast: frames pushed (default: 400000)")
    parser.add_argument("--steady-seconds", type=int, default=20, help="steady: seconds of market (default: 20)")
    parser.add_argument("--phases", default="steady,blast", help="which phases, comma list (default: steady,blast)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if not phases or phases - {"steady", "blast"}:
        raise SystemExit("--phases: steady, blast or both")
    symbols = [f"SYM{i:03d}USDT" for i in range(args.symbols)]
    results: dict[str, dict] = {}
    with FakeBinance(symbols, max_streams=1024) as fake:
        if "steady" in phases:
            results["steady"] = steady(fake, symbols, args.steady_seconds)
        if "blast" in phases:
            results["blast"] = blast(fake, symbols, args.frames)
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "live_throughput", **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
