"""Shared pieces of the benchmark scripts: child-process timing with peak RSS, the data cache,
Tardis CSV writing and small report helpers.

Importing this module pulls in the standard library only: the measuring process must stay
small, because Linux carries the parent's peak RSS into a child's ``ru_maxrss`` at ``exec``.
numpy and pyarrow are imported inside the functions that write data, which run in generator
child processes.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported at run time only inside generator processes
    import numpy as np

JITTER_US = (5_000, 80_000)  # local_timestamp - timestamp
LIQ_HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")


# ---------------------------------------------------------------------------------------------
# measuring


@dataclass
class Run:
    """One child process: wall seconds, peak RSS, exit code and output."""

    seconds: float
    max_rss_kib: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def rss_mib(self) -> float:
        """Peak RSS in MiB."""
        return self.max_rss_kib / 1024

    def error_text(self) -> str:
        """The exit code and the tail of the output, for a failed run."""
        text = (self.stderr.strip() or self.stdout.strip() or "(no output)")[-4000:]
        return f"exit code {self.returncode}: {text}"


def measure(cmd: list[str], timeout: float | None = None,
            on_start: Callable[[subprocess.Popen], None] | None = None) -> Run:
    """Run `cmd`; wall time from Popen to wait4, peak RSS from the rusage wait4 returns.

    `on_start`, if given, is called with the running process right after it started (e.g. to
    start a client thread); the time it takes counts in the wall time.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        try:
            if on_start is not None:
                on_start(proc)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer:
                timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_maxrss, proc.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def streamliq_command(explicit: str | None) -> list[str]:
    """The streamliq console script: `explicit`, next to this Python, on PATH, or `-m`."""
    if explicit:
        return [explicit]
    beside = Path(sys.executable).with_name("streamliq")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("streamliq")
    return [found] if found else [sys.executable, "-m", "streamliq.cli"]


def parquet_rows(path: Path) -> int | None:
    """Rows of a parquet file (or dataset folder), read in a child so this process stays small."""
    code = ("import sys, pyarrow.dataset as ds; "
            "print(ds.dataset(sys.argv[1], format='parquet').count_rows())")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    return int(done.stdout) if done.returncode == 0 else None


def warm_cache(paths: list[Path]) -> None:
    """Read the files once so every measured run starts from the page cache."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass


def self_rss_mib() -> float:
    """This process's own peak RSS in MiB (a floor for what its children report)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def log(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def count_text(value: int | None) -> str:
    """A count with thousands separators, or n/a."""
    return "n/a" if value is None else f"{value:,}"


def fmt(value: float | None, spec: str) -> str:
    """`value` formatted, or 'failed' when it is missing."""
    return "failed" if value is None else format(value, spec)


# ---------------------------------------------------------------------------------------------
# the data cache (a folder per parameter set, valid once its manifest.json matches)


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest.json, or None."""
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def valid_manifest(folder: Path, expected: dict[str, Any]) -> dict | None:
    """The manifest when every key of `expected` matches and every listed file is intact."""
    manifest = read_manifest(folder)
    if manifest is None or any(manifest.get(key) != value for key, value in expected.items()):
        return None
    for entry in manifest["files"]:
        path = folder / entry["name"]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return None
    return manifest


def ensure_generated(folder: Path, expected: dict[str, Any], generate: Callable[[Path], list[str]]) -> dict:
    """The manifest of the cached set in `folder`, generated first when missing or stale.

    `generate(building)` returns the command of a child process that fills the fresh folder
    `building` (manifest last); it then replaces `folder`.
    """
    manifest = valid_manifest(folder, expected)
    if manifest is not None:
        return manifest
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = folder.with_name(f".{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    log(f"generating synthetic data in {folder} ...")
    started = time.perf_counter()
    try:
        subprocess.run(generate(building), check=True)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log(f"  generated in {time.perf_counter() - started:.1f} s")
    manifest = valid_manifest(folder, expected)
    if manifest is None:
        raise RuntimeError(f"generated data in {folder} does not match its manifest")
    return manifest


# ---------------------------------------------------------------------------------------------
# writing Tardis files (generator processes only)


def jitter_sort(rng: np.random.Generator, ts: np.ndarray, day_end: int) -> tuple[np.ndarray, np.ndarray]:
    """local_timestamp for `ts` (sorted); the order by it; rows arriving after the day left out.

    One connection delivers in order, so the jittered arrival is made non-decreasing (as a
    running maximum it stays within 5-80 ms of `ts`); the stable sort then keeps `ts` order.
    """
    import numpy as np

    local = np.maximum.accumulate(ts + rng.integers(JITTER_US[0], JITTER_US[1] + 1, len(ts)))
    order = np.argsort(local, kind="stable")
    order = order[local[order] < day_end]
    return local, order


def write_csv_gz(path: Path, header: tuple[str, ...], columns: dict[str, Any], level: int) -> int:
    """Write a Tardis-style gzip CSV (unquoted header and values, empty nulls); return rows.

    `pyarrow.CompressedOutputStream` has no compression level and its default (6) takes ~13 s
    per day of trades; level 1 takes ~1 s, makes files ~20 % larger and reads as fast.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({name: columns[name] for name in header})
    part = path.with_name(path.name + ".part")
    with gzip.GzipFile(part, "wb", compresslevel=level, mtime=0) as out:
        out.write((",".join(header) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                       batch_size=1 << 16))
    os.replace(part, path)
    return table.num_rows


# ---------------------------------------------------------------------------------------------
# repeated runs of one contender


@dataclass
class Tally:
    """Repeated runs of one command: best (smallest) wall time, largest peak RSS, first error."""

    name: str
    seconds: list[float] = field(default_factory=list)
    rss_mib: float | None = None
    error: str | None = None
    stdout: str = ""

    @property
    def best(self) -> float | None:
        """The smallest wall time in seconds, or None when no run succeeded."""
        return min(self.seconds) if self.seconds else None

    def run(self, cmd: list[str], label: str, timeout: float | None = None,
            on_start: Callable[[subprocess.Popen], None] | None = None) -> Run | None:
        """Measure `cmd` once (unless an earlier run failed); log and keep the numbers."""
        if self.error is not None:
            return None
        shown = ["<program>" if i and cmd[i - 1] == "-c" else arg for i, arg in enumerate(cmd)]
        log(f"{label} {self.name}: {' '.join(shown)}")
        run = measure(cmd, timeout, on_start)
        if run.returncode != 0:
            self.error = run.error_text()
            log(f"{label} {self.name} FAILED after {run.seconds:.1f} s, {self.error}")
            return run
        self.seconds.append(run.seconds)
        self.rss_mib = max(self.rss_mib or 0.0, run.rss_mib)
        self.stdout = run.stdout
        log(f"{label} {self.name} {run.seconds:.2f} s, peak RSS {run.rss_mib:.0f} MiB")
        return run

    def as_json(self) -> dict[str, Any]:
        """The numbers for a --json dump."""
        return {"seconds": self.best, "all_seconds": self.seconds, "peak_rss_mib": self.rss_mib,
                "error": self.error}


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table, numbers right-aligned."""
    return ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def verdict(ok: bool | None) -> str:
    """PASS, FAIL or n/a (a number is missing)."""
    return "n/a" if ok is None else "PASS" if ok else "FAIL"
