"""The daemon's output file: rows appended as bars close, valid after every write and restart.

- `.jsonl` / `.csv` (or `-`): appended to the file, one line per row; a CSV header is written only
  when the file is new. Each write is flushed, so a reader (or a SIGTERM) never sees half a batch.
- `.parquet`: Parquet files cannot be appended to, so PATH is a folder of part files
  (`part-<UTC start>-<pid>-<n>.parquet`), a new part every hour and at every start. A part is written
  under a temporary name and renamed when complete, so the folder only ever holds valid files;
  `pandas.read_parquet(PATH)` reads them all.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path
from typing import IO

import pyarrow.parquet as pq

from ..engine.block import RowBlock
from ..errors import InputError
from ..rows import arrow_schema, rows_to_json, to_arrow
from .files import PARQUET_OPTIONS, csv_text, output_format

PART_SECONDS = 3600


class AppendingFileSink:
    """Appends closed rows to `path` (format from the extension)."""

    def __init__(self, path: str | Path, columns: list[str]) -> None:
        self.format = output_format(path)
        self.path = None if str(path) == "-" else Path(path)
        self.schema = arrow_schema(columns)
        self.rows_written = 0
        self._handle: IO[str] | None = None
        self._part: pq.ParquetWriter | None = None
        self._part_paths: tuple[Path, Path] | None = None
        self._part_started = 0.0
        if self.path is None:
            self._handle = sys.stdout
        elif self.format == "parquet":
            if self.path.exists() and not self.path.is_dir():
                raise InputError(f"output '{path}': live Parquet output is a folder of parts, "
                                 "but a file of that name exists")
            self.path.mkdir(exist_ok=True)
        else:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._handle = open(self.path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
            if new and self.format == "csv":
                self._handle.write(",".join(columns) + "\n")
                self._handle.flush()

    def write(self, rows: RowBlock | list[dict]) -> None:
        """Append rows (a block or dicts) now."""
        if not len(rows):
            return
        self.rows_written += len(rows)
        if self.format == "jsonl":
            self._handle.write("".join(line + "\n" for line in rows_to_json(rows)))
        elif self.format == "csv":
            self._handle.write(csv_text(to_arrow(rows, self.schema)))
        else:
            self._parquet_part().write_table(to_arrow(rows, self.schema))
            return
        self._handle.flush()

    def sync(self) -> None:
        """Make the rows written so far durable (before a checkpoint is saved)."""
        if self._handle is not None and self.path is not None:
            os.fsync(self._handle.fileno())
        if self._part is not None and time.time() - self._part_started >= PART_SECONDS:
            self._close_part()

    def close(self) -> None:
        if self._part is not None:
            self._close_part()
        if self._handle is not None:
            if self.path is not None:
                self._handle.close()
            else:
                self._handle.flush()

    def _parquet_part(self) -> pq.ParquetWriter:
        if self._part is None:
            self._part_started = time.time()
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self._part_started))
            final = next(path for n in itertools.count()  # never replace a part of an earlier session
                         if not (path := self.path / f"part-{stamp}-{os.getpid()}-{n}.parquet").exists())
            tmp = self.path / f".{final.name}.tmp"
            self._part_paths = (tmp, final)
            self._part = pq.ParquetWriter(tmp, self.schema, **PARQUET_OPTIONS)
        return self._part

    def _close_part(self) -> None:
        self._part.close()
        tmp, final = self._part_paths
        os.replace(tmp, final)
        self._part, self._part_paths = None, None
