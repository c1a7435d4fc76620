"""Splitting a grouped Tardis file (PERPETUALS, ...) into per-instrument pieces, reading it once.

The file is read by the ordinary `TardisFileReader`, so checks, bad-row handling and the symbols
a grouped file skips are those of the single-process replay. Events are written to one Parquet
file in which every row group holds one instrument's events in file order; the returned index
lists each instrument's row groups. Buffers are flushed every `FLUSH_ROWS` events, so memory
stays bounded however large the grouped file is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..badinput import BadInputCounter
from ..engine.events import BATCH_TYPES, EventBatch, Instrument
from ..sources.discovery import TardisFile
from ..sources.tardis import TardisFileReader
from ..sources.units import UnitConverter

FLUSH_ROWS = 1_000_000


@dataclass(frozen=True)
class Piece:
    """One instrument's events in a split file: an arrival-ordered stream like a Tardis file."""

    path: str  # the split Parquet file
    channel: str
    row_groups: tuple[int, ...]
    rows: int
    size: int  # this piece's share of the grouped file's bytes (for progress)


SPLIT_BLOCK_BYTES = 1 << 23


@dataclass(frozen=True)
class SplitFile:
    """What splitting one grouped file produced."""

    source: TardisFile
    pieces: dict[Instrument, Piece]
    bad_rows: Counter[str]


def split_grouped_file(item: TardisFile, out: str | Path, symbols: frozenset[str] | None,
                       skip_symbols: frozenset[str], skip_bad_rows: bool, block_size: int = SPLIT_BLOCK_BYTES,
                       units: UnitConverter | None = None) -> SplitFile:
    """Read the grouped file `item` once and write its events by instrument to `out` (Parquet)."""
    bad_rows = BadInputCounter()
    reader = TardisFileReader(item, symbols, skip_symbols, skip_bad_rows, bad_rows, block_size=block_size,
                              units=units)
    buffers: dict[Instrument, list[EventBatch]] = defaultdict(list)
    groups: dict[Instrument, list[int]] = defaultdict(list)
    rows: Counter[Instrument] = Counter()
    tmp = Path(out).with_name(f".{Path(out).name}.tmp")
    written = 0
    with pq.ParquetWriter(tmp, _schema(item.channel)) as writer:
        buffered = 0
        for batch in reader:
            for index, instrument in enumerate(batch.instruments):
                part = batch.take(batch.instrument == index)
                buffers[instrument].append(part)
                rows[instrument] += len(part)
            buffered += len(batch)
            if buffered >= FLUSH_ROWS:
                written = _flush(writer, buffers, groups, written)
                buffered = 0
        _flush(writer, buffers, groups, written)
    tmp.replace(out)
    total = max(1, sum(rows.values()))
    size = item.path.stat().st_size
    pieces = {instrument: Piece(str(out), item.channel, tuple(groups[instrument]), rows[instrument],
                                size * rows[instrument] // total)
              for instrument in sorted(groups)}
    return SplitFile(item, pieces, bad_rows.counts)


def read_piece(piece: Piece, instrument: Instrument) -> Iterator[EventBatch]:
    """The events of a piece as batches of one instrument, in file order."""
    batch_type = BATCH_TYPES[piece.channel]
    source = pq.ParquetFile(piece.path)
    for group in piece.row_groups:
        table = source.read_row_group(group)
        columns = {name: table.column(name).to_numpy() for name in table.column_names}
        yield batch_type(instruments=(instrument,), instrument=np.zeros(table.num_rows, np.int32), **columns)


def _flush(writer: pq.ParquetWriter, buffers: dict[Instrument, list[EventBatch]],
           groups: dict[Instrument, list[int]], written: int) -> int:
    """Write every buffered instrument as one row group; return the row groups written so far."""
    for instrument, parts in buffers.items():
        table = pa.table({name: np.concatenate([getattr(p, name) for p in parts]) for name in writer.schema.names},
                         schema=writer.schema)
        writer.write_table(table, row_group_size=table.num_rows)
        groups[instrument].append(written)
        written += 1
    buffers.clear()
    return written


def _schema(channel: str) -> pa.Schema:
    """The split file's columns: the event fields of the channel's batches, without the instrument."""
    kinds = {"ts": pa.int64(), "arrival": pa.int64(), "side": pa.int8()}
    names = [f.name for f in fields(BATCH_TYPES[channel]) if f.name not in ("instruments", "instrument")]
    return pa.schema([(name, kinds.get(name, pa.float64())) for name in names])
