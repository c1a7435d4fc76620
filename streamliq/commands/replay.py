"""`streamliq replay`: Tardis CSV files in, factor rows out, summary on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from ..config import FactorConfig
from ..errors import InputError
from ..live.recorded import RecordedReplay
from ..partitioned import command as partitioned
from ..progress import ProgressBar
from ..sinks.files import FileSink
from ..tardis_replay import Replay, ReplayStats
from .common import add_factor_arguments, factor_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay Tardis CSV files into factor rows",
                       description="Replay Tardis CSV files (liquidations, derivative_ticker, trades) "
                                   "through the factor engine and write one row per closed bar.")
    p.add_argument("--data-dir", default="replay_data", help="folder searched recursively (default: %(default)s)")
    p.add_argument("--recorded", metavar="DIR",
                   help="replay a `streamliq run --record` folder instead of Tardis files")
    p.add_argument("--exchange", help="Tardis exchange id, e.g. binance-futures")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--symbols", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT (default: all)")
    which.add_argument("--all-symbols", action="store_true", help="every symbol found (the default, stated)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first file date, YYYY-MM-DD (inclusive)")
    p.add_argument("--to", dest="end", metavar="DATE", help="last file date, YYYY-MM-DD (inclusive)")
    add_factor_arguments(p)
    p.add_argument("--out", help="output: .parquet, .csv, .jsonl, or - for JSON lines on stdout (default: "
                                 "factors.parquet); with --scheduler/--workers a dataset folder (default: factors)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="count and skip malformed rows instead of stopping at the first")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    partitioned.add_cluster_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Replay the files the arguments select and write their rows to `--out`."""
    config = factor_config(args)
    distributed = partitioned.wanted(args)
    args.out = args.out or ("factors" if distributed else "factors.parquet")
    if args.recorded:
        if distributed:
            raise InputError("--scheduler/--workers replay Tardis files, not a --recorded folder")
        return _run_recorded(args, config)
    progress = None if args.quiet or distributed else ProgressBar()
    replay = Replay(Path(args.data_dir).resolve() if distributed else args.data_dir, config, exchange=args.exchange,
                    symbols=args.symbols.split(",") if args.symbols else None,
                    start=args.start, end=args.end, skip_bad_rows=args.skip_bad_rows,
                    on_progress=progress)
    if distributed:
        return partitioned.run_partitioned(args, replay)
    try:
        _write(replay, FileSink(args.out, config.columns()))
    finally:
        if progress:
            progress.done()
    if not args.quiet:
        print(summary_text(replay.stats, args.out), file=sys.stderr)
    return 0


def _run_recorded(args: argparse.Namespace, config: FactorConfig) -> int:
    replay = RecordedReplay(args.recorded, config)
    sink = FileSink(args.out, config.columns())
    _write(replay, sink)
    if not args.quiet:
        core = replay.core
        print(f"streamliq replay: {sink.rows_written:,} rows from {replay.records:,} records "
              f"({core.normalizer.messages:,} messages, {core.duplicates:,} duplicates dropped, "
              f"{core.bad.total:,} bad) -> {args.out}", file=sys.stderr)
    return 0


def _write(rows: Iterable[dict], sink: FileSink) -> None:
    """Write every row to `sink`; on any failure remove the partial output."""
    try:
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 10_000:
                sink.write(batch)
                batch = []
        sink.write(batch)
    except BaseException:
        sink.abort()
        raise
    sink.close()


def summary_text(stats: ReplayStats, out: str) -> str:
    """The summary line(s) printed after a replay."""
    late = ", ".join(f"{count:,} ({freq})" for freq, count in stats.late_events.items()) or "0"
    seconds = max(stats.seconds, 1e-9)
    text = (f"streamliq replay: {stats.rows:,} rows for {len(stats.symbols):,} symbols from "
            f"{stats.events:,} events in {stats.files:,} files; late events {late}; "
            f"{seconds:.1f} s ({stats.events / seconds:,.0f} events/s) -> {out}")
    if stats.bad_rows.total:
        kinds = "; ".join(f"{n:,} {kind}" for kind, n in stats.bad_rows.counts.most_common())
        text += f"\nskipped {stats.bad_rows.total:,} bad rows: {kinds}"
    return text
