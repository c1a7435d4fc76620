"""Reading frame fields: numbers, times and unit multiples, with `Bad` for what cannot be read."""

from __future__ import annotations

import math

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


def exchange_time(obj: dict, key: str, where: str, arrival: int) -> int:
    """An epoch-milliseconds field as µs; absurd times (before 2017, or a day past the arrival)
    are Bad, not events that would hold a bar open for years."""
    result = millis(obj, key, where)
    if result < EARLIEST_MS or result * 1000 > arrival + MAX_AHEAD_US:
        raise Bad(f"absurd time in {where}.{key}")
    return result * 1000


def sample(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
