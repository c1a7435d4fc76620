"""The report's charts, drawn from the report dict with matplotlib (Agg canvas, no pyplot state).

Each function returns PNG bytes, or None when there is nothing to draw.
"""

from __future__ import annotations

import io
import math

import numpy as np

BP = 1e4  # returns are drawn in basis points
TOP_ROWS = 15
EVENT_PANELS = 9
HEATMAP_FACTORS = 25
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")


def _figure(width: float, height: float, layout: str | None = "constrained"):
    """A figure on an Agg canvas. Grids of panels pass `layout=None` and set their margins: the
    constrained layout solver costs more than the drawing on a dozen panels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _nan(values: list) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _grid(panels: int, panel_height: float):
    """A figure for `panels` panels, 3 a line, with its margins set; (figure, columns, lines)."""
    columns = min(3, panels)
    lines = math.ceil(panels / columns)
    fig = _figure(4 * columns, panel_height * lines, layout=None)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.3 / lines + 0.02, top=1 - 0.12 / lines, hspace=0.55,
                        wspace=0.28)
    return fig, columns, lines


def ic_bars(report: dict) -> bytes | None:
    """Rank IC of the best rows of the table, with their t."""
    rows = [r for r in report["table"] if r["ranked"]][:TOP_ROWS]
    if not rows:
        return None
    fig = _figure(9, 0.35 * len(rows) + 1.2)
    ax = fig.add_subplot()
    labels = [f"{r['factor']}  h={r['horizon']}" for r in rows][::-1]
    values = [r["rank_ic"] for r in rows][::-1]
    ax.barh(labels, values, color=[COLOURS[0] if v >= 0 else COLOURS[1] for v in values])
    for y, r in enumerate(rows[::-1]):
        ax.annotate(f" t={r['t_nw']:.1f}", (r["rank_ic"], y), va="center", fontsize="small",
                    ha="left" if r["rank_ic"] >= 0 else "right")
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel("pooled rank IC")
    ax.set_title("Best factors by |Newey-West t|")
    return _png(fig)


def ic_decay(report: dict) -> bytes | None:
    """Pooled rank IC against the horizon, for the top factors."""
    decay = report["ic_decay"]
    if not decay["ic"]:
        return None
    fig = _figure(9, 4)
    ax = fig.add_subplot()
    for i, (factor, ics) in enumerate(decay["ic"].items()):
        ax.plot(decay["horizons"], _nan(ics), marker="o", markersize=3, color=COLOURS[i % len(COLOURS)], label=factor)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel(f"horizon (bars of {report['freq']})")
    ax.set_ylabel("pooled rank IC")
    ax.set_title("IC decay")
    ax.legend(fontsize="small")
    return _png(fig)


def quintile_returns(report: dict) -> bytes | None:
    """Mean forward return by factor quintile, one panel per top factor, bars per horizon."""
    factors = list(report["quintiles"])
    if not factors:
        return None
    fig, columns, lines = _grid(len(factors), 3.0)
    horizons = report["horizons"]
    width = 0.8 / len(horizons)
    for i, factor in enumerate(factors):
        ax = fig.add_subplot(lines, columns, i + 1)
        for j, h in enumerate(horizons):
            means = _nan(report["quintiles"][factor][str(h)]["mean"]) * BP
            ax.bar(np.arange(1, 6) + (j - (len(horizons) - 1) / 2) * width, means, width=width,
                   color=COLOURS[j % len(COLOURS)], label=f"h={h}")
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_xticks(range(1, 6))
        ax.set_title(factor, fontsize="medium")
        ax.set_xlabel("quintile (own series)")
        if i % columns == 0:
            ax.set_ylabel("mean fwd return (bp)")
        if i == 0:
            ax.legend(fontsize="x-small")
    return _png(fig)


def ic_by_month(report: dict) -> bytes | None:
    """Rank IC per calendar month, for the top factors at their best horizon."""
    months = report["ic_by_month"]
    if not months:
        return None
    fig = _figure(9, 3.6)
    ax = fig.add_subplot()
    for i, (factor, data) in enumerate(months.items()):
        ax.plot(data["months"], _nan(data["rank_ic"]), marker="o", color=COLOURS[i % len(COLOURS)],
                label=f"{factor} h={data['horizon']}")
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_ylabel("rank IC in the month")
    ax.set_title("Stability: IC per month")
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(fontsize="small")
    return _png(fig)


def event_paths(report: dict) -> bytes | None:
    """Mean cumulative return after event bars, with its 95% band, against every bar."""
    studies = [s for s in report["events"] if s["events"] > 0][:EVENT_PANELS]
    if not studies:
        return None
    fig, columns, lines = _grid(len(studies), 2.8)
    steps = np.arange(max(report["horizons"]) + 1)
    for i, study in enumerate(studies):
        ax = fig.add_subplot(lines, columns, i + 1)
        ax.fill_between(steps, _nan(study["band_low"]) * BP, _nan(study["band_high"]) * BP, color=COLOURS[0],
                        alpha=0.2, linewidth=0)
        ax.plot(steps, _nan(study["path"]) * BP, color=COLOURS[0], label=f"after event (n={study['events']})")
        ax.plot(steps, _nan(study["unconditional"]) * BP, color="0.4", linestyle="--", label="every bar")
        ax.axhline(0, color="0.3", linewidth=0.6)
        ax.set_title(study["event"], fontsize="small")
        ax.legend(fontsize="x-small", loc="upper left")
        if i % columns == 0:
            ax.set_ylabel("cum. return (bp)")
        if i >= len(studies) - columns:
            ax.set_xlabel("bars after the event")
    return _png(fig)


def correlation_heatmap(report: dict) -> bytes | None:
    """Rank correlations of the factors best placed in the table."""
    names = report["correlation"]["factors"]
    order = [f for f in dict.fromkeys(r["factor"] for r in report["table"]) if f in names][:HEATMAP_FACTORS]
    if len(order) < 2:
        return None
    index = [names.index(f) for f in order]
    matrix = _nan([v for row in report["correlation"]["matrix"] for v in row]).reshape(len(names), len(names))
    sub = matrix[np.ix_(index, index)]
    size = 3 + 0.32 * len(order)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot()
    image = ax.imshow(sub, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(order)), order, rotation=90, fontsize="x-small")
    ax.set_yticks(range(len(order)), order, fontsize="x-small")
    fig.colorbar(image, ax=ax, shrink=0.7, label="rank correlation")
    ax.set_title("Which factors say the same thing")
    return _png(fig)


FIGURES = (
    ("ic", "Best factors", ic_bars),
    ("decay", "IC decay over horizons", ic_decay),
    ("quintiles", "Mean forward return by quintile", quintile_returns),
    ("months", "IC per month", ic_by_month),
    ("events", "Event studies", event_paths),
    ("correlation", "Correlation matrix", correlation_heatmap),
)
