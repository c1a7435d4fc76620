"""Finding positioning files under a folder and grouping them into streams.

Accepted layouts (searched recursively, so both can sit side by side):

* REST dumps: `{DIR}/{name}/{name}_{YYYY-MM}.csv[.gz|.zip]`, `name` one of REST_DUMPS; the
  files of one endpoint folder are one stream, read month by month. `{DIR}` may also be a
  per-symbol folder (`dumps/BTCUSDT/openInterest/openInterest_2025-01.csv`).
* data.binance.vision: `{SYMBOL}-metrics-{YYYY-MM-DD}.csv` or `.zip`; each symbol's days are
  one stream.

`takerlongshortRatio` rows carry no symbol (the REST endpoint returns none). Its symbol is the
one symbol held by the other endpoints' dumps under the same `{DIR}`, else `{DIR}`'s own name
when it is a symbol (upper-case letters and digits, like BTCUSDT); otherwise it cannot be known,
which is an InputError.
"""

from __future__ import annotations

import re
import zipfile
from collections import defaultdict
from datetime import date
from pathlib import Path

import pandas as pd

from ...badinput import BadInputCounter
from ...errors import InputError
from .files import MetricFile
from .spec import REST_DUMPS, VISION_METRICS, VISION_PERIOD_US
from .stream import MetricStream

LAYOUTS = ("{name}/{name}_{YYYY-MM}.csv[.gz|.zip] with name in " + ", ".join(REST_DUMPS)
           + ", or {SYMBOL}-metrics-{YYYY-MM-DD}.csv[.zip]")
_REST_RE = re.compile(r"^(?P<name>" + "|".join(REST_DUMPS) + r")_(?P<month>\d{4}-\d{2})\.csv(?:\.gz|\.zip)?$")
_VISION_RE = re.compile(r"^(?P<symbol>[A-Za-z0-9_]+)-metrics-(?P<day>\d{4}-\d{2}-\d{2})\.(?:csv|zip|csv\.gz)$")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]+(?:_[A-Z0-9]+)?$")


def discover_metric_streams(data_dir: str | Path, symbols: frozenset[str] | None = None,
                            exchange: str | None = None,
                            bad_rows: BadInputCounter | None = None) -> list[MetricStream]:
    """One MetricStream per endpoint folder and per metrics symbol, in a fixed order."""
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"metrics folder '{root}' does not exist or is not a folder")
    rest: dict[tuple[Path, str], list[tuple[str, Path]]] = defaultdict(list)
    vision: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if match := _REST_RE.match(path.name):
            _check_date(path, match["month"] + "-01")
            name = match["name"]
            folder = path.parent.parent if path.parent.name == name else path.parent
            rest[(folder, name)].append((match["month"], path))
        elif match := _VISION_RE.match(path.name):
            _check_date(path, match["day"])
            symbol = match["symbol"].upper()
            if symbols is None or symbol in symbols:
                vision[symbol].append((match["day"], path))
    if not rest and not vision:
        raise InputError(f"no positioning file under '{root}': expected {LAYOUTS}")
    streams = []
    for (folder, name), files in sorted(rest.items()):
        source = REST_DUMPS[name]
        symbol = None
        if not source.has_symbol and any("symbol" not in _header(path) for _, path in files):
            symbol = _folder_symbol(folder, name, files[0][1], rest)
        streams.append(MetricStream([MetricFile(path, source, symbol) for _, path in sorted(files)],
                                    None, symbols, exchange, bad_rows))
    for symbol, files in sorted(vision.items()):
        streams.append(MetricStream([MetricFile(path, VISION_METRICS, symbol) for _, path in sorted(files)],
                                    VISION_PERIOD_US, symbols, exchange, bad_rows))
    return streams


def _check_date(path: Path, text: str) -> None:
    try:
        date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{path}: the file name has an impossible date {text!r}") from None


def _header(path: Path) -> list[str]:
    try:
        return [str(c).strip() for c in pd.read_csv(path, nrows=0, dtype=str).columns]
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot read the file: {exc}".replace("\n", " ")) from None


def _folder_symbol(folder: Path, name: str, example: Path, rest: dict) -> str:
    """The symbol of symbol-less rows in `folder` (see the module docstring)."""
    found: set[str] = set()
    for (other_folder, other), files in rest.items():
        if other_folder != folder or not REST_DUMPS[other].has_symbol:
            continue
        for _, path in files:
            if "symbol" in _header(path):
                cells = pd.read_csv(path, usecols=["symbol"], dtype=str, keep_default_na=False)["symbol"]
                found |= {s.strip().upper() for s in cells if s.strip()}
    if len(found) == 1:
        return found.pop()
    if found:
        why = f"the other dumps in '{folder}' hold several symbols ({', '.join(sorted(found)[:5])})"
    elif _SYMBOL_RE.match(folder.name):
        return folder.name
    else:
        why = f"no other dump in '{folder}' names a symbol and '{folder.name}' is not a symbol"
    raise InputError(f"{example}: {name} rows have no symbol column and their symbol cannot be known: {why}; "
                     f"add a symbol column, or keep each symbol's dumps in a folder named after it "
                     f"({folder}/BTCUSDT/{name}/...)")
