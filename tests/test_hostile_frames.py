"""The live daemon under 10,000 malformed frames mixed with valid liquidations (fake Binance on 127.0.0.1).

It must stay up (no reconnect, no failed task), count every kind of bad frame, and its rows must
hold exactly the valid liquidations as the Tardis mapping keeps them (reference/tardis-csv.md
3.1: `side` from `o.S`, price `o.p`, amount `o.z`, time `o.T`, only `o.X == FILLED`).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass

from fake_binance import FakeBinance, Frame
from test_live_daemon import live_settings, now_ms, run_live, subscribed, wait_for

SYMBOLS = ("BTCUSDT", "ETHUSDT")
STREAM = "btcusdt@forceOrder"
FRAMES = 10_000
LATENESS_US = 3_000_000
BIG = 200 * 1024


@dataclass(frozen=True)
class Sent:
    """One frame: its payload, and either the bad-input kind it must be counted as or the
    liquidation it carries (symbol, side, price, amount, time in ms)."""

    payload: str | bytes
    kind: str | None = None
    liquidation: tuple[str, str, float, float, int] | None = None


def order(symbol: str, side: str, price: float, qty: float, t: int, **changes) -> dict:
    """A forceOrder event; `changes` replace (or, with value ..., remove) fields of `o`."""
    o = {"s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": str(qty), "p": str(price), "ap": str(price),
         "X": "FILLED", "l": str(qty), "z": str(qty), "T": t}
    for key, value in changes.items():
        if value is ...:
            o.pop(key)
        else:
            o[key] = value
    return {"e": "forceOrder", "E": t + 3, "o": o}


def wrap(event: object) -> str:
    return json.dumps({"stream": STREAM, "data": event}, separators=(",", ":"))


def hostile(rng: random.Random, t: int) -> Sent:
    """One malformed (or otherwise not-data) frame, chosen at random, with the kind it is counted as."""
    symbol, side = rng.choice(SYMBOLS), rng.choice(["BUY", "SELL"])
    good = order(symbol, side, 100.5, 1.25, t)
    case = rng.randrange(23)
    if case == 0:  # truncated JSON
        text = wrap(good)
        return Sent(text[:rng.randrange(len(text))], "frame is not JSON")
    if case == 1:
        return Sent(rng.choice(["", "garbage{", "null,", "{'single': 'quotes'}", "\u00ff\u00fe"]), "frame is not JSON")
    wrong_types = {2: ("p", [1], "bad number in forceOrder.o.p"), 3: ("z", True, "bad number in forceOrder.o.z"),
                   4: ("T", "soon", "bad time in forceOrder.o.T"), 5: ("S", ["SELL"], "bad side in forceOrder.o.S"),
                   6: ("s", 5, "missing symbol in forceOrder.o.s"), 7: ("z", {"v": 1}, "bad number in forceOrder.o.z"),
                   8: ("T", 1.5, "bad time in forceOrder.o.T"), 9: ("S", "LONG", "bad side in forceOrder.o.S")}
    if case in wrong_types:
        key, value, kind = wrong_types[case]
        return Sent(wrap(order(symbol, side, 100.5, 1.25, t, **{key: value})), kind)
    if case == 10:  # non-finite numbers, as JSON literals or strings
        key = rng.choice(["p", "z"])
        literal = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", '"NaN"', '"Infinity"', '"1e400"'])
        text = wrap(order(symbol, side, 100.5, 1.25, t, **{key: "@"})).replace('"@"', literal)
        return Sent(text, f"bad number in forceOrder.o.{key}")
    if case == 11:  # missing fields
        key, kind = rng.choice([("p", "bad number in forceOrder.o.p"), ("z", "bad number in forceOrder.o.z"),
                                ("T", "bad time in forceOrder.o.T"), ("S", "bad side in forceOrder.o.S"),
                                ("s", "missing symbol in forceOrder.o.s"), ("X", "forceOrder not FILLED")])
        return Sent(wrap(order(symbol, side, 100.5, 1.25, t, **{key: ...})), kind)
    if case == 12:
        return Sent(wrap({"e": "forceOrder", "E": t}), "forceOrder without an 'o' object")
    if case == 13:
        return Sent(wrap(rng.choice([None, 5, "text", [None]])), "event is not an object")
    if case == 14:  # binary frames: Binance sends text only, even a valid liquidation in binary is not data
        payload = rng.choice([bytes(rng.randrange(256) for _ in range(64)), wrap(good).encode()])
        return Sent(payload, "binary frame")
    if case == 15:  # 200 kB frames
        variant = rng.randrange(3)
        if variant == 0:
            return Sent("x" * BIG, "frame is not JSON")
        if variant == 1:
            return Sent("[" * BIG, "frame is not JSON")  # nested too deep to parse
        return Sent(wrap(order("Z" * BIG, side, 100.5, 1.25, t)), "symbol not subscribed")
    if case == 16:
        return Sent(wrap(order(rng.choice(["DOGEUSDT", "SOLUSDT"]), side, 1.0, 5.0, t)), "symbol not subscribed")
    if case == 17:  # orders that are not fills
        status = rng.choice(["NEW", "PARTIALLY_FILLED", "CANCELED", "EXPIRED", "", None])
        return Sent(wrap(order(symbol, side, 100.5, 1.25, t, X=status)), "forceOrder not FILLED")
    if case == 18:  # negative sizes and prices
        key = rng.choice(["z", "p"])
        return Sent(wrap(order(symbol, side, 100.5, 1.25, t, **{key: "-1.5"})), f"bad number in forceOrder.o.{key}")
    if case == 19:  # absurd times
        value, kind = rng.choice([(0, "bad time"), (-5, "bad time"), (1, "absurd time"), (10**20, "absurd time"),
                                  (t + 2 * 86_400_000, "absurd time"), (1_000_000_000_000, "absurd time")])
        return Sent(wrap(order(symbol, side, 100.5, 1.25, t, T=value)), f"{kind} in forceOrder.o.T")
    if case == 20:
        return Sent(wrap({"e": "somethingNew", "E": t}), "unknown event type 'somethingNew'")
    if case == 21:
        return Sent(wrap({**good, "st": 2}), "COIN-M liquidation (quantities in contracts)")
    return Sent(wrap({"e": "forceOrder", "E": t, "o": "not an object"}), "forceOrder without an 'o' object")


def valid(rng: random.Random, n: int, t: int) -> Sent:
    symbol, side = rng.choice(SYMBOLS), rng.choice(["BUY", "SELL"])
    price, qty = round(100 + rng.random() * 10, 2), round(0.001 + rng.random() * 3, 3)
    extra = {"pad": "p" * BIG} if n % 500 == 0 else {}  # a 200 kB frame that is still a liquidation
    event = order(symbol, side, price, qty, t)
    event["o"].update(extra)
    if n % 3 == 0:  # numbers as JSON numbers, not strings: tardis reads them the same way
        event["o"]["p"], event["o"]["z"] = price, qty
    return Sent(wrap(event) if n % 2 else json.dumps(event), liquidation=(symbol, side, price, qty, t))


async def send(fake: FakeBinance, sent: list[Sent]) -> None:
    """Text frames in batches, binary frames one by one, in order."""
    batch: list[Frame] = []
    for item in sent:
        if isinstance(item.payload, bytes):
            if batch:
                await asyncio.to_thread(fake.push_many, batch)
                batch = []
            await asyncio.to_thread(fake.push_raw, None, item.payload)
        else:
            data = item.payload.encode()
            batch.append(Frame(STREAM, data, data))
    if batch:
        await asyncio.to_thread(fake.push_many, batch)


def test_ten_thousand_hostile_frames_leave_exactly_the_valid_liquidations(tmp_path):
    rng = random.Random(12)
    sent: list[Sent] = []
    with FakeBinance(SYMBOLS) as fake:
        settings = live_settings(fake, tmp_path, channels="liquidations", freq="1s", lateness="3s", oi_interval="0",
                                 record=None)

        async def script(daemon):
            await subscribed(fake, "btcusdt@forceOrder", "ethusdt@forceOrder")
            messages = daemon.core.normalizer.messages
            for _ in range(20):  # times are now when each chunk is sent: none late on a loaded machine
                t = now_ms()
                part = [valid(rng, len(sent) + i, t) if rng.random() < 0.3 else hostile(rng, t)
                        for i in range(FRAMES // 20)]
                sent.extend(part)
                await send(fake, part)
            texts = sum(not isinstance(s.payload, bytes) for s in sent)
            await wait_for(lambda: daemon.core.normalizer.messages - messages == texts
                           and daemon.core.bad.counts["binary frame"] == len(sent) - texts, what="every frame")
            last = max(s.liquidation[4] for s in sent if s.liquidation) * 1000
            closed = (last // 1_000_000 + 1) * 1_000_000 + LATENESS_US
            await wait_for(lambda: daemon.core.engine.watermark >= closed, what="the last bar to close")

        daemon, rows = run_live(settings, script)
    assert len(sent) == FRAMES
    assert daemon.connections[0].stats.reconnects == 0  # stayed up, on one connection
    expected_bad = Counter(s.kind for s in sent if s.kind)
    assert len(expected_bad) == 14  # every kind above
    assert dict(daemon.core.bad.counts) == dict(expected_bad)
    assert all(daemon.metrics.value("streamliq_bad_input_total", kind=k) == n for k, n in expected_bad.items())
    liquidations = [s.liquidation for s in sent if s.liquidation]
    assert len(liquidations) > 2_000
    assert sum(r["late_events"] for r in rows) == 0
    for symbol in SYMBOLS:
        mine = [r for r in rows if r["symbol"] == symbol]
        for side, prefix in (("SELL", "long"), ("BUY", "short")):  # SELL: a long position was liquidated
            want = [(p, q) for s, sd, p, q, _ in liquidations if s == symbol and sd == side]
            assert sum(r[f"{prefix}_count"] for r in mine) == len(want)
            assert abs(sum(r[f"{prefix}_qty"] for r in mine) - sum(q for _, q in want)) < 1e-6
            assert abs(sum(r[f"{prefix}_notional"] for r in mine) - sum(p * q for p, q in want)) < 1e-4
    by_bar = Counter((s, t // 1000 * 1_000_000) for s, _, _, _, t in liquidations)
    assert {(r["symbol"], r["bar_start"]): r["all_count"] for r in rows if r["all_count"]} == dict(by_bar)
