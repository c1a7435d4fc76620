"""`streamliq replay`: Tardis CSV files in, factor rows out, summary on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from ..engine.block import RowBlock
from ..engine.config import FactorConfig
from ..errors import InputError
from ..progress import ProgressBar
from ..sinks.files import FileSink
from . import partitioned
from .common import add_replay_arguments, factor_config, open_replay, summary_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay Tardis CSV files into factor rows",
                       description="Replay Tardis CSV files (liquidations, derivative_ticker, trades) "
                                   "through the factor engine and write one row per closed bar.")
    add_replay_arguments(p)
    p.add_argument("--recorded", metavar="DIR",
                   help="replay a `streamliq run --record` folder instead of Tardis files")
    p.add_argument("--out", help="output: .parquet, .csv, .jsonl, or - for JSON lines on stdout (default: "
                                 "factors.parquet); with --scheduler/--workers a dataset folder (default: factors)")
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
    if distributed:
        if args.metrics_dir:
            raise InputError("--metrics-dir is not supported with --scheduler/--workers yet; replay in one process")
        if args.aggregate:
            raise InputError("--aggregate is not supported with --scheduler/--workers (each task replays one "
                             "symbol, an aggregate needs every venue's symbols of its coin); replay in one process")
        args.data_dir = str(Path(args.data_dir).resolve())  # the workers may run elsewhere
    replay = open_replay(args, config, on_progress=progress)
    if distributed:
        return partitioned.run_partitioned(args, replay)
    try:
        _write(replay.blocks(), FileSink(args.out, replay.config.columns()))
    finally:
        if progress:
            progress.done()
    if not args.quiet:
        print(summary_text(replay.stats, args.out), file=sys.stderr)
    return 0


def _run_recorded(args: argparse.Namespace, config: FactorConfig) -> int:
    from ..live.recorded import RecordedReplay  # the live modules load only for a recording

    replay = RecordedReplay(args.recorded, config)
    sink = FileSink(args.out, config.columns())
    _write(replay.blocks(), sink)
    if not args.quiet:
        core = replay.core
        print(f"streamliq replay: {sink.rows_written:,} rows from {replay.records:,} records "
              f"({core.messages:,} messages, {core.duplicates:,} duplicates dropped, "
              f"{core.bad.total:,} bad) -> {args.out}", file=sys.stderr)
    return 0


def _write(blocks: Iterable[RowBlock], sink: FileSink) -> None:
    """Write every block to `sink`; on any failure remove the partial output."""
    try:
        for block in blocks:
            sink.write(block)
    except BaseException:
        sink.abort()
        raise
    sink.close()
