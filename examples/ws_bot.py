"""A minimal trading-bot skeleton: subscribe to streamliq over WebSocket and print a line whenever
a closed bar is a liquidation burst: `all_notional_z24 > 3` (three standard deviations above the
last 24 bars), or, where the z-score is undefined, at least `--min-usd` liquidated.

`all_notional_z24` is NaN (null on the wire) after a silent stretch (the last 24 bars all 0: no
standard deviation to divide by) and in a symbol's first 24 bars, which is exactly where the
biggest bursts of a quiet coin happen: a bot reading only `z24 > 3` misses them. See
docs/factors.md.

    streamliq serve &                                   # or the live daemon with --serve
    python examples/ws_bot.py --symbols BTCUSDT,ETHUSDT --freqs 15m --backfill 96

Each row arrives as one JSON object with the FACTORS.md columns (missing values as null, bar
times as ISO 8601 UTC). After a reconnect the bot asks for a backfill again and skips the
rows it has already seen, so a restart of either side loses nothing the server still holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os

import aiohttp

MIN_USD = 10_000.0  # a bar this large is a burst when its z-score is undefined


def alert(row: dict, threshold: float, min_usd: float = MIN_USD) -> str | None:
    """The line to print for a row, or None when nothing happened."""
    z = row.get("all_notional_z24")
    if z is None or z != z:  # null on the wire, NaN in-process: silent or short history
        notional = row.get("all_notional") or 0.0
        if notional < min_usd:
            return None
        why = f"all_notional={notional:,.0f} USD (z24 undefined)"
    elif z <= threshold:
        return None
    else:
        why = f"all_notional_z24={z:.2f}"
    return (f"{row['bar_end']} {row['symbol']} {row['freq']}: {why} "
            f"long={row['long_notional']:,.0f} short={row['short_notional']:,.0f} USD")


async def follow(url: str, subscription: dict, threshold: float, min_usd: float, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    seen: dict[tuple[str, str, str], str] = {}  # (exchange, symbol, freq) -> last bar_start handled
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            try:
                async with session.ws_connect(url) as ws:
                    await ws.send_json({"op": "subscribe", **subscription})
                    while (message := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                        row = json.loads(message.data)
                        if "type" in row:  # control message: {"type": "subscribed" | "error", ...}
                            print(f"# {message.data}", flush=True)
                            continue
                        key = (row["exchange"], row["symbol"], row["freq"])
                        if seen.get(key, "") >= row["bar_start"]:
                            continue  # already handled before a reconnect
                        seen[key] = row["bar_start"]
                        if line := alert(row, threshold, min_usd):
                            print(line, flush=True)
                    print(f"# disconnected: {message.type.name} {message.data} {message.extra or ''}", flush=True)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401:
                    raise SystemExit("the server wants a token: --token or $STREAMLIQ_TOKEN") from None
                print(f"# handshake failed: {exc.status}", flush=True)
            except aiohttp.ClientError as exc:
                print(f"# cannot connect: {exc}", flush=True)
            await asyncio.sleep(1.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="ws://127.0.0.1:8765/ws")
    p.add_argument("--symbols", help="comma-separated (default: all)")
    p.add_argument("--freqs", help="comma-separated, e.g. 15m,1h (default: all)")
    p.add_argument("--backfill", type=int, default=0, help="rows per symbol and frequency to replay on connect")
    p.add_argument("--threshold", type=float, default=3.0, help="all_notional_z24 above which a bar is a burst")
    p.add_argument("--min-usd", type=float, default=MIN_USD,
                   help="all_notional from which a bar with an undefined z-score is a burst (default: %(default)s)")
    p.add_argument("--token", default=os.environ.get("STREAMLIQ_TOKEN"))
    args = p.parse_args()
    subscription = {"symbols": args.symbols.split(",") if args.symbols else None,
                    "freqs": args.freqs.split(",") if args.freqs else None, "backfill": args.backfill}
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow(args.url, subscription, args.threshold, args.min_usd, args.token))


if __name__ == "__main__":
    main()
