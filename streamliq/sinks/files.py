"""File sinks: Parquet, CSV and JSON lines, chosen by the output path's extension.

A file is written under a temporary name and renamed into place by `close()`, so a failed
run never leaves a partial output file behind (`abort()` removes the temporary file).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import INT_COLUMNS
from ..errors import InputError

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
ROW_GROUP = 50_000


def arrow_schema(columns: list[str]) -> pa.Schema:
    """The output schema: strings, UTC timestamps, int64 counts, bool gap, float64 factors."""
    def kind(name: str) -> pa.DataType:
        if name in ("exchange", "symbol", "freq"):
            return pa.string()
        if name in ("bar_start", "bar_end"):
            return pa.timestamp("us", tz="UTC")
        if name in INT_COLUMNS:
            return pa.int64()
        if name == "gap":
            return pa.bool_()
        return pa.float64()
    return pa.schema([(name, kind(name)) for name in columns])


def format_time(value: pd.Timestamp) -> str:
    """ISO 8601 UTC with a Z (`2025-01-26T16:15:00Z`, microseconds only when present)."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{value.microsecond:06d}Z" if value.microsecond else f"{text}Z"


def row_to_json(row: dict) -> str:
    """One row as a JSON object: NaN as null, timestamps as ISO strings."""
    out = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            value = format_time(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return json.dumps(out, separators=(",", ":"))


class FileSink:
    """Writes rows to PATH (format from the extension) or JSON lines to stdout for `-`."""

    def __init__(self, path: str | Path, columns: list[str]) -> None:
        self.columns = columns
        self.path = None if str(path) == "-" else Path(path)
        if self.path is None:
            self.format = "jsonl"
        else:
            self.format = FORMATS.get(self.path.suffix.lower())
            if self.format is None:
                raise InputError(f"output '{path}': unknown extension, use .parquet, .csv, .jsonl or -")
            if not self.path.parent.exists():
                raise InputError(f"output '{path}': folder '{self.path.parent}' does not exist")
        self.schema = arrow_schema(columns)
        self.rows_written = 0
        self._buffer: list[dict] = []
        self._tmp = None if self.path is None else self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._handle: IO[str] | None = None
        self._parquet: pq.ParquetWriter | None = None
        if self.path is None:
            self._handle = sys.stdout
        elif self.format == "parquet":
            self._parquet = pq.ParquetWriter(self._tmp, self.schema)
        else:
            self._handle = open(self._tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            if self.format == "csv":
                self._handle.write(",".join(columns) + "\n")

    def write(self, rows: list[dict]) -> None:
        """Add rows (written in blocks)."""
        self.rows_written += len(rows)
        if self.format == "jsonl":
            for row in rows:
                self._handle.write(row_to_json(row) + "\n")
            return
        self._buffer += rows
        if len(self._buffer) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._buffer = []
        if self._parquet is not None:
            self._parquet.write_table(table)
        else:
            self._handle.write(table.to_pandas().to_csv(
                index=False, header=False, date_format="%Y-%m-%dT%H:%M:%SZ", lineterminator="\n"))

    def close(self) -> None:
        """Finish writing and move the file into place."""
        self._flush()
        if self._parquet is not None:
            self._parquet.close()
        elif self._handle is not None and self.path is not None:
            self._handle.close()
        else:
            sys.stdout.flush()
        if self._tmp is not None:
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Stop and remove the partial file."""
        if self._parquet is not None:
            self._parquet.close()
        elif self._handle is not None and self.path is not None:
            self._handle.close()
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()
