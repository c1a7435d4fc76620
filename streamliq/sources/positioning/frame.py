"""Positioning files as one pandas DataFrame, for `LiquidationFactorEngine.process(metrics_df=...)`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ...engine.events import METRIC_FIELDS
from .discovery import discover_metric_streams


def read_metrics(metrics_dir: str | Path, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """Every positioning row under `metrics_dir`, as the engine sees it.

    Indexed by the publication time (`published`, UTC: the row's time plus its period, see
    `streamliq.sources.positioning.spec`), with `exchange`, `symbol` and the FACTORS.md section 7
    fields (NaN where a row does not carry one); exact duplicates are dropped. Sorted by
    publication time, each source's rows in file order on ties.
    """
    wanted = frozenset(s.strip().upper() for s in symbols) if symbols is not None else None
    parts = []
    for stream in discover_metric_streams(metrics_dir, wanted):
        for batch in stream:
            part = pd.DataFrame({name: getattr(batch, name) for name in METRIC_FIELDS})
            instruments = np.array(batch.instruments, dtype=object).reshape(-1, 2)[batch.instrument]
            part.insert(0, "exchange", instruments[:, 0])
            part.insert(1, "symbol", instruments[:, 1])
            part.index = pd.to_datetime(batch.ts, unit="us", utc=True)
            parts.append(part)
    frame = pd.concat(parts) if parts else pd.DataFrame(
        columns=["exchange", "symbol", *METRIC_FIELDS], index=pd.DatetimeIndex([], tz="UTC"))
    frame.index.name = "published"
    return frame.sort_index(kind="stable")
