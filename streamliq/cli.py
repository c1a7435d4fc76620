"""The `streamliq` command line."""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .config import FactorConfig
from .errors import InputError
from .progress import ProgressBar
from .sinks.files import FileSink
from .tardis_replay import Replay, ReplayStats

EXIT_BAD_INPUT = 2


def _replay_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay Tardis CSV files into factor rows",
                       description="Replay Tardis CSV files (liquidations, derivative_ticker, trades) "
                                   "through the factor engine and write one row per closed bar.")
    p.add_argument("--data-dir", default="replay_data", help="folder searched recursively (default: %(default)s)")
    p.add_argument("--exchange", help="Tardis exchange id, e.g. binance-futures")
    p.add_argument("--symbols", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT (default: all)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first file date, YYYY-MM-DD (inclusive)")
    p.add_argument("--to", dest="end", metavar="DATE", help="last file date, YYYY-MM-DD (inclusive)")
    p.add_argument("--freq", default="15m", help="bar frequencies, e.g. 15m,1h (default: %(default)s)")
    p.add_argument("--lateness", default="5s", help="allowed lateness, e.g. 5s, 500ms (default: %(default)s)")
    p.add_argument("--z-windows", default="24,168", help="z-score windows in bars (default: %(default)s)")
    p.add_argument("--pct-windows", default="168", help="percentile-rank windows (default: %(default)s)")
    p.add_argument("--bucket-quantiles", default="0.9", help="size-bucket quantiles (default: %(default)s)")
    p.add_argument("--bucket-hours", default="24", help="size-bucket lookbacks in hours (default: %(default)s)")
    p.add_argument("--mining-windows", default="24", help="exceedance windows in bars (default: %(default)s)")
    p.add_argument("--mining-quantiles", default="0.9", help="exceedance quantiles (default: %(default)s)")
    p.add_argument("--out", default="factors.parquet",
                   help="output: .parquet, .csv, .jsonl, or - for JSON lines on stdout (default: %(default)s)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="count and skip malformed rows instead of stopping at the first")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(run=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    """`streamliq replay`: files in, factor rows out, summary on stderr."""
    config = FactorConfig.build(
        freq=args.freq, lateness=args.lateness, z_windows=args.z_windows, pct_windows=args.pct_windows,
        bucket_quantiles=args.bucket_quantiles, bucket_hours=args.bucket_hours,
        mining_windows=args.mining_windows, mining_quantiles=args.mining_quantiles,
    )
    progress = None if args.quiet else ProgressBar()
    replay = Replay(args.data_dir, config, exchange=args.exchange,
                    symbols=args.symbols.split(",") if args.symbols else None,
                    start=args.start, end=args.end, skip_bad_rows=args.skip_bad_rows,
                    on_progress=progress)
    sink = FileSink(args.out, config.columns())
    try:
        batch: list[dict] = []
        for row in replay:
            batch.append(row)
            if len(batch) >= 10_000:
                sink.write(batch)
                batch = []
        sink.write(batch)
    except BaseException:
        sink.abort()
        raise
    finally:
        if progress:
            progress.done()
    sink.close()
    if not args.quiet:
        print(_summary(replay.stats, args.out), file=sys.stderr)
    return 0


def _summary(stats: ReplayStats, out: str) -> str:
    late = ", ".join(f"{count:,} ({freq})" for freq, count in stats.late_events.items()) or "0"
    seconds = max(stats.seconds, 1e-9)
    text = (f"streamliq replay: {stats.rows:,} rows for {len(stats.symbols):,} symbols from "
            f"{stats.events:,} events in {stats.files:,} files; late events {late}; "
            f"{seconds:.1f} s ({stats.events / seconds:,.0f} events/s) -> {out}")
    if stats.bad_rows.total:
        kinds = "; ".join(f"{n:,} {kind}" for kind, n in stats.bad_rows.counts.most_common())
        text += f"\nskipped {stats.bad_rows.total:,} bad rows: {kinds}"
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamliq", description=__doc__)
    parser.add_argument("--version", action="version", version=f"streamliq {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    _replay_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `streamliq` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return args.run(args)
    except InputError as exc:
        print(f"streamliq: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("streamliq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
