"""A chart of one symbol's factor rows: price and liquidations, a rolling factor, imbalance.

Three panels on one UTC time axis:
1. the close (mark price) as a line, over long and short liquidation notional as bars of
   opposite colours (shorts above zero, longs below, so neither hides the other);
2. a rolling factor (default `all_notional_z24`) with its ±3 band;
3. the imbalance, +1 when only longs were liquidated, -1 when only shorts were.

Rows come from a factor Parquet file (`streamliq replay --out x.parquet`) or a dataset folder
(`streamliq replay --workers N`); only the chosen symbol's rows are read. Drawing uses the
object-oriented matplotlib API on an Agg canvas: no display, no pyplot global state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .engine.freq import parse_freq
from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

DEFAULT_FACTOR = "all_notional_z24"
BAND = 3.0
SYMLOG_ABOVE = 4 * BAND
SYMLOG_TICKS = (-1000, -300, -100, -30, -10, -3, 0, 3, 10, 30, 100, 300, 1000)
PLOT_COLUMNS = ("bar_start", "bar_end", "close", "long_notional", "short_notional", "imbalance", "open", "high", "low")
STALE_BARS = 3  # this many bars in a row without a price update are drawn as a break, not a flat line
LONG_COLOUR, SHORT_COLOUR, PRICE_COLOUR, FACTOR_COLOUR = "#d62728", "#2ca02c", "#1f1f1f", "#1f77b4"
QUOTE_CURRENCIES = ("USDT", "USDC", "BUSD", "FDUSD", "USD")
LISTED = 20  # names shown in an error message


@dataclass(frozen=True)
class ChartData:
    """The rows to draw and what they are."""

    frame: pd.DataFrame
    symbol: str
    freq: str
    factor: str


def load_chart_data(path: str | Path, symbol: str, freq: str | None = None, start: str | None = None,
                    end: str | None = None, factor: str = DEFAULT_FACTOR) -> ChartData:
    """One symbol's rows at one frequency, between `start` and `end` (inclusive UTC dates or times)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    source = Path(path)
    if not source.exists():
        raise InputError(f"factor file '{path}' does not exist")
    try:
        partitioning = ds.partitioning(pa.schema([("freq", pa.string()), ("symbol", pa.string())]), flavor="hive")
        data = ds.dataset(source, format="parquet", partitioning=partitioning if source.is_dir() else None)
        names = data.schema.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a Parquet file or dataset: {exc}") from None
    missing = [c for c in (*PLOT_COLUMNS, "symbol", "freq") if c not in names]
    if missing:
        raise InputError(f"{path}: not a streamliq factor file (no column {', '.join(missing)})")
    if factor not in names:
        rolling = [n for n in names if any(f"_{kind}" in n for kind in ("z", "pct", "exq"))]
        raise InputError(f"{path}: no column '{factor}'; its rolling factors are {_listing(rolling)}")
    symbol = symbol.strip().upper()
    table = data.to_table(columns=[*PLOT_COLUMNS, factor, "freq"], filter=ds.field("symbol") == symbol)
    if table.num_rows == 0:
        symbols = sorted(pc.unique(data.to_table(columns=["symbol"]).column("symbol")).to_pylist())
        raise InputError(f"{path}: no rows for symbol '{symbol}'; its symbols are {_listing(symbols)}")
    freqs = sorted(pc.unique(table.column("freq")).to_pylist())
    if freq is None:
        if len(freqs) > 1:
            raise InputError(f"{path}: {symbol} has bars at several frequencies ({', '.join(freqs)}): "
                             "choose one with --freq")
        freq = freqs[0]
    freq = parse_freq(freq).name
    if freq not in freqs:
        raise InputError(f"{path}: no {freq} bars for {symbol}; its frequencies are {', '.join(freqs)}")
    frame = table.filter(pc.equal(table.column("freq"), freq)).to_pandas().sort_values("bar_start")
    low, high = _bound(start, "--from", end=False), _bound(end, "--to", end=True)
    keep = pd.Series(True, index=frame.index)
    if low is not None:
        keep &= frame["bar_start"] >= low
    if high is not None:
        keep &= frame["bar_start"] < high
    frame = frame[keep].reset_index(drop=True)
    if frame.empty:
        raise InputError(f"{path}: no {freq} bars for {symbol} from {start or 'the start'} to {end or 'the end'}")
    return ChartData(frame, symbol, freq, factor)


def draw_chart(chart: ChartData, out: str | Path, width: int = 1600, height: int = 1000, dpi: int = 100) -> None:
    """Draw the chart as a `width` x `height` pixel image (PNG, SVG or PDF by the extension of `out`)."""
    chart_figure(chart, width, height, dpi).savefig(out, dpi=dpi)


def chart_figure(chart: ChartData, width: int = 1600, height: int = 1000, dpi: int = 100) -> Figure:
    """The chart's matplotlib Figure (on an Agg canvas).

    Without any price (a symbol without ticker data) the top panel holds the liquidation bars
    alone. A price that was only carried forward (no update for `STALE_BARS` bars or more, or
    bars missing from the file) is not drawn: the line breaks there instead of running flat.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    frame, freq = chart.frame, parse_freq(chart.freq)
    start = frame["bar_start"].dt.tz_convert(None)  # UTC, as matplotlib dates
    end = frame["bar_end"].dt.tz_convert(None)
    bar_width = freq.seconds / 86_400  # matplotlib date units are days
    quote = _quote_currency(chart.symbol)

    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    price, factor, imbalance = fig.subplots(3, 1, sharex=True, height_ratios=[3, 1.6, 1])
    first, last = start.iloc[0], end.iloc[-1]
    fig.suptitle(f"{chart.symbol} liquidations, {chart.freq} bars, {first:%Y-%m-%d %H:%M} to "
                 f"{last:%Y-%m-%d %H:%M} UTC", fontsize="x-large")

    has_price = bool(frame["close"].notna().any())
    liquidations = price.twinx() if has_price else price
    liquidations.bar(start, frame["short_notional"], width=bar_width, align="edge", color=SHORT_COLOUR,
                     alpha=0.55, label="shorts liquidated (above 0)")
    liquidations.bar(start, -frame["long_notional"], width=bar_width, align="edge", color=LONG_COLOUR,
                     alpha=0.55, label="longs liquidated (below 0)")
    peak = max(float(frame[["long_notional", "short_notional"]].max().max()), 1.0)
    liquidations.set_ylim(-1.1 * peak, 1.1 * peak)
    liquidations.axhline(0, color="0.5", linewidth=0.8)
    liquidations.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):,.0f}"))
    liquidations.set_ylabel(f"liquidated notional per bar ({quote})")
    if has_price:
        line_x, line_y = _price_line(frame)
        price.plot(line_x, line_y, color=PRICE_COLOUR, linewidth=1.4, label="close (mark price)")
        price.set_ylabel(f"close, mark price ({quote})")
        price.set_zorder(liquidations.get_zorder() + 1)  # the line above the bars
        price.patch.set_visible(False)
        handles = price.get_legend_handles_labels()[0] + liquidations.get_legend_handles_labels()[0]
    else:
        handles = liquidations.get_legend_handles_labels()[0]
        price.set_title("no price data (ticker) for this symbol", fontsize="small", loc="right")
    price.legend(handles=handles, loc="upper left", fontsize="small")

    factor.axhspan(-BAND, BAND, color="0.85", alpha=0.6, label=f"±{BAND:g} band")
    for level in (-BAND, BAND):
        factor.axhline(level, color="0.45", linewidth=0.8, linestyle="--")
    factor.plot(end, frame[chart.factor], color=FACTOR_COLOUR, linewidth=1.2, label=chart.factor)
    outside = frame[chart.factor].abs() > BAND
    factor.scatter(end[outside], frame.loc[outside, chart.factor], color=LONG_COLOUR, s=14, zorder=3,
                   label=f"beyond ±{BAND:g}")
    label = f"{chart.factor}\n(standard deviations)" if "_z" in chart.factor else chart.factor
    if frame[chart.factor].abs().max() > SYMLOG_ABOVE:  # one spike would flatten the band to a line
        factor.set_yscale("symlog", linthresh=BAND)
        low, high = min(-BAND, frame[chart.factor].min()), max(BAND, frame[chart.factor].max())
        factor.set_yticks([t for t in SYMLOG_TICKS if low * 1.5 <= t <= high * 1.5])
        factor.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        label += f"\nlog scale beyond ±{BAND:g}"
    factor.set_ylabel(label)
    factor.legend(loc="upper left", fontsize="small")

    colours = [LONG_COLOUR if v > 0 else SHORT_COLOUR for v in frame["imbalance"].fillna(0)]
    imbalance.bar(start, frame["imbalance"].fillna(0), width=bar_width, align="edge", color=colours)
    imbalance.axhline(0, color="0.3", linewidth=0.8)
    imbalance.set_ylim(-1.05, 1.05)
    imbalance.set_ylabel("imbalance\n(+1 longs, -1 shorts)")
    imbalance.set_xlabel("time (UTC)")
    locator = AutoDateLocator()
    imbalance.xaxis.set_major_locator(locator)
    imbalance.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    for axis in (price, factor, imbalance):
        axis.grid(True, color="0.9")
    return fig


def _price_line(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Close at each bar's end, NaN (a break in the line) where it was only carried forward for
    `STALE_BARS` bars or more, and at the start of any bars missing between two rows."""
    import pandas as pd

    close = frame["close"]
    carried = ((frame["open"] == close) & (frame["high"] == close) & (frame["low"] == close)
               & (close == close.shift())) | close.isna()
    run_length = carried.groupby((~carried).cumsum()).transform("sum")
    y = close.where(~(carried & (run_length >= STALE_BARS)))
    x = frame["bar_end"].dt.tz_convert(None)
    missing = frame["bar_start"].ne(frame["bar_end"].shift()) & (frame.index > 0)
    if missing.any():  # a point without a value where bars are missing
        x = pd.concat([x, frame.loc[missing, "bar_start"].dt.tz_convert(None)], ignore_index=True)
        y = pd.concat([y, pd.Series(float("nan"), index=range(int(missing.sum())))], ignore_index=True)
        order = x.argsort(kind="stable")
        x, y = x.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    return x, y


def _bound(text: str | None, what: str, end: bool) -> pd.Timestamp | None:
    """A UTC time from `YYYY-MM-DD` or an ISO time; a date as `--to` includes that whole day."""
    import pandas as pd

    if text is None:
        return None
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        raise InputError(f"invalid {what} {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    if end:
        date_only = moment == moment.normalize() and len(text.strip()) <= 10
        moment += pd.Timedelta(days=1) if date_only else pd.Timedelta(microseconds=1)
    return moment


def _quote_currency(symbol: str) -> str:
    return next((q for q in QUOTE_CURRENCIES if symbol.endswith(q)), "quote currency")


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return f"{shown}, ... ({len(names)} in all)" if len(names) > LISTED else shown or "(none)"
