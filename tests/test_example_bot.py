"""examples/ws_bot.py against a local server: the wire format as a bot uses it."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
from pathlib import Path

from feedkit import make_row, run, serving

from streamliq import replay

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


def load_bot():
    spec = importlib.util.spec_from_file_location("ws_bot", BOT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bot_rule_catches_the_biggest_bursts_of_the_bundled_sample():
    """Issue 12.7: `z24 > 3` alone misses most bursts: the z-score is NaN (null on the wire) after a
    silent stretch and in a symbol's first 24 bars, where a quiet coin's biggest bursts happen."""
    bot = load_bot()
    frame = replay(Path(__file__).resolve().parents[1] / "replay_data", freq="15m").reset_index()
    # issue 12.6: contiguous days, so the quick start's rows are mostly bars with events, not 2.1 M empty ones
    assert len(frame) == 28_438 and (frame["n_events"] > 0).sum() == 2_034 and not frame["gap"].any()
    busy = frame[frame["all_count"] > 0]
    wire = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in busy.to_dict("records")]  # as the bot receives them: NaN is null
    fired = [bot.alert(row, 3.0) is not None for row in wire]
    top = busy["all_notional"].rank(ascending=False, method="first") <= 20
    assert all(f for f, t in zip(fired, top, strict=True) if t)  # the 20 largest bursts, every one
    assert (busy.loc[top, "all_notional_z24"] > 3).sum() <= 5  # what z24 > 3 alone would flag
    assert sum(fired) < 0.2 * len(busy)  # and not every bar with a liquidation
    assert sum(fired) == 60 and (busy["all_notional_z24"] > 3).sum() == 27  # the README's numbers


def test_the_bot_says_why_a_bar_with_an_undefined_z_score_fired():
    bot = load_bot()
    row = dict(make_row("ONTUSDT", "15m", 0), bar_end="2025-10-01T00:15:00Z", all_notional_z24=None,
               all_notional=45_913.4, long_notional=40_000.0, short_notional=5_913.4)
    assert bot.alert(row, 3.0) == ("2025-10-01T00:15:00Z ONTUSDT 15m: all_notional=45,913 USD (z24 undefined) "
                                   "long=40,000 short=5,913 USD")
    assert bot.alert(dict(row, all_notional=9_999.0), 3.0) is None
    assert bot.alert(dict(row, all_notional_z24=math.nan), 3.0) is not None  # in-process rows hold NaN
