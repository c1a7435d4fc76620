"""The report as one self-contained HTML page: inline CSS, charts as embedded PNG, no script."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable

from .figures import FIGURES

TABLE_ROWS = 40
CORRELATED = 0.9
PAIRS_SHOWN = 30

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.2em 0.6em; text-align: right; border-bottom: 1px solid #eee; }
th { background: #f4f4f4; } td.name, th.name { text-align: left; font-family: monospace; }
tr.unranked { color: #999; } .note { color: #555; font-size: 0.9em; max-width: 60em; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def render_html(report: dict, source: str, progress: Callable[[str], None] | None = None) -> str:
    """The page: summary, ranked table, charts, event table, correlated pairs."""
    say = progress or (lambda _: None)
    head = (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
            f"<title>streamliq factor report: {_e(source)}</title><style>{STYLE}</style></head><body>")
    parts = [head, _summary(report, source), _table(report)]
    for key, title, draw in FIGURES:
        say(f"chart: {title.lower()}")
        png = draw(report)
        parts.append(f"<h2 id='{key}'>{_e(title)}</h2>")
        if key == "events":
            parts.append(_events_table(report))
        if png is None:
            parts.append("<p class='note'>Nothing to draw: no factor or event has enough defined rows.</p>")
        else:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"<img class='plot' alt='{_e(title)}' src='data:image/png;base64,{data}'>")
        if key == "correlation":
            parts.append(_pairs(report))
    parts.append("<p class='note'>Every number of this page is in report.json beside it.</p></body></html>")
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float | None, digits: int = 3, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.0%}" if percent else f"{value:.{digits}f}"


def _summary(report: dict, source: str) -> str:
    symbols = report["symbols"]
    shown = ", ".join(symbols[:10]) + (f" and {len(symbols) - 10} more" if len(symbols) > 10 else "")
    return (f"<h1>Factor report: {_e(source)}</h1><p>{report['rows']:,} rows of {report['freq']} bars, "
            f"{report['series']} series ({_e(shown)}), {_e(report['first_bar'])} to {_e(report['last_bar'])}. "
            f"Horizons {', '.join(map(str, report['horizons']))} bars, entry delay {report['entry_delay']} bars, "
            f"{len(report['factors'])} factors. Rows with a forward return: "
            f"{', '.join(f'{n:,} at h={h}' for h, n in report['labelled_rows'].items())}.</p>"
            "<p class='note'>Forward return of a row = ln(close[t+d+h] / close[t+d]) of its own series, undefined "
            "across missing or gap bars. Rows are ranked by the Newey-West t of the pooled rank IC, not by the IC: "
            "an IC of 0.02 with t = 3 over thousands of bars is worth more than an IC of 0.1 on 12 events. "
            f"Rows with fewer than {report['min_rows']} aligned rows are greyed and listed last.</p>")


def _table(report: dict) -> str:
    head = ("<tr><th>#</th><th class='name'>factor</th><th>h</th><th>rank IC</th><th>Pearson IC</th>"
            "<th>t (NW)</th><th>symbol IC mean</th><th>symbol IC std</th><th>symbols &gt; 0</th><th>symbols</th>"
            "<th>rows</th><th>coverage</th></tr>")
    rows = []
    for i, r in enumerate(report["table"][:TABLE_ROWS], 1):
        rows.append(f"<tr class='{'ranked' if r['ranked'] else 'unranked'}'><td>{i}</td>"
                    f"<td class='name'>{_e(r['factor'])}</td><td>{r['horizon']}</td><td>{_num(r['rank_ic'], 4)}</td>"
                    f"<td>{_num(r['pearson_ic'], 4)}</td><td>{_num(r['t_nw'], 2)}</td>"
                    f"<td>{_num(r['symbol_ic_mean'], 4)}</td><td>{_num(r['symbol_ic_std'], 4)}</td>"
                    f"<td>{_num(r['symbols_positive'], percent=True)}</td><td>{r['symbols']}</td>"
                    f"<td>{r['rows']:,}</td><td>{_num(r['coverage'], percent=True)}</td></tr>")
    more = len(report["table"]) - TABLE_ROWS
    tail = f"<p class='note'>{more} more rows in report.json.</p>" if more > 0 else ""
    return f"<h2 id='table'>Factors ranked</h2><table id='ranking'>{head}{''.join(rows)}</table>{tail}"


def _events_table(report: dict) -> str:
    if not report["events"]:
        return "<p class='note'>No event-like column among the factors.</p>"
    end = max(report["horizons"])
    rows = "".join(f"<tr><td class='name'>{_e(s['event'])}</td><td>{s['flagged']:,}</td><td>{s['events']:,}</td>"
                   f"<td>{_num(_bp(s['path'][-1]), 1)}</td><td>{_num(_bp(s['excess_at_end']), 1)}</td></tr>"
                   for s in report["events"])
    return ("<p class='note'>Mean cumulative return from the event bar's close, 95% band assuming independent "
            "events (clustered events make it too narrow); dashed: every bar.</p>"
            f"<table><tr><th class='name'>event</th><th>bars flagged</th><th>events with a whole path</th>"
            f"<th>mean return at {end} (bp)</th><th>excess over every bar (bp)</th></tr>{rows}</table>")


def _bp(value: float | None) -> float | None:
    return None if value is None else value * 1e4


def _pairs(report: dict) -> str:
    names, matrix = report["correlation"]["factors"], report["correlation"]["matrix"]
    pairs = sorted(((abs(matrix[i][j]), names[i], names[j], matrix[i][j]) for i in range(len(names))
                    for j in range(i + 1, len(names)) if matrix[i][j] is not None and abs(matrix[i][j]) >= CORRELATED),
                   reverse=True)
    if not pairs:
        return f"<p class='note'>No pair of factors has a rank correlation beyond ±{CORRELATED}.</p>"
    items = "".join(f"<li><code>{_e(a)}</code> ~ <code>{_e(b)}</code>: {value:.3f}</li>"
                    for _, a, b, value in pairs[:PAIRS_SHOWN])
    return f"<p>Pairs beyond ±{CORRELATED} ({len(pairs)}):</p><ul>{items}</ul>"
