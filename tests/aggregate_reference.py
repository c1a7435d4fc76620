"""Independent pandas reading of FACTORS.md sections 9 and 10 (no streamliq import).

Section 9: venue quantities to base units with a hand-written spec mapping. Section 10: the
union of the members' events relabelled `("all", coin)`, amounts in single coins and prices in
USD per coin, fed to the per-instrument reference (`reference.py`) as one more instrument; its
ticker and section 7 columns are NaN by definition, and its ticker events only count in
`n_events`/`late_events`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from reference import TICKER_COLUMNS, reference_factors

Specs = dict[tuple[str, str], tuple[str, str, float, float]]  # -> (coin, kind, contract value, coins per unit)
TICKER_VALUES = ("funding_rate", "open_interest", "last_price", "index_price", "mark_price")


def in_base_units(events: dict[str, pd.DataFrame], specs: Specs) -> dict[str, pd.DataFrame]:
    """Section 9: amounts and open interest in units of the symbol's coin (inverse: USD / price)."""
    out = {}
    for channel, frame in events.items():
        frame = frame.copy()
        keys = list(zip(frame["exchange"], frame["symbol"], strict=True))
        value = np.array([specs[k][2] for k in keys])
        inverse = np.array([specs[k][1] == "inverse" for k in keys])
        if channel == "derivative_ticker":
            # inverse open interest at the row's mark price, else the instrument's last one
            mark = frame.groupby(["exchange", "symbol"])["mark_price"].ffill().to_numpy()
            oi = frame["open_interest"].to_numpy() * value
            frame["open_interest"] = np.where(inverse, oi / mark, oi)
        else:
            amount = frame["amount"].to_numpy() * value
            frame["amount"] = np.where(inverse, amount / frame["price"].to_numpy(), amount)
        out[channel] = frame
    return out


def union_events(events: dict[str, pd.DataFrame], specs: Specs) -> dict[str, pd.DataFrame]:
    """Section 10: the members' events (already in base units) as events of ("all", coin)."""
    out = {}
    for channel, frame in events.items():
        keys = list(zip(frame["exchange"], frame["symbol"], strict=True))
        frame = frame.assign(exchange="all", symbol=[specs[k][0] for k in keys])
        per_unit = np.array([specs[k][3] for k in keys])
        if channel == "derivative_ticker":
            frame[list(TICKER_VALUES)] = np.nan
        else:
            frame["price"] = frame["price"].to_numpy() / per_unit
            frame["amount"] = frame["amount"].to_numpy() * per_unit
        out[channel] = frame
    return out


def expected_with_aggregates(events: dict[str, pd.DataFrame], specs: Specs, freqs: dict[str, int],
                             **params) -> pd.DataFrame:
    """Per-instrument rows in base units plus the aggregate rows, every frequency of `freqs`."""
    base = in_base_units(events, specs)
    union = union_events(base, specs)
    both = {channel: pd.concat([base[channel], union[channel]], ignore_index=True) for channel in base}
    renamed = {channel: frame.rename(columns={"timestamp": "ts", "local_timestamp": "arrival"})
               for channel, frame in both.items()}
    frames = [reference_factors(renamed["liquidations"], renamed.get("derivative_ticker"), renamed.get("trades"),
                                freq_seconds=seconds, freq_name=name, **params)
              for name, seconds in freqs.items()]
    out = pd.concat(frames, ignore_index=True)
    out.loc[out["exchange"] == "all", list(TICKER_COLUMNS)] = np.nan
    return out
