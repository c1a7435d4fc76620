"""`parquet:PATH`, `csv:PATH`, `jsonl:PATH|-` behind the sink interface (for `streamliq serve`).

Wraps `FileSink` (written under a temporary name, moved into place on close); the writes run
on a worker thread so Parquet encoding never stalls the event loop. A full queue drops the
incoming rows: what the file already queued is kept.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..errors import InputError
from .chunk import RowChunk
from .fanout import Sink
from .files import FORMATS, FileSink
from .specs import SinkSpec


class FileRowSink(Sink):
    drop_oldest = False

    def __init__(self, spec: SinkSpec, columns: list[str], queue_rows: int = 200_000) -> None:
        if spec.path != "-" and FORMATS.get(Path(spec.path).suffix.lower()) != spec.kind:
            extensions = ", ".join(ext for ext, kind in FORMATS.items() if kind == spec.kind)
            raise InputError(f"sink {spec.text!r}: a {spec.kind} file name ends in {extensions}")
        self.spec = spec
        self.name = spec.text
        self.columns = columns
        self.queue_rows = queue_rows
        self.file: FileSink | None = None

    async def start(self) -> None:
        self.file = await asyncio.to_thread(FileSink, self.spec.path, self.columns)

    async def send(self, rows: RowChunk) -> None:
        await asyncio.to_thread(self.file.write, rows.to_write())  # columns when the source gave a block

    async def close(self) -> None:
        if self.file is not None:
            await asyncio.to_thread(self.file.close)
