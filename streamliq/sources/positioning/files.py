"""Reading one positioning file (REST dump or data.binance.vision `metrics`) into checked columns.

Files are small (a month of 5-minute rows is ~8,600 lines a symbol), so each is read whole,
as text, and every cell is checked so an error can name the file, line and field.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...badinput import BadInputCounter
from ...errors import InputError, bad_row_message
from .spec import VISION_COLUMNS, Source
from .times import parse_times_us


@dataclass(frozen=True)
class MetricFile:
    """One file of a positioning stream; `symbol` stands in for a missing symbol column."""

    path: Path
    source: Source
    symbol: str | None = None


def read_metric_file(item: MetricFile, bad_rows: BadInputCounter | None = None) -> pd.DataFrame:
    """Columns `line, symbol, time_us` and the source's value columns (float, NaN = empty cell).

    Malformed cells raise InputError naming file, line and field, or with `bad_rows` are
    counted there and their rows dropped.
    """
    cells, lines = _cells(item)
    source = item.source
    frame = pd.DataFrame({"line": lines})
    bad = np.zeros(len(cells), dtype=bool)

    def check(mask: np.ndarray, field: str, why: str) -> None:
        nonlocal bad
        mask = mask & ~bad
        if not mask.any():
            return
        first = int(np.argmax(mask))
        message = bad_row_message(str(item.path), int(frame["line"].iat[first]), field, cells[field].iat[first], why)
        if bad_rows is None:
            raise InputError(message)
        bad_rows.record(f"{field}: {why}", message, int(mask.sum()))
        bad |= mask

    if "symbol" in cells:
        symbol = cells["symbol"].str.strip().str.upper()
        check((symbol == "").to_numpy(), "symbol", "missing value")
    elif item.symbol is not None:
        symbol = pd.Series(item.symbol, index=cells.index)
    else:
        raise InputError(f"{item.path}: no symbol column and no symbol known for this file")
    frame["symbol"] = symbol.to_numpy(dtype=object)
    time_us, problems = parse_times_us(cells[source.time_column])
    for why, mask in problems:
        check(mask, source.time_column, why)
    frame["time_us"] = time_us
    for column in source.value_columns:
        text = cells[column].str.strip()
        values = pd.to_numeric(text.where(text != ""), errors="coerce")
        check((values.isna() & (text != "")).to_numpy(), column, "not a number")
        frame[column] = values.to_numpy(dtype=np.float64)
    return frame[~bad].reset_index(drop=True)


def _cells(item: MetricFile) -> tuple[pd.DataFrame, np.ndarray]:
    """The data cells as text with named columns (blank lines dropped), and their line numbers."""
    try:
        raw = pd.read_csv(item.path, dtype=str, header=None, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{item.path}: the file is empty") from None
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as exc:  # ParserError is a ValueError
        raise InputError(f"{item.path}: cannot read the file: {exc}".replace("\n", " ")) from None
    header = [str(cell).strip() for cell in raw.iloc[0]] if len(raw) else []
    source = item.source
    if source.time_column in header:
        cells, first_line = raw.iloc[1:], 2
        cells.columns = header
    elif source.name == "metrics" and len(header) == len(VISION_COLUMNS):  # old files have no header
        cells, first_line = raw, 1
        cells.columns = list(VISION_COLUMNS)
    else:
        raise InputError(f"{item.path}:1: missing header with column '{source.time_column}' "
                         f"(got {','.join(header)[:200]!r})")
    wanted = (source.time_column, *source.value_columns, *(("symbol",) if source.has_symbol else ()))
    for column in wanted:
        if column not in cells.columns:
            raise InputError(f"{item.path}:1: missing column '{column}' (header: {','.join(header)[:200]})")
    blank = (cells == "").all(axis=1).to_numpy()
    lines = np.arange(first_line, first_line + len(cells))[~blank]
    return cells[~blank].reset_index(drop=True), lines
