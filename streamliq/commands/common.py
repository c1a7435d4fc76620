"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..engine.config import FactorConfig
from ..sources.coverage import describe_missing
from ..tardis_replay import Replay, ReplayStats


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Which Tardis files a replay reads, and what it does with malformed rows."""
    p.add_argument("--data-dir", default="replay_data", help="folder searched recursively (default: %(default)s)")
    p.add_argument("--exchange", help="Tardis exchange id, e.g. binance-futures")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--symbols", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT (default: all)")
    which.add_argument("--all-symbols", action="store_true", help="every symbol found (the default, stated)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first file date, YYYY-MM-DD (inclusive)")
    p.add_argument("--to", dest="end", metavar="DATE", help="last file date, YYYY-MM-DD (inclusive)")
    p.add_argument("--metrics-dir", metavar="DIR",
                   help="Binance positioning data (REST dumps or data.binance.vision metrics files) "
                        "for the FACTORS.md section 7 columns")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="count and skip malformed rows instead of stopping at the first")
    add_venue_arguments(p)


def add_venue_arguments(p: argparse.ArgumentParser) -> None:
    """Contract specs and cross-venue aggregate rows (FACTORS.md sections 9 and 10)."""
    p.add_argument("--instruments", metavar="FILE",
                   help="CSV of contract specs (exchange,symbol,base,kind,contract_value,base_per_unit) that "
                        "adds to or overrides the table shipped with streamliq")
    p.add_argument("--aggregate", action="store_true",
                   help="add one row per coin and bar across all venues and instruments (exchange 'all')")


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    """Data selection and factor parameters: everything a replay-driven command takes."""
    add_data_arguments(p)
    add_factor_arguments(p)


def open_replay(args: argparse.Namespace, config: FactorConfig,
                on_progress: Callable[[ReplayStats], None] | None = None) -> Replay:
    """The Replay the data arguments select (InputError for a missing folder or a bad date)."""
    return Replay(args.data_dir, config, exchange=args.exchange,
                  symbols=args.symbols.split(",") if args.symbols else None,
                  start=args.start, end=args.end, skip_bad_rows=args.skip_bad_rows, on_progress=on_progress,
                  metrics_dir=args.metrics_dir, instruments=args.instruments, aggregate=args.aggregate)


FACTOR_DEFAULTS = FactorConfig().options()
_FACTOR_HELP = {
    "freq": "bar frequencies, e.g. 15m,1h", "lateness": "allowed lateness, e.g. 5s, 500ms",
    "z_windows": "z-score windows in bars", "pct_windows": "percentile-rank windows",
    "bucket_quantiles": "size-bucket quantiles", "bucket_hours": "size-bucket lookbacks in hours",
    "mining_windows": "exceedance windows in bars", "mining_quantiles": "exceedance quantiles",
}


def add_factor_arguments(p: argparse.ArgumentParser, defaults: dict[str, str] | None = FACTOR_DEFAULTS) -> None:
    """The factor parameters (FACTORS.md sections 2, 5 and 6), identical for replay and live.

    With `defaults=None` every value defaults to None, so a caller can tell a flag that was given
    from one that was not (and take the value from a config file instead).
    """
    for dest, text in _FACTOR_HELP.items():
        flag = "--" + dest.replace("_", "-")
        shown = (defaults or FACTOR_DEFAULTS)[dest]
        p.add_argument(flag, dest=dest, default=None if defaults is None else defaults[dest],
                       help=f"{text} (default: {shown})")


def factor_config(args: argparse.Namespace) -> FactorConfig:
    """The FactorConfig the factor arguments describe (InputError when one is invalid)."""
    return FactorConfig.from_options(vars(args))


def summary_text(stats: ReplayStats, out: str) -> str:
    """The summary line(s) printed after a replay."""
    late = ", ".join(f"{count:,} ({freq})" for freq, count in stats.late_events.items()) or "0"
    seconds = max(stats.seconds, 1e-9)
    text = (f"streamliq replay: {stats.rows:,} rows for {len(stats.symbols):,} symbols from "
            f"{stats.events:,} events in {stats.files:,} files; late events {late}; "
            f"{seconds:.1f} s ({stats.events / seconds:,.0f} events/s) -> {out}")
    if stats.metric_rows or stats.metric_duplicates:
        text += (f"\npositioning rows: {stats.metric_rows:,} read, {stats.metric_duplicates:,} exact duplicates "
                 f"dropped")
    if stats.unreadable:
        text += f"\nskipped {len(stats.unreadable):,} unreadable file(s): " + "; ".join(stats.unreadable)
    if stats.missing:
        text += "\ndays without data, their bars marked gap = true:\n" + describe_missing(stats.missing)
    if stats.bad_rows.total:
        kinds = "; ".join(f"{n:,} {kind}" for kind, n in stats.bad_rows.counts.most_common())
        text += f"\nskipped {stats.bad_rows.total:,} bad rows: {kinds}"
    return text
