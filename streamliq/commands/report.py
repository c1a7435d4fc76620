"""`streamliq report`: which factors predict forward returns, as an HTML page and report.json."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..errors import InputError
from ..research.defaults import MIN_ROWS, TOP_FACTORS
from .labels import add_input_arguments, check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="an HTML report of which factors predict forward returns (needs matplotlib)",
                       description="Rank ICs with Newey-West t per factor and horizon, quintile returns, IC decay "
                                   "and stability, event studies and the factors' correlations: one self-contained "
                                   "HTML page plus a JSON file with every number (needs streamliq[research]).")
    add_input_arguments(p)
    p.add_argument("--factors", dest="patterns", metavar="PATTERN",
                   help="only these factor columns: comma-separated globs, e.g. '*_z24,whale_index'")
    p.add_argument("--freq", help="bar frequency, e.g. 1h (default: the only one in the file)")
    p.add_argument("--min-rows", type=int, default=MIN_ROWS,
                   help="aligned rows a factor needs to be ranked (default: %(default)s)")
    p.add_argument("--top", type=int, default=TOP_FACTORS,
                   help="factors shown in the quintile, decay and stability charts (default: %(default)s)")
    p.add_argument("--out", default="report.html", help="HTML page; the JSON goes beside it as .json "
                                                        "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the rows of one frequency, compute the report, write the page and its JSON."""
    from ..research.frames import parse_horizons, read_factors, select_freq  # pandas: only for this command
    from ..research.report import build_report

    out = Path(args.out)
    check_output(out, (".html", ".htm"))
    horizons = parse_horizons(args.horizons)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("streamliq report needs matplotlib: pip install 'streamliq[research]'") from None
    from ..research.html import render_html

    started = time.monotonic()

    def say(step: str) -> None:
        if not args.quiet:
            print(f"streamliq report: {time.monotonic() - started:6.1f}s  {step}", file=sys.stderr, flush=True)

    say(f"reading {args.factors}")
    frame = read_factors(args.factors)
    if "close" not in frame.columns:
        raise InputError(f"{args.factors}: no 'close' column: forward returns need the close price "
                         "(replay with derivative_ticker files)")
    frame, freq = select_freq(frame, args.freq, args.factors)
    report = build_report(frame, horizons, args.patterns, entry_delay=args.entry_delay, top=args.top,
                          min_rows=args.min_rows, progress=say)
    report["source"] = str(args.factors)
    page = render_html(report, str(args.factors), progress=say)
    json_path = out.with_suffix(".json")
    _write_text(json_path, json.dumps(report, indent=1, allow_nan=False))
    _write_text(out, page)
    if not any(report["labelled_rows"].values()):
        print("streamliq report: warning: no row has a forward return (closes missing, or every window crosses a "
              "gap): every IC is empty", file=sys.stderr)
    ranked = sum(r["ranked"] for r in report["table"])
    print(f"streamliq report: {len(report['factors'])} factors x {len(horizons)} horizons on {report['rows']:,} "
          f"{freq} rows ({ranked} ranked), {time.monotonic() - started:.1f} s -> {out}, {json_path}",
          file=sys.stderr)
    return 0


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
