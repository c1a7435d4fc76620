"""File sinks: Parquet, CSV and JSON lines, chosen by the output path's extension.

A file is written under a temporary name and renamed into place by `close()`, so a failed
run never leaves a partial output file behind (`abort()` removes the temporary file). Parquet
and CSV row groups are converted and written on a background thread, at most two groups
behind, so a replay computes the next bars while the last ones are compressed.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from ..engine.block import RowBlock
from ..errors import InputError
from ..rows import arrow_schema, rows_to_json, to_arrow

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
# Rows per Parquet row group at least: a source paced by a WebSocket client (serve) hands over
# chunks of a few thousand rows, and every group (and every Arrow batch in one) has a fixed
# encoding cost, so those are joined; the 50k-row chunks of an unpaced serve go alone, uncopied.
ROW_GROUP = 32_768
# zstd is smaller and faster than the default snappy on factor columns; dictionaries only pay
# off on the name columns (a float column's dictionary is tried, then dropped, at a cost), and
# min/max statistics only on the columns a reader filters row groups by (names and bar times).
# Values go to the column writers 64k at a time (the default 1k costs ~10% in per-batch work).
_INDEX_COLUMNS = ["exchange", "symbol", "freq", "bar_start", "bar_end"]
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 1, "use_dictionary": _INDEX_COLUMNS[:3],
                   "write_statistics": _INDEX_COLUMNS, "write_batch_size": 1 << 16}


def csv_text(table: pa.Table) -> str:
    """CSV lines of a table of rows (no header), bar times as ISO UTC."""
    return table.to_pandas().to_csv(index=False, header=False, date_format="%Y-%m-%dT%H:%M:%SZ",
                                    lineterminator="\n")


def output_format(path: str | Path) -> str:
    """The format an output path names by its extension ("-" is JSON lines on stdout)."""
    if str(path) == "-":
        return "jsonl"
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"output '{path}': unknown extension, use .parquet, .csv, .jsonl or -")
    if not path.parent.exists():
        raise InputError(f"output '{path}': folder '{path.parent}' does not exist")
    return kind


class FileSink:
    """Writes rows to PATH (format from the extension) or JSON lines to stdout for `-`."""

    def __init__(self, path: str | Path, columns: list[str]) -> None:
        self.columns = columns
        self.format = output_format(path)
        self.path = None if str(path) == "-" else Path(path)
        self.schema = arrow_schema(columns)
        self.rows_written = 0
        self._buffer: list[RowBlock | list[dict]] = []
        self._buffered = 0
        self._writer = _Background() if self.format != "jsonl" else None
        self._tmp = None if self.path is None else self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._handle: IO[str] | None = None
        self._parquet: pq.ParquetWriter | None = None
        if self.path is None:
            self._handle = sys.stdout
        elif self.format == "parquet":
            self._parquet = pq.ParquetWriter(self._tmp, self.schema, **PARQUET_OPTIONS)
        else:
            self._handle = open(self._tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            if self.format == "csv":
                self._handle.write(",".join(columns) + "\n")

    def write(self, rows: RowBlock | list[dict]) -> None:
        """Add rows: a block, or dicts (written in row groups of at least `ROW_GROUP`)."""
        self.rows_written += len(rows)
        if self.format == "jsonl":
            self._handle.write("".join(line + "\n" for line in rows_to_json(rows)))
            return
        if len(rows):
            self._buffer.append(rows)
            self._buffered += len(rows)
        if self._buffered >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        parts, self._buffer, self._buffered = self._buffer, [], 0
        self._writer.submit(self._write_group, parts)

    def _write_group(self, parts: list[RowBlock | list[dict]]) -> None:
        if all(isinstance(part, RowBlock) for part in parts):  # one Arrow batch per group
            parts = [RowBlock.concat(parts, self.columns)]
        table = pa.concat_tables([to_arrow(part, self.schema) for part in parts])
        if self._parquet is not None:
            self._parquet.write_table(table)
        else:
            self._handle.write(csv_text(table))

    def close(self) -> None:
        """Finish writing and move the file into place."""
        self._flush()
        if self._writer is not None:
            self._writer.finish()
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
        if self._writer is not None:
            self._writer.finish(raise_errors=False)
        if self._parquet is not None:
            self._parquet.close()
        elif self._handle is not None and self.path is not None:
            self._handle.close()
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()


class _Background:
    """Runs calls on one thread, in order, at most `depth` behind the caller.

    A call's error is raised to the caller at its next `submit` or at `finish`.
    """

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="streamliq-writer")
        self._pending: deque[Future] = deque()

    def submit(self, call: Callable[..., None], *args: object) -> None:
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(call, *args))

    def finish(self, raise_errors: bool = True) -> None:
        """Wait for every call, then stop the thread."""
        try:
            while self._pending:
                future = self._pending.popleft()
                if raise_errors:
                    future.result()
                else:
                    future.cancel() or future.exception()
        finally:
            self._pool.shutdown(wait=True)
