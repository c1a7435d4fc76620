"""WebSocket fan-out: rows/s through `RowServer` to many clients, and publish-to-receipt delay.

What it measures
    This process runs the server (`streamliq.sinks.server.RowServer` behind a `Fanout`, as in
    `streamliq serve`) on 127.0.0.1; a second process runs ``--clients`` WebSocket clients
    (aiohttp, one event loop), each subscribed to every row. Rows have every column of the
    default `FactorConfig` (about 1.7 KB of JSON each).

    1. Throughput: ``--rows`` rows are published in batches of ``--batch`` as fast as the
       server takes them (client queues are big enough that nobody is cut off). Reported:
       rows/s through the server (rows published / time until every client had every row)
       and messages/s delivered (that times the number of clients).
    2. Delay: ``--bars`` "bar closes" of ``--batch`` rows each, ``--interval`` seconds apart,
       as a live daemon publishes them. Each row carries its publish time (`time.time_ns()`
       just before `Fanout.publish`, the moment the engine hands over a closed bar); each
       client notes when it has parsed the row. Reported: p50/p99/max of receipt minus
       publish over all rows and clients, i.e. the end-to-end delay from bar close to a bot
       holding the row as a dict. Both processes read the same system clock.

    The machine is shared, so numbers vary between runs; clients and server share its cores.

How to run
    python benchmarks/ws_fanout.py                       # 50 clients
    python benchmarks/ws_fanout.py --clients 10 --rows 20000 --bars 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import statistics
import time

import aiohttp

from streamliq.engine.config import INT_COLUMNS, FactorConfig
from streamliq.sinks.fanout import Fanout
from streamliq.sinks.ring import RowFilter
from streamliq.sinks.server import RowServer
from streamliq.telemetry import Metrics

T0 = 1_759_276_800_000_000
COLUMNS = FactorConfig().columns()


def make_rows(count: int, first: int, symbols: int) -> list[dict]:
    rows = []
    for i in range(first, first + count):
        row = {name: (i % 7 if name in INT_COLUMNS else (math.nan if (i + n) % 9 == 0 else i * 0.37 + n))
               for n, name in enumerate(COLUMNS)}
        start = T0 + (i // symbols) * 60_000_000
        row.update(exchange="binance-futures", symbol=f"S{i % symbols:03d}USDT", freq="1m", bar_start=start,
                   bar_end=start + 60_000_000, gap=False)
        rows.append(row)
    return rows


# -- client process -----------------------------------------------------------------------------

def client_process(port: int, clients: int, expected: int, conn) -> None:
    asyncio.run(run_clients(port, clients, expected, conn))


async def run_clients(port: int, clients: int, throughput_rows: int, conn) -> None:
    async with aiohttp.ClientSession() as session:
        sockets = []
        for _ in range(clients):
            ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws", max_msg_size=0)
            await ws.send_json({"op": "subscribe"})
            await ws.receive()  # the ack
            sockets.append(ws)
        conn.send("ready")
        cpu = time.process_time()
        await asyncio.gather(*(count_rows(ws, throughput_rows) for ws in sockets))
        conn.send(time.process_time() - cpu)
        delay_rows = conn.recv()
        delays = await asyncio.gather(*(measure_delays(ws, delay_rows) for ws in sockets))
        conn.send([d for per_client in delays for d in per_client])
        for ws in sockets:
            await ws.close()


async def count_rows(ws: aiohttp.ClientWebSocketResponse, rows: int) -> None:
    for _ in range(rows):
        await ws.receive()


async def measure_delays(ws: aiohttp.ClientWebSocketResponse, rows: int) -> list[float]:
    delays = []
    for _ in range(rows):
        message = await ws.receive()
        row = json.loads(message.data)
        delays.append((time.time_ns() - row["published_ns"]) / 1e6)
    return delays


# -- server side ----------------------------------------------------------------------------------

async def bench(args: argparse.Namespace) -> None:
    metrics = Metrics()
    server = RowServer("127.0.0.1", 0, metrics=metrics, client_queue=args.rows + 1, ring_size=10)
    fanout = Fanout([server], metrics)
    await fanout.start()
    ours, theirs = mp.Pipe()
    child = mp.get_context("spawn").Process(target=client_process, args=(server.port, args.clients, args.rows, theirs))
    child.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, ours.recv) == "ready"

    rows = make_rows(args.rows, 0, args.batch)
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, args.rows, args.batch):
        fanout.publish(rows[i:i + args.batch])
        await asyncio.sleep(0)
    client_cpu = await loop.run_in_executor(None, ours.recv)
    seconds, server_cpu = time.perf_counter() - started, time.process_time() - cpu

    ours.send(args.bars * args.batch)
    for bar in range(args.bars):
        batch = make_rows(args.batch, args.rows + bar * args.batch, args.batch)
        now = time.time_ns()
        for row in batch:
            row["published_ns"] = now
        fanout.publish(batch)
        await asyncio.sleep(args.interval)
    delays = await loop.run_in_executor(None, ours.recv)
    await loop.run_in_executor(None, child.join)  # its clients close through our event loop
    await fanout.close()

    quantiles = statistics.quantiles(delays, n=100)
    print(f"clients {args.clients}, row JSON {len(server.ring.latest(RowFilter())[0].payload):,} bytes, "
          f"cut off {int(metrics.value('streamliq_ws_slow_disconnects_total'))}")
    print(f"throughput: {args.rows:,} rows in {seconds:.2f} s = {args.rows / seconds:,.0f} rows/s through the server, "
          f"{args.rows * args.clients / seconds:,.0f} messages/s to clients; CPU seconds: server {server_cpu:.2f}, "
          f"clients {client_cpu:.2f}")
    print(f"delay publish -> client (bars of {args.batch} rows every {args.interval} s, {len(delays):,} receipts): "
          f"p50 {quantiles[49]:.2f} ms, p99 {quantiles[98]:.2f} ms, max {max(delays):.2f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--rows", type=int, default=10_000, help="rows for the throughput phase")
    p.add_argument("--batch", type=int, default=100, help="rows per publish (symbols per bar close)")
    p.add_argument("--bars", type=int, default=30, help="bar closes for the delay phase")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between bar closes in the delay phase")
    asyncio.run(bench(p.parse_args()))


if __name__ == "__main__":
    main()
