"""The plain pandas script a researcher writes for all-market liquidation bars (issue 10).

    python benchmarks/pandas_allmarket.py --freq 5m --out bars.parquet FILE.csv.gz [FILE ...]

It reads Tardis liquidation files with ``pd.read_csv`` (one call per file, then ``concat``),
computes ``notional = price * amount``, and per symbol and bar (of ``timestamp``, aligned to
the epoch) and per side (``long`` = side sell, ``short`` = side buy, ``all``) the count, sum,
max, mean, std, skew and kurt of the notionals. Each symbol is reindexed to contiguous bars
from its first bar to the run's last bar (empty bars: count, sum and max 0, the rest NaN),
and ``all_notional_z24`` is the z-score of the bar's notional against the previous 24 bars
(``shift(1).rolling(24)`` mean and std). The table is written to ``--out`` (parquet), and one
JSON line with the row count goes to stdout.

This is a subset of the columns `streamliq replay` computes for the same bars (FACTORS.md
sections 2, 3 and 5), so the benchmark compares like with like on rows and a subset of work.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd

STATS = ["count", "sum", "max", "mean", "std", "skew", "kurt"]
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def bar_microseconds(freq: str) -> int:
    """`1m`, `5m`, `1h`, ... as microseconds."""
    return int(freq[:-1]) * UNITS[freq[-1]] * 1_000_000


def factor_bars(paths: list[str], freq: str) -> pd.DataFrame:
    """One row per (symbol, bar): per-side notional statistics and the z24 of all notional."""
    df = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    df["notional"] = df["price"] * df["amount"]
    bar = bar_microseconds(freq)
    df["bar"] = df["timestamp"] // bar * bar
    df["side"] = df["side"].map({"sell": "long", "buy": "short"})

    sides = df.groupby(["symbol", "bar", "side"])["notional"].agg(STATS).unstack("side")
    sides.columns = [f"{side}_{stat}" for stat, side in sides.columns]
    both = df.groupby(["symbol", "bar"])["notional"].agg(STATS).add_prefix("all_")
    table = both.join(sides)
    table.columns = [c.replace("_sum", "_notional") for c in table.columns]

    # contiguous bars per symbol, from its first bar to the last bar of the run
    first = table.index.get_level_values("bar").to_series().groupby(table.index.get_level_values("symbol")).min()
    last = df["bar"].max()
    n = ((last - first) // bar + 1).to_numpy()
    offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    full = pd.MultiIndex.from_arrays([np.repeat(first.index.to_numpy(), n),
                                      np.repeat(first.to_numpy(), n) + offsets * bar], names=["symbol", "bar"])
    table = table.reindex(full)
    filled = [c for c in table.columns if c.endswith(("_count", "_notional", "_max"))]
    table[filled] = table[filled].fillna(0)
    for column in table.columns:
        if column.endswith("_count"):
            table[column] = table[column].astype("int64")

    # z-score of all_notional against the previous 24 bars
    previous = table.groupby(level="symbol")["all_notional"].shift(1)
    rolling = previous.groupby(level="symbol").rolling(24)
    mean = rolling.mean().droplevel(0)
    std = rolling.std().droplevel(0)
    table["all_notional_z24"] = (table["all_notional"] - mean) / std.where(std > 0)
    return table.reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--freq", default="5m", help="bar length: Ns, Nm, Nh or Nd (default: 5m)")
    parser.add_argument("--out", help="write the table here (parquet); default: not written")
    parser.add_argument("paths", nargs="+", help="Tardis liquidation CSV(.gz) files")
    args = parser.parse_args(argv)
    table = factor_bars(args.paths, args.freq)
    if args.out:
        table.to_parquet(args.out, index=False)
    print(json.dumps({"rows": len(table), "symbols": int(table["symbol"].nunique()),
                      "columns": len(table.columns), "pandas": pd.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
