"""The block close: every due bar of every instrument of one frequency, as one RowBlock.

The events of the closing bars are taken from the book, given their row in the close's
layout, and every column is computed for all rows at once by the feature modules.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import numpy as np

from .block import RowBlock
from .book import Book
from .config import ROLLING_SERIES
from .events import Instrument
from .features.market import ticker_columns, trade_columns
from .features.positioning import positioning_columns
from .features.rolling import rolling_columns
from .features.sides import liquidation_columns
from .gaps import Outages
from .layout import Layout

# The rolling windows and the size buckets (the largest parts of a close) run beside each other
# and the other features: numpy releases the GIL in its loops, so a close uses every core of a
# small machine while the file writer compresses the last close on its own thread.
# A smaller close (a live bar of a few hundred instruments) runs inline: a hand-off to the pool
# would cost more than the overlap saves.
_POOL = ThreadPoolExecutor(2, thread_name_prefix="streamliq-close")
_POOLED_ROWS = 20_000
T = TypeVar("T")


def _now(call: Callable[..., T], *args: object) -> Future[T]:
    """`call(*args)` run here, as a finished future."""
    done: Future[T] = Future()
    done.set_result(call(*args))
    return done


class NameTables(NamedTuple):
    """The labels of the name columns: per instrument id its exchange and symbol, per book its freq.

    One table serves every block of a close, so blocks concatenate by their codes.
    """

    exchange: np.ndarray
    symbol: np.ndarray
    freq: np.ndarray

    @classmethod
    def of(cls, instruments: list[Instrument], freqs: list[str]) -> NameTables:
        def table(values: list[str]) -> np.ndarray:
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out
        return cls(table([exchange for exchange, _ in instruments]), table([symbol for _, symbol in instruments]),
                   table(freqs))


def close_book(book: Book, last: int, instruments: list[Instrument], rank: np.ndarray, tables: NameTables,
               outages: Outages, names: list[str]) -> RowBlock | None:
    """Close `book` through bar `last`: its rows instrument by instrument, in `rank` (output)
    order, each instrument's bars ascending."""
    if book.closed_through is not None and last <= book.closed_through:
        return None
    begin = -np.iinfo(np.int64).max if book.closed_through is None else book.closed_through + 1
    book.closed_through = last
    ids = np.flatnonzero(book.first_bar <= last)
    ids = ids[np.argsort(rank[ids], kind="stable")]
    if len(ids) == 0:
        return None
    layout = Layout(ids, np.maximum(book.first_bar[ids], begin), last, len(instruments))
    width = book.freq.us
    bar_start = layout.row_bar * width
    bar_end = bar_start + width
    due = {channel: pending.take_through(last) for channel, pending in book.pending.items()}
    rows = {channel: None if events is None else layout.rows(events["inst"], events["bar"])
            for channel, events in due.items()}
    n = layout.n_rows
    late = book.late.take_through(last)
    columns: dict[str, np.ndarray] = {
        "bar_start": bar_start, "bar_end": bar_end,
        "n_events": sum((np.bincount(r, minlength=n) for r in rows.values() if r is not None),
                        np.zeros(n, np.int64)),
        "late_events": np.zeros(n, np.int64) if late is None else np.bincount(
            layout.rows(late["inst"], late["bar"]), minlength=n),
        "gap": outages.gaps(instruments, layout.ids, layout.row_seg, bar_start, bar_end),
    }
    liq = due["liquidations"]
    liq_rows = rows["liquidations"]
    if liq is None:
        liq = {"inst": np.empty(0, np.int64), "ts": np.empty(0, np.int64), "notional": np.empty(0),
               "amount": np.empty(0), "is_long": np.empty(0, bool)}
        liq_rows = np.empty(0, np.int64)
    order = np.argsort(liq_rows, kind="stable")
    liq = {name: values[order] for name, values in liq.items()}
    liq_rows = liq_rows[order]
    columns.update(liquidation_columns(liq_rows, liq["ts"], liq["notional"], liq["amount"], liq["is_long"],
                                       bar_start, width, n))
    config = book.config
    series = [columns[name].astype(np.float64) for name in ROLLING_SERIES]
    submit = _POOL.submit if n >= _POOLED_ROWS else _now
    rolling = submit(rolling_columns, series, ROLLING_SERIES, layout, book.rolling, config.z_windows,
                           config.pct_windows, config.exceedance_pairs)
    columns.update(ticker_columns(due["derivative_ticker"], rows["derivative_ticker"], layout, book.market,
                                  columns["all_qty"], columns["long_vwap"], columns["short_vwap"]))
    columns.update(trade_columns(due["trades"], rows["trades"], layout, book.market, columns["all_qty"]))
    buckets = submit(book.lookback.columns, layout.row_inst, bar_start, bar_end, liq_rows, liq["inst"],
                           liq["ts"], liq["notional"], columns["all_notional"], (last + 1) * width)
    if config.metrics:
        columns.update(positioning_columns(due["metrics"], rows["metrics"], layout, book.positioning))
    columns.update(buckets.result())
    columns.update(rolling.result())
    coded = {"exchange": (layout.row_inst, tables.exchange), "symbol": (layout.row_inst, tables.symbol),
             "freq": (np.full(n, book.order), tables.freq)}
    return RowBlock(names, {name: columns[name] for name in names if name not in coded}, coded)
