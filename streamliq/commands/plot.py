"""`streamliq plot`: a chart of one symbol's factors from a factor file or dataset."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import InputError
from ..plot import DEFAULT_FACTOR

IMAGE_FORMATS = (".png", ".svg", ".pdf")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="chart one symbol's price, liquidations and factors",
                       description="Draw close price with long/short liquidation bars, a rolling factor with "
                                   "its +-3 band, and imbalance, on one UTC time axis (needs streamliq[plot]).")
    p.add_argument("factors", metavar="FACTORS", help="a factor Parquet file, or a dataset folder from "
                                                      "`streamliq replay --workers/--scheduler`")
    p.add_argument("--symbol", required=True, help="the symbol to draw, e.g. ETHUSDT")
    p.add_argument("--freq", help="bar frequency, e.g. 1h (default: the only one in the file)")
    p.add_argument("--from", dest="start", metavar="TIME", help="first bar, YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)")
    p.add_argument("--to", dest="end", metavar="TIME", help="last bar, YYYY-MM-DD (whole day) or a time (UTC)")
    p.add_argument("--factor", default=DEFAULT_FACTOR, help="factor of the middle panel (default: %(default)s)")
    p.add_argument("--size", default="1600x1000", help="image size in pixels, WIDTHxHEIGHT (default: %(default)s)")
    p.add_argument("--out", default="chart.png", help="image file: .png, .svg or .pdf (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the symbol's rows and draw them to `--out`."""
    width, height = parse_size(args.size)
    out = Path(args.out)
    if out.suffix.lower() not in IMAGE_FORMATS:
        raise InputError(f"output '{args.out}': unknown extension, use {', '.join(IMAGE_FORMATS)}")
    if not out.parent.exists():
        raise InputError(f"output '{args.out}': folder '{out.parent}' does not exist")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("streamliq plot needs matplotlib: pip install 'streamliq[plot]'") from None
    from ..plot import draw_chart, load_chart_data

    chart = load_chart_data(args.factors, args.symbol, args.freq, args.start, args.end, args.factor)
    draw_chart(chart, out, width, height)
    print(f"streamliq plot: {len(chart.frame):,} {chart.freq} bars of {chart.symbol} -> {out}", file=sys.stderr)
    return 0


def parse_size(text: str) -> tuple[int, int]:
    """`1600x1000` -> (1600, 1000); each side between 100 and 10000 pixels."""
    match = _SIZE_RE.match(text)
    if not match or not all(100 <= int(n) <= 10_000 for n in match.groups()):
        raise InputError(f"invalid --size {text!r}: use WIDTHxHEIGHT in pixels, each 100 to 10000 (e.g. 1600x1000)")
    return int(match[1]), int(match[2])
