"""examples/ws_bot.py against a local server: the wire format as a bot uses it."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

from feedkit import make_row, run, serving

BOT = Path(__file__).resolve().parents[1] / "examples" / "ws_bot.py"


def row_with_z(i: int, z: float, symbol: str = "BTCUSDT") -> dict:
    return dict(make_row(symbol, "1m", i), all_notional_z24=z, long_notional=1234.4, short_notional=99.6)


def test_the_example_bot_prints_a_line_per_burst_from_backfill_and_live_rows():
    async def body():
        async with serving(token="tok") as (server, fanout):
            fanout.publish([row_with_z(0, 3.5), row_with_z(1, 2.9), row_with_z(2, math.nan), row_with_z(3, 4.25),
                            row_with_z(3, 9.0, symbol="ETHUSDT")])
            bot = await asyncio.create_subprocess_exec(
                sys.executable, str(BOT), "--url", f"ws://127.0.0.1:{server.port}/ws", "--symbols", "BTCUSDT",
                "--freqs", "1m", "--backfill", "3", "--token", "tok", stdout=asyncio.subprocess.PIPE)
            try:
                lines = [(await bot.stdout.readline()).decode() for _ in range(2)]
                assert lines == [
                    '# {"type":"subscribed","exchanges":null,"symbols":["BTCUSDT"],"freqs":["1m"],"backfill":3}\n',
                    "2025-10-01T00:04:00Z BTCUSDT 1m: all_notional_z24=4.25 long=1,234 short=100 USD\n",
                ]
                fanout.publish([row_with_z(4, 3.01), row_with_z(5, -7.0), row_with_z(6, 3.0), row_with_z(7, 12.0)])
                lines = [(await bot.stdout.readline()).decode() for _ in range(2)]
                assert lines == [
                    "2025-10-01T00:05:00Z BTCUSDT 1m: all_notional_z24=3.01 long=1,234 short=100 USD\n",
                    "2025-10-01T00:08:00Z BTCUSDT 1m: all_notional_z24=12.00 long=1,234 short=100 USD\n",
                ]
            finally:
                bot.terminate()
                await bot.wait()

    run(body())
