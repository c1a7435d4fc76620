"""`streamliq serve` over a replay, timed against `streamliq replay` alone on the same data.

What it measures
    On an all-market data set (the generator of ``replay_throughput.py --mode all-market``,
    cached under ``--data-root``), three child processes, one after the other, timed the same
    way (wall time from ``Popen`` to ``os.wait4``, peak RSS from its rusage):

    1. ``replay``: ``streamliq replay --data-dir DIR --freq F --out A.parquet --quiet``
    2. ``serve``: ``streamliq serve --data-dir DIR --freq F --serve 127.0.0.1:PORT
       --sink parquet:B --exit-when-done --quiet``: the same replay, every row through the
       fan-out to the HTTP/WebSocket server (ring buffers for backfill) and to a parquet sink,
       no client connected; it exits once the replay ended and the sinks took every row.
    3. ``serve + 1 client``: the same, with one WebSocket client (a separate Python process,
       aiohttp) that connects as soon as the server listens, subscribes to every row
       (``backfill`` = ``--ring-size``, to pick up rows closed before it connected) and parses
       every message as JSON. The time is that of the serve process; the client's row count
       and whether it was cut off are reported.

    The ratio is serve seconds / replay seconds (acceptance: at most 1.3). All three write
    the same rows (checked: the parquet outputs have equal row counts).

How to run
    python benchmarks/serve_vs_replay.py                       # 400 symbols x 10 days, 5m
    python benchmarks/serve_vs_replay.py --symbols 20 --days 2 --repeat 2 --json /tmp/serve.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allmarket_data import add_generator_arguments, ensure_data, params_from
from benchkit import Tally, count_text, fmt, log, markdown_table, parquet_rows, streamliq_command, verdict, warm_cache

DEFAULT_DATA_ROOT = Path("/tmp/streamliq-bench")

# The WebSocket client: connect (retrying until the server listens), subscribe to all, count rows.
CLIENT_PROGRAM = """\
import asyncio, json, sys, time
import aiohttp

async def main(url, backfill, give_up):
    rows = 0
    close = None
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + give_up
        while True:
            try:
                ws = await session.ws_connect(url, max_msg_size=0)
                break
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    print(json.dumps({"rows": 0, "error": "could not connect"}))
                    return
                await asyncio.sleep(0.01)
        connected = time.monotonic()
        await ws.send_json({"op": "subscribe", "backfill": backfill})
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            row = json.loads(msg.data)
            if "type" not in row:
                rows += 1
        close = ws.close_code
    print(json.dumps({"rows": rows, "close": close, "connected_for": time.monotonic() - connected}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


@dataclass
class Client:
    """The WebSocket client process of one serve run."""

    port: int
    backfill: int
    process: subprocess.Popen | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    def start(self, _serve: subprocess.Popen) -> None:
        """Start the client next to the serve process (called by `measure` right after Popen)."""
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLIENT_PROGRAM, f"ws://127.0.0.1:{self.port}/ws", str(self.backfill), "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def collect(self) -> None:
        """Wait for the client (it ends when the server closes) and keep its report."""
        if self.process is None:
            return
        out, err = self.process.communicate(timeout=60)
        try:
            self.results.append(json.loads(out.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            self.results.append({"rows": None, "error": (err.strip() or out.strip())[-500:]})
        self.process = None


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remove(path: Path) -> None:
    """Delete an output file or part-file folder."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=400, help="perpetuals (default: 400)")
    parser.add_argument("--days", type=int, default=10, help="days (default: 10)")
    parser.add_argument("--freq", default="5m", help="passed to --freq of both (default: 5m)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, best time kept (default: 1)")
    parser.add_argument("--ring-size", type=int, default=500, help="serve --ring-size and the client's backfill")
    parser.add_argument("--client-queue", type=int, default=10_000, help="serve --client-queue (default: 10000)")
    parser.add_argument("--no-client", action="store_true", help="skip the run with a WebSocket client")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT,
                        help=f"cache of generated data sets (default: {DEFAULT_DATA_ROOT})")
    parser.add_argument("--timeout", type=float, help="kill a run after this many seconds (default: none)")
    parser.add_argument("--streamliq", help="the streamliq executable (default: next to this Python or on PATH)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    add_generator_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not hasattr(os, "wait4"):
        raise SystemExit("this benchmark needs os.wait4 (Linux or another Unix)")
    folder, manifest = ensure_data(args.data_root, params_from(args, args.symbols, args.days), args.sample)
    warm_cache([folder / entry["name"] for entry in manifest["files"]])
    tmp = Path(tempfile.gettempdir())
    outs = {name: tmp / f"streamliq-bench-serve-{os.getpid()}-{name}.parquet" for name in ("replay", "serve", "client")}
    streamliq = streamliq_command(args.streamliq)
    common = ["--data-dir", str(folder), "--freq", args.freq, "--quiet"]
    tallies = {"replay": Tally("replay"), "serve": Tally("serve"), "client": Tally("serve + 1 client")}
    if args.no_client:
        del tallies["client"]
    client: Client | None = None
    rows: dict[str, int | None] = {}
    for attempt in range(args.repeat):
        label = f"[{args.symbols}x{args.days} d {args.freq}, run {attempt + 1}/{args.repeat}]"
        for name, tally in tallies.items():
            remove(outs[name])
            if name == "replay":
                tally.run([*streamliq, "replay", *common, "--out", str(outs[name])], label, args.timeout)
                continue
            port = free_port()
            cmd = [*streamliq, "serve", *common, "--serve", f"127.0.0.1:{port}", "--ring-size", str(args.ring_size),
                   "--client-queue", str(args.client_queue), "--sink", f"parquet:{outs[name]}", "--exit-when-done"]
            if name == "client":
                client = client or Client(port, args.ring_size)
                client.port = port
                tally.run(cmd, label, args.timeout, on_start=client.start)
                client.collect()
                log(f"{label} client: {client.results[-1]}")
            else:
                tally.run(cmd, label, args.timeout)
            time.sleep(0.2)  # let the port go
        rows = {name: parquet_rows(outs[name]) for name in tallies}
    for path in outs.values():
        remove(path)

    base = tallies["replay"].best
    table = []
    for name, tally in tallies.items():
        ratio = tally.best / base if tally.best and base else None
        table.append([tally.name, f"{rows.get(name) or 0:,}", fmt(tally.best, ".2f"),
                      fmt(rows[name] / tally.best if tally.best and rows.get(name) else None, ",.0f"),
                      fmt(ratio, ".2f"), fmt(tally.rss_mib, ",.0f")])
    print(f"streamliq serve over a replay vs streamliq replay, {args.symbols}x{args.days} d, {args.freq}, "
          f"{manifest['events']:,} liquidations, best of {args.repeat}\n")
    print("\n".join(markdown_table(["run", "rows", "seconds", "rows/s", "time / replay", "peak RSS MiB"], table)))
    agree = len({rows.get(name) for name in tallies}) == 1 and None not in rows.values()
    print(f"\n- rows written: {', '.join(f'{n} {count_text(rows.get(n))}' for n in tallies)} "
          f"({'agree' if agree else 'DIFFER'})")
    if client is not None and client.results:
        print(f"- the WebSocket client received {count_text(client.results[-1].get('rows'))} rows "
              f"(close {client.results[-1].get('close')}; backfill up to {args.ring_size} per series)")
    for name in ("serve", "client"):
        if name in tallies:
            t = tallies[name]
            ratio = t.best / base if t.best and base else None
            print(f"- acceptance: {t.name} within 1.3x of the replay's time: {fmt(ratio, '.2f')}x "
                  f"{verdict(None if ratio is None else ratio <= 1.3)}")
    for tally in tallies.values():
        if tally.error:
            print(f"- {tally.name} failed: {tally.error.splitlines()[-1]}")
    if args.json:
        payload = {"benchmark": "serve_vs_replay", "symbols": args.symbols, "days": args.days, "freq": args.freq,
                   "events": manifest["events"], "repeat": args.repeat, "rows": rows,
                   "client": client.results if client else None,
                   "runs": {name: tally.as_json() for name, tally in tallies.items()}}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if any(t.error for t in tallies.values()) or not agree else 0


if __name__ == "__main__":
    sys.exit(main())
