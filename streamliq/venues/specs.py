"""Instrument specifications: how a venue's quantities become base-asset units (FACTORS.md 9).

After the normalizer every amount is in base-asset units (BTC, ETH, ...) and every price in USD
per base unit, whatever the venue counts in: coins, contracts of a fixed coin value (linear) or
contracts of a fixed USD face value (inverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


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
