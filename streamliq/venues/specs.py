"""Instrument specifications: how a venue's quantities become base-asset units (FACTORS.md 9).

After the normalizer every amount is in base-asset units (BTC, ETH, ...) and every price in USD
per base unit, whatever the venue counts in: coins, contracts of a fixed coin value (linear) or
contracts of a fixed USD face value (inverse).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import InputError, bad_row_message


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument's units.

    `contract_value` is base units per contract for a linear instrument (OKX `ctVal`; 1 where the
    venue already counts in coins, as Binance USD-M and Bybit linear do) and the USD face value
    per contract for an inverse one (Binance COIN-M `contractSize`; 1 where the venue already
    counts in USD, as Bybit inverse does). `base_per_unit` is how many single coins the symbol's
    unit holds (1000 for `1000PEPEUSDT`): per-instrument rows keep the venue's unit, aggregate
    rows (FACTORS.md section 10) multiply by it.
    """

    exchange: str  # Tardis exchange id, e.g. "okex-swap"
    symbol: str  # the venue's own symbol, e.g. "BTC-USDT-SWAP"
    base: str  # the base asset in single coins, e.g. "BTC", "PEPE"
    kind: Literal["linear", "inverse"]
    contract_value: float
    base_per_unit: float = 1.0

    def base_amount(self, quantity: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Venue quantities (coins, contracts or USD) as base-asset units at `price` (USD)."""
        if self.kind == "linear":
            return quantity * self.contract_value
        return quantity * self.contract_value / price

    @property
    def contract_denominated(self) -> bool:
        """Whether the venue's quantities are not already single coins of the symbol's unit."""
        return not (self.kind == "linear" and self.contract_value == 1.0)


# --------------------------------------------------------------------------- the spec table

SPEC_COLUMNS = ("exchange", "symbol", "base", "kind", "contract_value", "base_per_unit")
KNOWN_EXCHANGES = ("binance-futures", "binance-delivery", "bybit", "okex-swap", "okex-futures")
SHIPPED_TABLE = "instruments.csv"

# Symbols quoted in a multiple of the coin: `1000PEPEUSDT`, `1000000MOGUSDT`, `1MBABYDOGEUSDT`
# (Binance, Bybit) and Bybit's `SHIB1000USDT`.
# The base may be any letters or digits: Binance lists non-ASCII symbols such as `币安人生USDT`.
_MULTIPLE = r"(?P<pre>10{1,6}|1M)?(?P<base>[^\W_]+?)(?P<post>1000)?"
_COIN_SYMBOLS = {
    # USD-M: every symbol is quoted in coins (perpetuals and `_YYMMDD` quarterlies)
    "binance-futures": re.compile(rf"^{_MULTIPLE}(?:USDT|USDC|BUSD|FDUSD)(?:_\d{{6}})?$"),
    # Bybit linear: USDT/USDC perpetuals and futures (`BTCUSDT`, `BTCUSDT-26DEC25`, `BTCPERP`,
    # `BTC-26DEC25`) count in coins; inverse `BTCUSD`/`BTCUSDH25` count in USD (table rows)
    "bybit": re.compile(rf"^(?:{_MULTIPLE}(?:USDT|USDC)(?:-\d{{2}}[A-Z]{{3}}\d{{2}})?"
                        r"|(?P<perp>[A-Z0-9]+)PERP|(?P<dated>[A-Z0-9]+)-\d{2}[A-Z]{3}\d{2})$"),
}


def implicit_spec(exchange: str, symbol: str) -> InstrumentSpec | None:
    """The spec of a symbol whose venue already counts in coins (no table row needed), or None.

    `binance-futures` USD-M and `bybit` linear symbols are in single coins of the symbol's unit:
    contract value 1, base and multiple parsed from the symbol (`1000PEPEUSDT` -> PEPE x 1000).
    """
    pattern = _COIN_SYMBOLS.get(exchange)
    match = pattern.match(symbol) if pattern else None
    if match is None:
        return None
    parts = match.groupdict()
    base = parts.get("base") or parts.get("perp") or parts.get("dated")
    multiple = parts.get("pre") or parts.get("post")
    per_unit = 1.0 if not multiple else 1e6 if multiple == "1M" else float(multiple)
    return InstrumentSpec(exchange, symbol, base, "linear", 1.0, per_unit)


class SpecTable:
    """Instrument specs by (exchange, symbol): table rows, then the implicit coin rules.

    A row's symbol may be a glob (`BTCUSD_*`, `BTC-USD-2?????`) so that dated futures need one
    row per family. An exact row wins over a glob; among exact rows of one symbol, and among
    globs, later rows (`--instruments`) win over earlier ones (the shipped table).
    """

    def __init__(self, rows: Iterable[InstrumentSpec] = ()) -> None:
        self.exact: dict[tuple[str, str], InstrumentSpec] = {}
        self.patterns: list[InstrumentSpec] = []  # newest first
        self.add(rows)
        self._cache: dict[tuple[str, str], InstrumentSpec | None] = {}

    def add(self, rows: Iterable[InstrumentSpec]) -> SpecTable:
        """Add or override rows (the last row for a key wins)."""
        for spec in rows:
            if any(c in spec.symbol for c in "*?["):
                self.patterns.insert(0, spec)
            else:
                self.exact[(spec.exchange, spec.symbol)] = spec
        self._cache = {}
        return self

    def lookup(self, exchange: str, symbol: str) -> InstrumentSpec | None:
        """The spec of `symbol` on `exchange`, or None when neither a row nor a rule knows it."""
        key = (exchange, symbol)
        if key not in self._cache:
            self._cache[key] = self._find(exchange, symbol)
        return self._cache[key]

    def _find(self, exchange: str, symbol: str) -> InstrumentSpec | None:
        spec = self.exact.get((exchange, symbol))
        if spec is None:
            spec = next((p for p in self.patterns if p.exchange == exchange and fnmatchcase(symbol, p.symbol)), None)
            spec = spec and dataclasses.replace(spec, symbol=symbol)
        if spec is None and exchange == "binance-futures" and _COIN_M.match(symbol):
            spec = self.lookup("binance-delivery", symbol)  # COIN-M symbols on the USD-M stream
            spec = spec and dataclasses.replace(spec, exchange=exchange)
        return spec or implicit_spec(exchange, symbol)

    def needs_spec(self, exchange: str, symbol: str) -> bool:
        """Whether a symbol without a spec would be read wrong: its venue counts in contracts or USD.

        True for every symbol of a known Tardis id that the implicit coin rules do not cover;
        other venues (unknown to streamliq) are read as given.
        """
        return exchange in KNOWN_EXCHANGES or any(s.exchange == exchange
                                                  for s in (*self.exact.values(), *self.patterns))


_COIN_M = re.compile(r"^[A-Z0-9]+USD_(?:PERP|\d{6})$")


def read_spec_rows(path: str | Path, text: str | None = None) -> list[InstrumentSpec]:
    """The rows of a spec CSV (`SPEC_COLUMNS`; `#` lines are comments).

    Errors are InputError naming the file, line and field.
    """
    path = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the instruments file: {exc}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{path}: the instruments file is empty (header: {','.join(SPEC_COLUMNS)})")
    header_line, header = lines[0]
    names = [name.strip() for name in header.split(",")]
    missing = [c for c in SPEC_COLUMNS if c not in names]
    if missing:
        raise InputError(f"{path}:{header_line}: missing column '{missing[0]}' "
                         f"(expected header {','.join(SPEC_COLUMNS)}, got {header.strip()[:120]})")
    rows = []
    for number, line in lines[1:]:
        cells = next(csv.reader([line]))
        rows.append(_spec_row(path, number, dict(zip(names, cells, strict=False)), len(cells), len(names)))
    return rows


def _spec_row(path: str, line: int, cells: dict[str, str], n_cells: int, n_names: int) -> InstrumentSpec:
    if n_cells != n_names:
        raise InputError(f"{path}:{line}: row has {n_cells} fields, the header has {n_names}")
    values = {name: cells[name].strip() for name in SPEC_COLUMNS}
    for name in ("exchange", "symbol", "base", "kind"):
        if not values[name]:
            raise InputError(bad_row_message(path, line, name, cells[name], "missing value"))
    if values["kind"] not in ("linear", "inverse"):
        raise InputError(bad_row_message(path, line, "kind", cells["kind"], "expected linear or inverse"))
    numbers = {}
    for name in ("contract_value", "base_per_unit"):
        text = values[name] or ("1" if name == "base_per_unit" else "")
        try:
            numbers[name] = float(text)
        except ValueError:
            numbers[name] = math.nan
        if not (numbers[name] > 0 and math.isfinite(numbers[name])):
            raise InputError(bad_row_message(path, line, name, cells[name], "must be a positive number"))
    return InstrumentSpec(values["exchange"].lower(), values["symbol"].upper(), values["base"].upper(),
                          values["kind"], numbers["contract_value"], numbers["base_per_unit"])


def shipped_rows() -> list[InstrumentSpec]:
    """The spec table that ships with streamliq (`streamliq/venues/instruments.csv`)."""
    source = resources.files(__package__) / SHIPPED_TABLE
    return read_spec_rows(f"streamliq/venues/{SHIPPED_TABLE}", source.read_text(encoding="utf-8"))


def spec_table(instruments: str | Path | None = None) -> SpecTable:
    """The shipped table, extended or overridden by the rows of the CSV file `instruments`."""
    table = SpecTable(shipped_rows())
    if instruments is not None:
        table.add(read_spec_rows(instruments))
    return table
