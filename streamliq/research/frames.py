"""Reading a factor file (or dataset folder) into a DataFrame, for the research commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..engine.freq import parse_freq
from ..errors import InputError

SERIES_KEY = ["exchange", "symbol", "freq"]
REQUIRED = (*SERIES_KEY, "bar_start")
TIME_COLUMNS = ("bar_start", "bar_end")


def read_factors(path: str | Path) -> pd.DataFrame:
    """A factor file of any `streamliq replay --out` format, or a Parquet folder (daemon parts, hive dataset)."""
    source = Path(path)
    if not source.exists():
        raise InputError(f"factor file '{path}' does not exist")
    suffix = source.suffix.lower()
    try:
        if source.is_dir() or suffix == ".parquet":
            frame = _read_parquet(source)
        elif suffix == ".csv":
            frame = pd.read_csv(source)
        elif suffix in (".jsonl", ".json", ".ndjson"):
            frame = pd.read_json(source, lines=True)
        else:
            raise InputError(f"factor file '{path}': unknown extension, use .parquet, .csv, .jsonl or a folder")
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: cannot read as a factor file: {exc}") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a streamliq factor file (no column {', '.join(missing)})")
    for column in TIME_COLUMNS:
        if column in frame.columns and not isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in SERIES_KEY:
        frame[column] = frame[column].astype(str)
    return frame


def _read_parquet(source: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.dataset as ds

    if source.is_dir():
        # A hive dataset (`freq=1h/symbol=X/`) carries its key columns in the folder names.
        partitioning = "hive" if any(p.name.startswith(("freq=", "symbol=")) for p in source.iterdir()) else None
        try:
            return ds.dataset(source, format="parquet", partitioning=partitioning).to_table().to_pandas()
        except pa.ArrowInvalid as exc:
            raise InputError(f"{source}: not a Parquet dataset: {exc}") from None
    try:
        return pd.read_parquet(source)
    except pa.ArrowInvalid as exc:
        raise InputError(f"{source}: not a Parquet file: {exc}") from None


def select_freq(frame: pd.DataFrame, freq: str | None, path: str | Path) -> tuple[pd.DataFrame, str]:
    """The rows of one frequency: `freq`, or the file's only one (an error names the choices)."""
    freqs = sorted(frame["freq"].unique())
    if not freqs:
        raise InputError(f"{path}: the file has no rows")
    if freq is None:
        if len(freqs) > 1:
            raise InputError(f"{path}: rows at several frequencies ({', '.join(freqs)}): choose one with --freq")
        name = freqs[0]
    else:
        name = parse_freq(freq).name
    rows = frame[frame["freq"] == name]
    if rows.empty:
        raise InputError(f"{path}: no rows for frequency {name}; its frequencies are {', '.join(freqs)}")
    return rows.reset_index(drop=True), name


def parse_horizons(text: str) -> list[int]:
    """`1,4,24` -> [1, 4, 24]: positive whole numbers of bars, sorted, no duplicates."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InputError(f"invalid --horizons {text!r}: use whole numbers of bars, e.g. 1,4,24") from None
    if not values or values[0] < 1:
        raise InputError(f"invalid --horizons {text!r}: use whole numbers of bars >= 1, e.g. 1,4,24")
    return values
