"""The live daemon under thousands of hostile Bybit and OKX frames mixed with valid liquidations
(fake venues on 127.0.0.1), as tests/test_hostile_frames.py does for Binance.

It must stay up (no reconnect, no failed task), count every bad frame or item by kind, and its
rows must hold exactly the valid liquidations. Both venues batch liquidations (Bybit: `data[]`
items of `allLiquidation`; OKX: `data[]` items with `details[]`), and the rule for a message
holding a bad item (streamliq/venues/bybit.py and okx.py docstrings) is asserted: only the bad
item is dropped and counted, once; the other items of the message, before and after it, are kept.
A frame that is bad as a whole (not JSON, not an object, no topic/channel, no data list) is
counted once and adds nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from fake_bybit import FakeBybit
from fake_okx import FakeOkx
from fake_venue import Frame, compact
from test_live_daemon import now_ms, run_live, wait_for

from streamliq.badinput import BadInputCounter
from streamliq.live.settings import LiveSettings, resolve
from streamliq.venues.buffer import EventBuffer
from streamliq.venues.registry import venue
from streamliq.venues.specs import InstrumentSpec

FRAMES = 4_000  # per venue
CHUNKS = 16  # sent one after another, each with the current time
LATENESS_US = 3_000_000
BIG = 200 * 1024
DAY_MS = 86_400_000
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e400", '"NaN"', '"Infinity"', '"-inf"', '"1e400"')

Liquidation = tuple[str, str, float, float, int]  # symbol, Tardis side, price, base quantity, time ms


@dataclass(frozen=True)
class Sent:
    """One frame: its payload, the bad-input kinds it is counted as (one per bad frame or item)
    and the liquidations it carries (its good items)."""

    payload: str | bytes
    kinds: tuple[str, ...] = ()
    liquidations: tuple[Liquidation, ...] = ()


def changed(obj: dict, changes: dict[str, Any]) -> dict:
    """`obj` with `changes` applied (a value of ... removes the key)."""
    for key, value in changes.items():
        if value is ...:
            obj.pop(key, None)
        else:
            obj[key] = value
    return obj


def literal_item(item: Any, literal: str | None) -> str:
    """An item's JSON; a `"@"` value in it becomes `literal` (NaN, Infinity, 1e400: not JSON
    numbers Python writes, but text a venue could send)."""
    text = compact(item)
    return text if literal is None else text.replace('"@"', literal)


def settings_for(name: str, fake, tmp_path, symbols: str) -> LiveSettings:
    return resolve({"venues": name, "symbols": symbols, "channels": "liquidations", "freq": "1s", "lateness": "3s",
                    "z_windows": "3", "pct_windows": "3", "mining_windows": "3", "bucket_hours": "0.01",
                    "ws_url": f"{name}={fake.ws_url}", "rest_url": f"{name}={fake.rest_url}", "record": None,
                    "out": None, "oi_interval": "0"}, None)


async def send(fake, stream: str, sent: list[Sent]) -> None:
    """Text frames in batches to `stream`'s subscriber, binary frames one by one, in order."""
    batch: list[Frame] = []
    for item in sent:
        if isinstance(item.payload, bytes):
            if batch:
                await asyncio.to_thread(fake.push_frames, batch)
                batch = []
            await asyncio.to_thread(fake.push_raw, None, item.payload)
        else:
            data = item.payload.encode()
            batch.append(Frame(stream, data, data))
    if batch:
        await asyncio.to_thread(fake.push_frames, batch)


async def play(daemon, fake, stream: str, normalizer_name: str, make, rng: random.Random, sent: list[Sent]) -> None:
    """Send FRAMES frames made by `make(rng, t)` in CHUNKS, then wait until every one was read and
    the bar of the last liquidation closed."""
    normalizer = daemon.core.normalizers[normalizer_name]
    before = normalizer.messages
    for _ in range(CHUNKS):  # times are now when each chunk is sent: none late on a loaded machine
        t = now_ms()
        part = [make(rng, t) for _ in range(FRAMES // CHUNKS)]
        sent.extend(part)
        await send(fake, stream, part)
    texts = sum(not isinstance(s.payload, bytes) for s in sent)
    binary = len(sent) - texts
    await wait_for(lambda: normalizer.messages - before == texts
                   and daemon.core.bad.counts["binary frame"] == binary, what="every frame")
    last = max(liq[4] for s in sent for liq in s.liquidations) * 1000
    closed = (last // 1_000_000 + 1) * 1_000_000 + LATENESS_US
    await wait_for(lambda: daemon.core.engine.watermark >= closed, what="the last bar to close")


def check(daemon, rows: list[dict], sent: list[Sent], exchange: str, symbols: tuple[str, ...],
          kinds: set[str]) -> None:
    """Up all along, every bad frame and item counted by kind, rows of exactly the good items."""
    assert len(sent) == FRAMES
    assert [c.stats.reconnects for c in daemon.connections] == [0]  # stayed up, on one connection
    expected_bad = Counter(kind for s in sent for kind in s.kinds)
    assert set(expected_bad) == kinds  # every kind of hostile input below was sent
    assert dict(daemon.core.bad.counts) == dict(expected_bad)
    assert all(daemon.metrics.value("streamliq_bad_input_total", kind=k) == n for k, n in expected_bad.items())
    mixed = [s for s in sent if s.kinds and s.liquidations]
    assert len(mixed) > 200  # messages whose bad items were dropped and whose good ones were kept
    liquidations = [liq for s in sent for liq in s.liquidations]
    assert len(liquidations) > 2_000
    assert any(q == 0 for *_, q, _ in liquidations)  # a size of 0 is an event adding 0
    rows = [r for r in rows if r["exchange"] == exchange]
    assert sum(r["late_events"] for r in rows) == 0
    got: dict[tuple, list] = {}
    want: dict[tuple, list] = {}
    for r in rows:
        for side, prefix in (("sell", "long"), ("buy", "short")):  # sell: a long position was liquidated
            if r[f"{prefix}_count"]:
                got[(r["symbol"], r["bar_start"], side)] = [r[f"{prefix}_count"], r[f"{prefix}_qty"],
                                                            r[f"{prefix}_notional"]]
    for symbol, side, price, qty, t in liquidations:
        bar = want.setdefault((symbol, t // 1000 * 1_000_000, side), [0, 0.0, 0.0])
        bar[0] += 1
        bar[1] += qty
        bar[2] += price * qty
    assert {key for key, (n, _, _) in want.items() if n} == set(got)
    for key, (n, qty, notional) in want.items():
        assert got[key][0] == n, key
        assert got[key][1] == pytest.approx(qty, rel=1e-9, abs=1e-12), key
        assert got[key][2] == pytest.approx(notional, rel=1e-9, abs=1e-9), key
    assert {r["symbol"] for r in rows if r["all_count"]} == set(symbols)


def frame_junk(rng: random.Random, good_text: str) -> Sent:
    """A frame that is not JSON at all: truncated, garbage, or 200 kB of it."""
    variant = rng.randrange(4)
    if variant == 0:
        return Sent(good_text[:rng.randrange(len(good_text))], ("frame is not JSON",))
    if variant == 1:
        return Sent(rng.choice(["", "garbage{", "null,", "{'single': 'quotes'}", "\u00ff\u00fe", "ping", "{"]),
                    ("frame is not JSON",))
    if variant == 2:
        return Sent("x" * BIG, ("frame is not JSON",))
    return Sent("[" * BIG, ("frame is not JSON",))  # nested too deep to parse


def binary(rng: random.Random, good_text: str) -> Sent:
    """The venues send text only: a binary frame is bad input, even one holding a valid message."""
    return Sent(rng.choice([bytes(rng.randrange(256) for _ in range(64)), good_text.encode()]), ("binary frame",))


# ---------------------------------------------------------------- Bybit: allLiquidation.{symbol}

BYBIT_SYMBOLS = ("BTCUSDT", "ETHUSDT")
BYBIT_STREAM = "allLiquidation.BTCUSDT"  # every frame goes to this topic's subscriber
POSITION_TO_ORDER_SIDE = {"Buy": "sell", "Sell": "buy"}  # Bybit's S is the liquidated position's side
BYBIT_ITEM_KINDS = {"bad number in liquidation.p", "bad number in liquidation.v", "bad time in allLiquidation.data.T",
                    "absurd time in allLiquidation.data.T", "bad side in liquidation.S",
                    "missing symbol in liquidation.s", "symbol not subscribed",
                    "allLiquidation.data item is not an object"}
BYBIT_KINDS = BYBIT_ITEM_KINDS | {
    "frame is not JSON", "binary frame", "message is not an object", "message without a topic",
    "unknown topic 'orderbook.50.BTCUSDT'", "unknown topic 'allLiquidations.BTCUSDT'",
    "allLiquidation without a data list", "liquidation without a data object", "absurd time in tickers.ts",
    "absurd time in publicTrade.T"}


def bybit_item(symbol: str, side: str, price: Any, size: Any, t: Any, **changes: Any) -> dict:
    return changed({"T": t, "s": symbol, "S": side, "v": size, "p": price}, changes)


def bybit_text(items: list[str], ts: int, topic: str = "allLiquidation.BTCUSDT") -> str:
    """An allLiquidation push around item texts (Bybit batches liquidations every 500 ms)."""
    return f'{{"topic":"{topic}","type":"snapshot","ts":{ts},"data":[{",".join(items)}]}}'


def bybit_good(rng: random.Random, t: int) -> tuple[str, Liquidation]:
    """A valid item, numbers as Bybit's strings or as JSON numbers, times as numbers or digit strings."""
    symbol, side = rng.choice(BYBIT_SYMBOLS), rng.choice(["Buy", "Sell"])
    price, size = round(100 + rng.random() * 10, 2), round(0.001 + rng.random() * 3, 3)
    if rng.random() < 0.03:
        size = 0.0
    when = t - rng.randrange(500)
    form = rng.randrange(3)
    p, v, T = (str(price), str(size), when) if form == 0 else (price, size, when) if form == 1 else \
        (str(price), str(size), str(when))
    item = bybit_item(symbol, side, p, v, T)
    if rng.random() < 0.002:
        item["pad"] = "p" * BIG  # a 200 kB item that is still a liquidation
    return compact(item), (symbol, POSITION_TO_ORDER_SIDE[side], price, size, when)


def bybit_bad(rng: random.Random, t: int) -> tuple[str, str]:
    """A bad item of an allLiquidation push, with the kind it is counted as."""
    symbol, side = rng.choice(BYBIT_SYMBOLS), rng.choice(["Buy", "Sell"])

    def bad(kind: str, literal: str | None = None, **changes: Any) -> tuple[str, str]:
        return literal_item(bybit_item(symbol, side, "100.5", "1.25", t, **changes), literal), kind

    case = rng.randrange(12)
    key = rng.choice(["p", "v"])
    if case == 0:  # wrong types
        return bad(f"bad number in liquidation.{key}", **{key: rng.choice([[1], True, {"v": 1}, "abc", None, ""])})
    if case == 1:  # non-finite, as JSON literals or strings
        return bad(f"bad number in liquidation.{key}", rng.choice(NON_FINITE), **{key: "@"})
    if case == 2:  # negative (or zero price)
        value = rng.choice(["-1.5", -2, "-0.001"] + (["0", 0] if key == "p" else []))
        return bad(f"bad number in liquidation.{key}", **{key: value})
    if case == 3:  # missing fields
        key, kind = rng.choice([("p", "bad number in liquidation.p"), ("v", "bad number in liquidation.v"),
                                ("T", "bad time in allLiquidation.data.T"), ("S", "bad side in liquidation.S"),
                                ("s", "missing symbol in liquidation.s")])
        return bad(kind, **{key: ...})
    if case == 4:
        return bad("bad time in allLiquidation.data.T", T=rng.choice(["soon", 1.5, True, [t], None, "1.7e12", 0,
                                                                      -5, "0", "-5", float(t)]))
    if case == 5:  # absurd times: before 2017, a day past the arrival, past int64 microseconds
        value = rng.choice([1, 1_000_000_000_000, 10**20, str(10**30), t + 2 * DAY_MS, str(t + 2 * DAY_MS)])
        return bad("absurd time in allLiquidation.data.T", T=value)
    if case == 6:  # a list or an object as side: no dictionary key
        return bad("bad side in liquidation.S", S=rng.choice([["Buy"], {"Buy": 1}, "LONG", "buy", "", 1, None]))
    if case == 7:
        return bad("missing symbol in liquidation.s", s=rng.choice([5, "", None, ["BTCUSDT"]]))
    if case == 8:
        return bad("symbol not subscribed", s=rng.choice(["DOGEUSDT", "SOLUSDT", "BTCUSD"]))
    if case == 9:
        return bad("symbol not subscribed", s="Z" * BIG)
    if case == 10:
        item = rng.choice([None, 5, "item", True, [bybit_item(symbol, side, "100.5", "1.25", t)]])
        return compact(item), "allLiquidation.data item is not an object"
    return bad("bad side in liquidation.S", S="Both")


def bybit_frame(rng: random.Random, t: int) -> Sent:
    r = rng.random()
    if r < 0.3:  # valid: 1 to 4 liquidations
        goods = [bybit_good(rng, t) for _ in range(rng.randrange(1, 5))]
        return Sent(bybit_text([text for text, _ in goods], t), liquidations=tuple(liq for _, liq in goods))
    if r < 0.65:  # 1 or 2 bad items among 0 to 3 good ones, anywhere in the list
        items = [(*bybit_good(rng, t), None) for _ in range(rng.randrange(4))]
        items += [(text, None, kind) for text, kind in (bybit_bad(rng, t) for _ in range(rng.randrange(1, 3)))]
        rng.shuffle(items)
        return Sent(bybit_text([text for text, _, _ in items], t), tuple(k for _, _, k in items if k),
                    tuple(liq for _, liq, _ in items if liq))
    return bybit_frame_bad(rng, t)


def unreadable(rng: random.Random, valid: str, case: int) -> Sent:
    """A frame no venue can read as a whole: junk text (0), a binary frame (1), or JSON that is not
    an object (2)."""
    if case == 0:
        return frame_junk(rng, valid)
    if case == 1:
        return binary(rng, valid)
    return Sent(rng.choice(["[]", f"[{valid}]", "5", '"text"', "null", "true"]), ("message is not an object",))


def bybit_frame_bad(rng: random.Random, t: int) -> Sent:
    """A frame that is bad as a whole (or, last, harmless control replies that are no data)."""
    good_text, _ = bybit_good(rng, t)
    good = json.loads(good_text)
    valid = bybit_text([good_text], t)
    case = rng.randrange(11)
    if case < 3:
        return unreadable(rng, valid, case)
    if case == 3:
        message = {"type": "snapshot", "ts": t, "data": [good]}
        if rng.random() < 0.5:
            message["topic"] = rng.choice([5, None, ["allLiquidation.BTCUSDT"]])
        return Sent(compact(message), ("message without a topic",))
    if case == 4:
        topic = rng.choice(["orderbook.50.BTCUSDT", "allLiquidations.BTCUSDT"])
        return Sent(bybit_text([good_text], t, topic), (f"unknown topic '{topic}'",))
    if case == 5:
        message = changed({"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": t},
                          {"data": rng.choice([..., {}, "x", None, 5, good])})
        return Sent(compact(message), ("allLiquidation without a data list",))
    if case == 6:  # the deprecated topic carries one object, not a list
        return Sent(bybit_text([good_text], t, "liquidation.BTCUSDT"), ("liquidation without a data object",))
    if case == 7:  # an absurd time on another topic must not reach the engine either
        ts = rng.choice([10**20, t + 2 * DAY_MS, 1])
        return Sent(compact({"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": ts,
                             "data": {"symbol": "BTCUSDT", "markPrice": "100.5"}}), ("absurd time in tickers.ts",))
    if case == 8:
        n = rng.randrange(1, 3)
        items = [{"T": rng.choice([10**20, t + 2 * DAY_MS]), "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "100",
                  "i": str(i)} for i in range(n)]
        return Sent(compact({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": t, "data": items}),
                    ("absurd time in publicTrade.T",) * n)
    if case == 9:  # acknowledgements of requests never made: neither data nor bad
        return Sent(compact({"success": rng.random() < 0.5, "ret_msg": "", "conn_id": "c0ffee",
                             "req_id": str(rng.randrange(10**6)), "op": rng.choice(["subscribe", "unsubscribe"])}))
    return Sent(compact({"op": "auth", "success": False, "ret_msg": "not needed"}))


def test_bybit_hostile_frames_leave_exactly_the_valid_liquidations(tmp_path):
    rng = random.Random(21)
    sent: list[Sent] = []
    with FakeBybit(BYBIT_SYMBOLS) as fake:
        settings = settings_for("bybit", fake, tmp_path, "BTC,ETH")

        async def script(daemon):
            await asyncio.to_thread(fake.wait_until_subscribed, *(f"allLiquidation.{s}" for s in BYBIT_SYMBOLS),
                                    timeout=30)
            await wait_for(lambda: daemon.connections[0].stats.state == "up", what="the subscription's ack")
            await play(daemon, fake, BYBIT_STREAM, "bybit", bybit_frame, rng, sent)

        daemon, rows = run_live(settings, script)
    check(daemon, rows, sent, "bybit", BYBIT_SYMBOLS, BYBIT_KINDS)


def test_bybit_a_bad_item_drops_only_itself():
    """The rule, on one message: the items before and after a bad one are kept; it is counted once."""
    t = 1_791_565_600_000
    good = [compact(bybit_item("BTCUSDT", "Buy", "100", "1", t + i)) for i in range(3)]
    bad_side = compact(bybit_item("BTCUSDT", ["Buy"], "100", "1", t))
    text = bybit_text([good[0], bad_side, good[1], "null", good[2]], t)
    events, bad = normalize("bybit", text)
    assert [row[1] for row in events] == [(t + i) * 1000 for i in range(3)]
    assert bad == {"bad side in liquidation.S": 1, "allLiquidation.data item is not an object": 1}
    # a message bad as a whole adds nothing, counted once; an absurd time is a bad item like any other
    events, bad = normalize("bybit", text.replace('"topic":"allLiquidation.BTCUSDT",', ""),
                            text.replace(f'"T":{t + 2}', '"T":1'))
    assert [row[1] for row in events] == [t * 1000, (t + 1) * 1000]
    assert bad == {"message without a topic": 1, "bad side in liquidation.S": 1,
                   "allLiquidation.data item is not an object": 1, "absurd time in allLiquidation.data.T": 1}


# ---------------------------------------------------------------- OKX: liquidation-orders (SWAP)

OKX_SYMBOLS = ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP")
CT_VAL = {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1}  # the fake's ctVal (contracts -> coins)
NO_SPEC = "SOL-USDT-SWAP"  # followed, but not listed by the instruments endpoint
OKX_STREAM = "liquidation-orders:SWAP"
DETAIL = "liquidation-orders.details"
OKX_ITEM_KINDS = {f"bad side in {DETAIL}.side", f"bad number in {DETAIL}.bkPx", f"bad number in {DETAIL}.sz",
                  f"bad time in {DETAIL}.ts", f"absurd time in {DETAIL}.ts", f"{DETAIL} item is not an object",
                  "missing symbol in liquidation-orders.instId", "symbol not subscribed",
                  "liquidation-orders without details", f"no contract spec for {NO_SPEC}",
                  "liquidation-orders.data item is not an object"}
OKX_KINDS = OKX_ITEM_KINDS | {
    "frame is not JSON", "binary frame", "message is not an object", "message without arg and data list",
    "unknown channel 'liquidation-order'", "unknown channel 'None'", "absurd time in mark-price.ts",
    "absurd time in trades.ts"}


def okx_detail(side: Any, px: Any, sz: Any, ts: Any, /, **changes: Any) -> dict:
    return changed({"bkLoss": "0", "bkPx": px, "ccy": "", "posSide": "net", "side": side, "sz": sz, "ts": ts},
                   changes)


def okx_item(inst: Any, detail_texts: list[str], /, **changes: Any) -> str:
    """A data[] item around detail texts; `changes` replace (or remove) its other fields."""
    family = inst.removesuffix("-SWAP") if isinstance(inst, str) and len(inst) < 50 else "X"
    head = {"instFamily": family, "instId": inst, "instType": "SWAP", "uly": family}
    if "details" in changes:  # replaced or removed: no detail texts
        return compact(changed({"details": None, **head}, changes))
    return f'{{"details":[{",".join(detail_texts)}],{compact(changed(head, changes))[1:]}'


def okx_text(items: list[str], channel: str = "liquidation-orders") -> str:
    return f'{{"arg":{{"channel":"{channel}","instType":"SWAP"}},"data":[{",".join(items)}]}}'


def okx_good_detail(rng: random.Random, inst: str, t: int) -> tuple[str, Liquidation]:
    """A valid detail: OKX's strings, or JSON numbers; sizes in (fractional) contracts."""
    side = rng.choice(["buy", "sell"])
    price, size = round(1000 + rng.random() * 100, 1), round(rng.random() * 20, 2)
    if rng.random() < 0.03:
        size = 0.0
    when = t - rng.randrange(500)
    if rng.random() < 0.7:
        detail = okx_detail(side, str(price), str(size), str(when))
    else:
        detail = okx_detail(side, price, size, when)
    return compact(detail), (inst, side, price, size * CT_VAL[inst], when)


def okx_bad_detail(rng: random.Random, t: int) -> tuple[str, str]:
    side = rng.choice(["buy", "sell"])

    def bad(kind: str, literal: str | None = None, **changes: Any) -> tuple[str, str]:
        return literal_item(okx_detail(side, "1000.5", "3", str(t), **changes), literal), kind

    case = rng.randrange(9)
    key = rng.choice(["bkPx", "sz"])
    if case == 0:
        return bad(f"bad number in {DETAIL}.{key}", **{key: rng.choice([[1], True, {"v": 1}, "abc", None, "", ...])})
    if case == 1:
        return bad(f"bad number in {DETAIL}.{key}", rng.choice(NON_FINITE), **{key: "@"})
    if case == 2:
        value = rng.choice(["-1.5", -2, "-0.001"] + (["0", 0] if key == "bkPx" else []))
        return bad(f"bad number in {DETAIL}.{key}", **{key: value})
    if case == 3:
        return bad(f"bad side in {DETAIL}.side", side=rng.choice([["sell"], {"sell": 1}, "SELL", "long", "", None, 1,
                                                                   ...]))
    if case == 4:
        return bad(f"bad time in {DETAIL}.ts", ts=rng.choice(["soon", 1.5, True, None, ..., "0", "-5", 0, "1.7e12",
                                                              [t]]))
    if case == 5:
        value = rng.choice(["1", "1000000000000", str(10**20), 10**20, str(t + 2 * DAY_MS), t + 2 * DAY_MS])
        return bad(f"absurd time in {DETAIL}.ts", ts=value)
    if case == 6:
        return compact(rng.choice([None, 5, "detail", [okx_detail(side, "1", "1", str(t))]])), \
            f"{DETAIL} item is not an object"
    if case == 7:
        return bad(f"bad side in {DETAIL}.side", side="Sell")
    return bad(f"bad number in {DETAIL}.sz", sz="3 contracts")


def okx_good_item(rng: random.Random, t: int, bad_details: bool) -> tuple[str, tuple[str, ...], tuple]:
    """An item of a followed instrument: 1 to 3 good details, and maybe 1 or 2 bad ones among them."""
    inst = rng.choice(list(CT_VAL))
    details = [(*okx_good_detail(rng, inst, t), None) for _ in range(rng.randrange(0 if bad_details else 1, 4))]
    if bad_details:
        details += [(text, None, kind) for text, kind in (okx_bad_detail(rng, t) for _ in range(rng.randrange(1, 3)))]
    rng.shuffle(details)
    item = okx_item(inst, [text for text, _, _ in details])
    if rng.random() < 0.002:
        item = item[:-1] + f',"pad":"{"p" * BIG}"}}'  # a 200 kB item that is still liquidations
    return item, tuple(k for _, _, k in details if k), tuple(liq for _, liq, _ in details if liq)


def okx_bad_item(rng: random.Random, t: int) -> tuple[str, str]:
    """A data[] item bad as a whole: all its details (good ones too) are dropped with it."""
    inst = rng.choice(list(CT_VAL))
    details = [okx_good_detail(rng, inst, t)[0] for _ in range(rng.randrange(3))]
    case = rng.randrange(5)
    if case == 0:
        missing = okx_item(inst, details, instId=rng.choice([5, "", None, ...]))
        return missing, "missing symbol in liquidation-orders.instId"
    if case == 1:
        other = rng.choice(["DOGE-USDT-SWAP", "CELO-USDT-SWAP", "BTC-USD-SWAP", "BTC-USDT-260327", "Z" * BIG])
        return okx_item(other, details), "symbol not subscribed"
    if case == 2:
        broken = okx_item(inst, details, details=rng.choice([..., "x", {}, None, 5]))
        return broken, "liquidation-orders without details"
    if case == 3:
        return compact(rng.choice([None, 5, "item", [json.loads(okx_item(inst, details))]])), \
            "liquidation-orders.data item is not an object"
    return okx_item(NO_SPEC, details), f"no contract spec for {NO_SPEC}"


def okx_frame(rng: random.Random, t: int) -> Sent:
    r = rng.random()
    if r < 0.3:  # valid: 1 or 2 instruments, 1 to 3 details each
        items = [okx_good_item(rng, t, False) for _ in range(rng.randrange(1, 3))]
        return Sent(okx_text([text for text, _, _ in items]), (), tuple(liq for *_, liqs in items for liq in liqs))
    if r < 0.65:  # bad details and bad items among good ones, anywhere in the lists
        items = [okx_good_item(rng, t, rng.random() < 0.6) for _ in range(rng.randrange(1, 3))]
        items += [(text, (kind,), ()) for text, kind in (okx_bad_item(rng, t) for _ in range(rng.randrange(2)))]
        rng.shuffle(items)
        return Sent(okx_text([text for text, _, _ in items]), tuple(k for _, kinds, _ in items for k in kinds),
                    tuple(liq for *_, liqs in items for liq in liqs))
    return okx_frame_bad(rng, t)


def okx_frame_bad(rng: random.Random, t: int) -> Sent:
    """A frame that is bad as a whole (or, last, events and notices that are no data)."""
    good_item, _, _ = okx_good_item(rng, t, False)
    valid = okx_text([good_item])
    case = rng.randrange(10)
    if case < 3:
        return unreadable(rng, valid, case)
    if case == 3:
        message = changed(json.loads(valid), rng.choice([{"arg": ...}, {"data": ...}, {"arg": "liquidation-orders"},
                                                         {"data": json.loads(good_item)}, {"data": "x"}]))
        return Sent(compact(message) if rng.random() < 0.8 else "{}", ("message without arg and data list",))
    if case == 4:
        if rng.random() < 0.5:
            return Sent(okx_text([good_item], "liquidation-order"), ("unknown channel 'liquidation-order'",))
        no_channel = compact({"arg": {"instType": "SWAP"}, "data": [json.loads(good_item)]})
        return Sent(no_channel, ("unknown channel 'None'",))
    if case == 5:  # an absurd time on another channel must not reach the engine either
        ts = rng.choice([10**20, t + 2 * DAY_MS, 1])
        return Sent(compact({"arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
                             "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP", "markPx": "1000.5",
                                       "ts": str(ts)}]}), ("absurd time in mark-price.ts",))
    if case == 6:
        n = rng.randrange(1, 3)
        items = [{"instId": "BTC-USDT-SWAP", "tradeId": str(i), "px": "1000", "sz": "1", "side": "buy",
                  "ts": str(rng.choice([10**20, t + 2 * DAY_MS]))} for i in range(n)]
        return Sent(compact({"arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"}, "data": items}),
                    ("absurd time in trades.ts",) * n)
    if case == 7:  # a service notice: no data, not bad
        return Sent(compact({"event": "notice", "code": "64008", "connId": "a4d3ae55",
                             "msg": "The connection will soon be closed for a service upgrade. Please reconnect."}))
    if case == 8:  # an error or an ack of a request never made: no data, not bad
        return Sent(compact({"event": "error", "code": "60012", "msg": "Invalid request", "connId": "a4d3ae55"}))
    return Sent(compact({"id": str(rng.randrange(10**6)), "event": "subscribe",
                         "arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "connId": "a4d3ae55"}))


def test_okx_hostile_frames_leave_exactly_the_valid_liquidations(tmp_path):
    rng = random.Random(34)
    sent: list[Sent] = []
    with FakeOkx() as fake:
        settings = settings_for("okx", fake, tmp_path, ",".join(f"okx:{s}" for s in OKX_SYMBOLS))

        async def script(daemon):
            await asyncio.to_thread(fake.wait_until_subscribed, OKX_STREAM, timeout=30)
            okx = daemon.core.normalizers["okx"]
            await wait_for(lambda: daemon.connections[0].stats.state == "up" and okx.first_pushes_dropped == 1,
                           what="the subscription's ack and backlog push")
            await play(daemon, fake, OKX_STREAM, "okx", okx_frame, rng, sent)

        daemon, rows = run_live(settings, script)
    assert daemon.core.normalizers["okx"].first_pushes_dropped == 1  # only the backlog after subscribing
    check(daemon, rows, sent, "okex-swap", tuple(CT_VAL), OKX_KINDS)


def test_okx_a_bad_item_or_detail_drops_only_itself():
    """The rule, on one message: a bad detail drops only itself, a bad item itself with its details;
    the details and items before and after are kept; each is counted once."""
    t = 1_791_565_600_000
    good = [compact(okx_detail("sell", "100", "2", str(t + i))) for i in range(4)]
    bad_ts = compact(okx_detail("sell", "100", "2", "soon"))
    text = okx_text([okx_item("BTC-USDT-SWAP", [good[0], bad_ts, good[1], "5"]),
                     okx_item("DOGE-USDT-SWAP", [good[2]]), "null",
                     okx_item("BTC-USDT-SWAP", [good[2]], details="x"),
                     okx_item("BTC-USDT-SWAP", [good[3]])])
    backlog = okx_text([okx_item("BTC-USDT-SWAP", [good[0]])])
    events, bad = normalize("okx", backlog, text, symbols=frozenset({"BTC-USDT-SWAP"}),
                            specs=(InstrumentSpec("okex-swap", "BTC-USDT-SWAP", "BTC", "linear", 0.01),))
    assert [row[1] for row in events] == [t * 1000, (t + 1) * 1000, (t + 3) * 1000]
    assert [row[-1] for row in events] == [0.02] * 3  # 2 contracts of 0.01 BTC
    assert bad == {f"bad time in {DETAIL}.ts": 1, f"{DETAIL} item is not an object": 1, "symbol not subscribed": 1,
                   "liquidation-orders.data item is not an object": 1, "liquidation-orders without details": 1}


def normalize(name: str, *texts: str, symbols: frozenset[str] | None = None,
              specs: tuple[InstrumentSpec, ...] = ()) -> tuple[list[tuple], dict[str, int]]:
    """The liquidation rows (symbol, ts, arrival, side, price, amount) of `texts`, and the bad counts."""
    buffer, bad = EventBuffer(venue(name).exchange), BadInputCounter()
    normalizer = venue(name).normalizer(buffer, symbols, bad)
    normalizer.set_specs(specs)
    for text in texts:
        normalizer.frame(text, 1_791_565_700_000_000, "c0.1")
    rows = [row for batch in buffer.drain() if batch.channel == "liquidations"
            for row in zip([batch.instruments[i][1] for i in batch.instrument.tolist()], batch.ts.tolist(),
                           batch.arrival.tolist(), batch.side.tolist(), batch.price.tolist(),
                           batch.amount.tolist(), strict=True)]
    return rows, dict(bad.counts)
