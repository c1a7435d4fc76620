"""Records: everything that reaches the live core, as JSON lines, and hourly gzip files of them.

A record is a dict with the local time `t` (µs), a kind `k` and, for what comes from one venue,
the venue's registry name `v` (absent in recordings made before there were several venues: then
it is `binance`):

    {"t": ..., "k": "start", "symbols": [...] | null,   a daemon (re)started following these symbols
     "venues": {"bybit": [...], ...}}                    (per venue; `symbols` is Binance's)
    {"t": ..., "k": "instruments", "v": "okx", "m": "<body>"}  an instruments endpoint's answer:
                                                         the contract specs used from then on
    {"t": ..., "k": "ws", "c": "c0.1", "v": ..., "m": "<frame>"}  a raw websocket text frame of
                                                         socket c0.1 (keep-alive answers are not kept);
                                                         "b": true marks a binary frame (decoded)
    {"t": ..., "k": "oi", "v": ..., "m": "<body>"}       a GET /fapi/v1/openInterest response body
    {"t": ..., "k": "metrics", "v": ..., "e": "takerlongshortRatio", "s": "BTCUSDT", "p": "5m", "m": "<body>"}
                                                         a GET /futures/data/<e>?symbol=<s>&period=<p> body
    {"t": ..., "k": "down", "c": "c0", "v": ..., "s": [...] | null, "since": ...}  connection c0
                                                         (carrying symbols s) is down, unseen since `since`
    {"t": ..., "k": "up", "c": "c0", "v": ...}           connection c0 is subscribed again
    {"t": ..., "k": "tick"}                              the wall clock reached t: close due bars

`--record DIR` writes one file per UTC hour, `DIR/streamliq-YYYYMMDDTHH.jsonl.gz`. A restart in
the same hour appends a new gzip member, which gzip readers read as one stream.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import InputError

log = logging.getLogger("streamliq.record")
PATTERN = "streamliq-*.jsonl.gz"


def hour_file(directory: Path, t_us: int) -> Path:
    """The recording file holding records of local time `t_us`."""
    return directory / time.strftime("streamliq-%Y%m%dT%H.jsonl.gz", time.gmtime(t_us / 1e6))


class RecordWriter:
    """Appends records to the hourly gzip file of their time; each file is closed cleanly."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path: Path | None = None
        self._file: IO[bytes] | None = None
        self.records = 0

    def write(self, record: dict) -> None:
        path = hour_file(self.directory, record["t"])
        if path != self._path:
            self.close()
            self._path, self._file = path, gzip.open(path, "ab", compresslevel=5)  # noqa: SIM115 - closed by close()
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self.records += 1

    def flush(self) -> None:
        """Make what was written so far readable even if the process dies (a gzip sync flush)."""
        if self._file is not None:
            self._file.flush(zlib.Z_SYNC_FLUSH)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._path, self._file = None, None


def read_records(directory: str | Path) -> Iterator[dict]:
    """Every record of a recording folder, in time order (file by file, line by line).

    A file cut short by a crash ends where its readable data ends, with a warning; a line that
    is not a record stops the replay with an error naming the file and line.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"recording folder '{directory}' does not exist")
    files = sorted(directory.glob(PATTERN))
    if not files:
        raise InputError(f"recording folder '{directory}' holds no {PATTERN} files")
    for path in files:
        yield from _read_file(path)


def _read_file(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rb") as f:
        line_no = 0
        while True:
            try:
                line = f.readline()
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                log.warning("%s: recording ends early after line %d (%s)", path, line_no, exc)
                return
            if not line:
                return
            line_no += 1
            if not line.endswith(b"\n"):
                log.warning("%s:%d: incomplete last record skipped", path, line_no)
                return
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not (isinstance(record, dict) and isinstance(record.get("t"), int) and "k" in record):
                raise InputError(f"{path}:{line_no}: not a streamliq record: {line[:120]!r}")
            yield record
