"""The output of a partitioned replay: a Parquet dataset in hive layout, by `freq` and `symbol`.

    OUT/_streamliq.json                                  what the run wrote (and that OUT is ours)
    OUT/freq=15m/symbol=BTCUSDT/part-0-binance-futures.parquet   rows closed while replaying
    OUT/freq=15m/symbol=BTCUSDT/part-1-binance-futures.parquet   rows closed at the run's end

Partition values are left out of the files (readers add them from the path) and encoded like
pyarrow's hive partitioning does (URI escaping). Files are written under a temporary name and
renamed into place. The run writes into a hidden folder next to OUT and moves it into place at
the end, replacing an earlier streamliq dataset but never a folder that is not one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..engine.block import RowBlock
from ..engine.events import Instrument
from ..errors import InputError
from ..sinks.files import FileSink

MARKER = "_streamliq.json"
PARTITION_COLUMNS = ("freq", "symbol")


def partition_dir(root: str | Path, freq: str, symbol: str) -> Path:
    """The folder of one (freq, symbol) partition."""
    return Path(root) / f"freq={quote(freq, safe='')}" / f"symbol={quote(symbol, safe='')}"


class PartitionWriter:
    """Rows of any instrument and frequency into their partitions, one Parquet file (named by
    `part` and the exchange) per instrument and frequency."""

    def __init__(self, root: str | Path, columns: list[str], part: int) -> None:
        self.root = root
        self.columns = [c for c in columns if c not in PARTITION_COLUMNS]
        self.part = part
        self.sinks: dict[tuple[str, str, str], FileSink] = {}
        self.rows = 0

    def write(self, block: RowBlock) -> None:
        """Add a block of closed rows, each row to the file of its exchange, symbol and frequency."""
        if not len(block):
            return
        keys: dict[tuple[str, str, str], int] = {}
        code = np.fromiter((keys.setdefault(key, len(keys)) for key in
                            zip(block["exchange"], block["symbol"], block["freq"], strict=True)),
                           np.int64, count=len(block))
        order = np.argsort(code, kind="stable")  # each partition's rows keep their order
        bounds = np.searchsorted(code[order], np.arange(len(keys) + 1))
        for key, n in keys.items():
            part = block.take(order[bounds[n]:bounds[n + 1]])
            sink = self.sinks.get(key)
            if sink is None:
                exchange, symbol, freq = key
                folder = partition_dir(self.root, freq, symbol)
                folder.parent.mkdir(exist_ok=True)  # not the root: a task left over from a stopped run fails
                folder.mkdir(exist_ok=True)
                name = f"part-{self.part}-{quote(exchange, safe='')}.parquet"
                sink = self.sinks[key] = FileSink(folder / name, self.columns)
            sink.write(part)
        self.rows += len(block)

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.close()

    def abort(self) -> None:
        for sink in self.sinks.values():
            sink.abort()


def remove_parts(root: str | Path, instrument: Instrument) -> None:
    """Remove every part file of an instrument (before a replay of it, or when it failed)."""
    exchange, symbol = (quote(name, safe="") for name in instrument)
    for path in Path(root).glob(f"freq=*/symbol={symbol}/part-[0-9]-{exchange}.parquet"):
        path.unlink()


class DatasetFolder:
    """The hidden folder a run writes into, and moving it to OUT at the end."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out).resolve()
        if str(out) == "-" or self.out.suffix.lower() in (".csv", ".jsonl", ".json", ".ndjson"):
            raise InputError(f"output '{out}': a partitioned replay writes a Parquet dataset, "
                             "so --out names a folder")
        if not self.out.parent.is_dir():
            raise InputError(f"output '{out}': folder '{self.out.parent}' does not exist")
        if self.out.exists() and not (self.out / MARKER).is_file():
            raise InputError(f"output '{out}' exists and is not a streamliq dataset: "
                             "choose another --out or remove it")
        self.tmp = self.out.with_name(f".{self.out.name}.tmp-{os.getpid()}")
        self.split_dir = self.tmp / ".split"

    def create(self) -> None:
        """Make the hidden folder the run writes into."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.split_dir.mkdir(parents=True)

    def commit(self, summary: dict) -> None:
        """Write the marker, drop the split files and move the dataset to OUT."""
        shutil.rmtree(self.split_dir, ignore_errors=True)
        for folder in sorted(self.tmp.glob("freq=*/symbol=*")) + sorted(self.tmp.glob("freq=*")):
            if not any(folder.iterdir()):  # a failed symbol's partitions
                folder.rmdir()
        (self.tmp / MARKER).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
        if self.out.exists():
            self.out.rename(old)
        self.tmp.rename(self.out)
        shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
