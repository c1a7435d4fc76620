"""`streamliq labels`: forward-return label columns added to a factor file, for training a model."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

OUTPUT_FORMATS = (".parquet", ".csv")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("labels", help="add forward-return labels to a factor file (offline, for training)",
                       description="Add fwd_ret_H, fwd_absret_H, fwd_maxdd_H and fwd_maxup_H columns: log returns "
                                   "from the close D bars after each row to the close H bars later, in the row's "
                                   "own series; NaN across missing or gap bars and past the end.")
    add_input_arguments(p)
    p.add_argument("--freq", help="keep only this frequency (default: every frequency of the file)")
    p.add_argument("--out", default="train.parquet", help="output: .parquet or .csv (default: %(default)s)")
    p.set_defaults(run=run)


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """FACTORS, --horizons and --entry-delay: what `labels` and `report` share."""
    p.add_argument("factors", metavar="FACTORS", help="a factor file (.parquet, .csv, .jsonl) or a Parquet folder")
    p.add_argument("--horizons", default="1,4,24", help="horizons in bars (default: %(default)s)")
    p.add_argument("--entry-delay", type=int, default=0, metavar="D",
                   help="bars between the row and the entry close (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Read the factor rows, add the labels, write `--out` atomically."""
    from ..research.forward import label_name, labels  # pandas loads only for this command
    from ..research.frames import parse_horizons, read_factors, select_freq

    out = Path(args.out)
    check_output(out, OUTPUT_FORMATS)
    horizons = parse_horizons(args.horizons)
    frame = read_factors(args.factors)
    if args.freq:
        frame, _ = select_freq(frame, args.freq, args.factors)
    labelled = labels(frame, horizons, entry_delay=args.entry_delay)
    write_frame(labelled, out)
    defined = ", ".join(f"{label_name('ret', h)} {labelled[label_name('ret', h)].notna().sum():,}" for h in horizons)
    print(f"streamliq labels: {len(labelled):,} rows, defined labels: {defined} -> {out}", file=sys.stderr)
    return 0


def check_output(out: Path, formats: tuple[str, ...]) -> None:
    """An InputError unless `out` has one of `formats` and its folder exists."""
    if out.suffix.lower() not in formats:
        raise InputError(f"output '{out}': unknown extension, use {', '.join(formats)}")
    if not out.parent.exists():
        raise InputError(f"output '{out}': folder '{out.parent}' does not exist")


def write_frame(frame: pd.DataFrame, out: Path) -> None:
    """Write under a temporary name, then move into place: a failed run leaves no partial file."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:  # floats as repr: exact round trip
            frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
