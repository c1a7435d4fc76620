"""Reading positioning dumps: rows per second of `read_metrics` and of a metrics-only replay feed.

Writes REST dumps in the `{DIR}/{name}/{name}_{YYYY-MM}.csv` layout for `--symbols` symbols
(one per-symbol folder each) and `--months` months of 5-minute rows, every row written twice
(dumps repeat rows), then times `read_metrics(DIR)` (parse, check, de-duplicate) and the engine
fed with its result (15m bars). Prints rows, seconds and rows/s; nothing is asserted.

    python benchmarks/positioning_read.py --symbols 3 --months 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from streamliq import LiquidationFactorEngine, read_metrics

NAMES = {"topLongShortPositionRatio": "ratio", "topLongShortAccountRatio": "ratio",
         "globalLongShortAccountRatio": "ratio", "takerlongshortRatio": "taker", "openInterest": "oi"}


def write(folder: Path, symbols: int, months: int) -> int:
    rng = np.random.default_rng(0)
    times = pd.date_range("2025-01-01", periods=months * 30 * 288, freq="5min")
    rows = 0
    for k in range(symbols):
        symbol = f"SYM{k}USDT"
        for name, kind in NAMES.items():
            n = len(times)
            if kind == "ratio":
                long = rng.uniform(0.3, 0.7, n)
                frame = pd.DataFrame({"open_time": times, "symbol": symbol, "longAccount": long,
                                      "longShortRatio": long / (1 - long), "shortAccount": 1 - long})
            elif kind == "taker":
                frame = pd.DataFrame({"open_time": times, "buySellRatio": rng.uniform(0.5, 2, n),
                                      "sellVol": rng.uniform(1, 900, n), "buyVol": rng.uniform(1, 900, n)})
            else:
                frame = pd.DataFrame({"open_time": times, "symbol": symbol, "openInterest": rng.uniform(1e4, 2e4, n)})
            frame = frame.loc[frame.index.repeat(2)]
            month_of = frame["open_time"].dt.strftime("%Y-%m")
            frame["open_time"] = frame["open_time"].astype("datetime64[ns]").astype("int64").astype(str)
            for month, part in frame.groupby(month_of):
                path = folder / symbol / name / f"{name}_{month}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                part.to_csv(path, index=False)
            rows += len(frame)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--months", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        written = write(Path(tmp), args.symbols, args.months)
        start = time.perf_counter()
        metrics = read_metrics(tmp)
        read_s = time.perf_counter() - start
        liq = pd.DataFrame({"side": ["buy"], "price": [1.0], "amount": [1.0], "symbol": ["SYM0USDT"],
                            "exchange": ["binance-futures"]}, index=metrics.index[:1])
        start = time.perf_counter()
        rows = LiquidationFactorEngine(resample_freq="15m").process(liq, metrics_df=metrics)
        engine_s = time.perf_counter() - start
    print(f"file rows {written:,} (each twice), distinct {len(metrics):,}")
    print(f"read_metrics: {read_s:.2f} s, {written / read_s:,.0f} file rows/s")
    print(f"engine (15m): {engine_s:.2f} s, {len(metrics) / engine_s:,.0f} metric events/s, {len(rows):,} bars")


if __name__ == "__main__":
    main()
