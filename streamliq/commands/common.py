"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse

from ..config import FactorConfig


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
