"""Reading frame fields: numbers, times, sides and unit multiples, with `Bad` for what cannot be
read; `each` reads the items of a multi-item message one by one (a bad item is counted and
dropped, the others are kept)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..badinput import BadInputCounter

NAN = math.nan
EARLIEST_MS = 1_483_228_800_000  # 2017-01-01: an earlier exchange time is not derivatives market data
MAX_AHEAD_US = 86_400_000_000  # an exchange time a day past its arrival is no clock skew


class Bad(Exception):
    """A frame or field that cannot be normalized: `kind` is what the counter groups by."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def base_per_unit(base: str) -> tuple[str, float]:
    """`1000PEPE` -> (`PEPE`, 1000.0): a leading power of ten is the symbol's unit multiple."""
    digits = len(base) - len(base.lstrip("0123456789"))
    head = base[:digits]
    if digits and head[0] == "1" and set(head[1:]) <= {"0"} and len(head) >= 4 and len(base) > digits:
        return base[digits:], float(head)
    return base, 1.0


def number(obj: dict, key: str, where: str, positive: bool = True) -> float:
    """A finite float field (strictly positive unless `positive=False`), else Bad."""
    value = obj.get(key)
    if isinstance(value, bool):  # float(True) would be 1.0
        raise Bad(f"bad number in {where}.{key}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise Bad(f"bad number in {where}.{key}") from None
    if not math.isfinite(result) or (positive and result <= 0):
        raise Bad(f"bad number in {where}.{key}")
    return result


def quantity(obj: dict, key: str, where: str) -> float:
    """A quantity field: finite and >= 0, else Bad. A zero quantity is data (the event counts and
    adds 0), as in Tardis files."""
    result = number(obj, key, where, positive=False)
    if result < 0:
        raise Bad(f"bad number in {where}.{key}")
    return result


def optional_number(obj: dict, key: str, where: str, positive: bool = True) -> float:
    """`number`, or NaN when the field is absent or empty (a ticker field not carried)."""
    return NAN if obj.get(key) in (None, "") else number(obj, key, where, positive)


def millis(obj: dict, key: str, where: str) -> int:
    """A positive epoch-milliseconds field (int or digit string), else Bad."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Bad(f"bad time in {where}.{key}")
    try:
        result = int(value)
    except ValueError:
        raise Bad(f"bad time in {where}.{key}") from None
    if result <= 0:
        raise Bad(f"bad time in {where}.{key}")
    return result


def side(obj: dict, key: str, sides: Mapping[str, int], where: str) -> int:
    """A side field, one of the strings `sides` maps, else Bad (a list or an object is no side)."""
    value = obj.get(key)
    result = sides.get(value) if isinstance(value, str) else None
    if result is None:
        raise Bad(f"bad side in {where}.{key}")
    return result


def exchange_time(obj: dict, key: str, where: str, arrival: int) -> int:
    """An epoch-milliseconds field as µs; absurd times (before 2017, or a day past the arrival)
    are Bad, not events that would hold a bar open for years."""
    result = millis(obj, key, where)
    if result < EARLIEST_MS or result * 1000 > arrival + MAX_AHEAD_US:
        raise Bad(f"absurd time in {where}.{key}")
    return result * 1000


def each(items: list, where: str, bad: BadInputCounter, read: Callable[[dict], None]) -> None:
    """`read` every item of a message's list: an item that is not an object, or that `read` finds
    Bad, is counted (one per item) and dropped; the items before and after it are kept. `read`
    must add nothing to the buffer before it has read the whole item."""
    for item in items:
        try:
            if not isinstance(item, dict):
                raise Bad(f"{where} item is not an object")
            read(item)
        except Bad as exc:
            bad.record(exc.kind, _item_sample(item))


def _item_sample(item: Any) -> str:
    try:
        return sample(json.dumps(item, separators=(",", ":")))
    except (TypeError, ValueError):
        return sample(repr(item))


def sample(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
