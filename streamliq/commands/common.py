"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..config import FactorConfig
from ..tardis_replay import Replay, ReplayStats


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Which Tardis files a replay reads, and what it does with malformed rows."""
    p.add_argument("--data-dir", default="replay_data", help="folder searched recursively (default: %(default)s)")
    p.add_argument("--exchange", help="Tardis exchange id, e.g. binance-futures")
    p.add_argument("--symbols", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT (default: all)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first file date, YYYY-MM-DD (inclusive)")
    p.add_argument("--to", dest="end", metavar="DATE", help="last file date, YYYY-MM-DD (inclusive)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="count and skip malformed rows instead of stopping at the first")


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    """Data selection and factor parameters: everything a replay-driven command takes."""
    add_data_arguments(p)
    add_factor_arguments(p)


def open_replay(args: argparse.Namespace, config: FactorConfig,
                on_progress: Callable[[ReplayStats], None] | None = None) -> Replay:
    """The Replay the data arguments select (InputError for a missing folder or a bad date)."""
    return Replay(args.data_dir, config, exchange=args.exchange,
                  symbols=args.symbols.split(",") if args.symbols else None,
                  start=args.start, end=args.end, skip_bad_rows=args.skip_bad_rows, on_progress=on_progress)


def add_factor_arguments(p: argparse.ArgumentParser, freq_default: str = "15m") -> None:
    """The factor parameters (FACTORS.md sections 2, 5 and 6), identical for replay and live."""
    p.add_argument("--freq", default=freq_default, help="bar frequencies, e.g. 15m,1h (default: %(default)s)")
    p.add_argument("--lateness", default="5s", help="allowed lateness, e.g. 5s, 500ms (default: %(default)s)")
    p.add_argument("--z-windows", default="24,168", help="z-score windows in bars (default: %(default)s)")
    p.add_argument("--pct-windows", default="168", help="percentile-rank windows (default: %(default)s)")
    p.add_argument("--bucket-quantiles", default="0.9", help="size-bucket quantiles (default: %(default)s)")
    p.add_argument("--bucket-hours", default="24", help="size-bucket lookbacks in hours (default: %(default)s)")
    p.add_argument("--mining-windows", default="24", help="exceedance windows in bars (default: %(default)s)")
    p.add_argument("--mining-quantiles", default="0.9", help="exceedance quantiles (default: %(default)s)")


def factor_config(args: argparse.Namespace) -> FactorConfig:
    """The FactorConfig the factor arguments describe (InputError when one is invalid)."""
    return FactorConfig.build(
        freq=args.freq, lateness=args.lateness, z_windows=args.z_windows, pct_windows=args.pct_windows,
        bucket_quantiles=args.bucket_quantiles, bucket_hours=args.bucket_hours,
        mining_windows=args.mining_windows, mining_quantiles=args.mining_quantiles,
    )
