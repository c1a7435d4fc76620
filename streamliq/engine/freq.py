"""Frequency and duration parsing: exchange style (`15m`) and pandas style (`15min`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError

US_PER_SECOND = 1_000_000
SECONDS_PER_DAY = 86_400

_UNIT_SECONDS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "t": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86_400, "day": 86_400, "days": 86_400,
}
_FREQ_RE = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")
ACCEPTED_FORMS = "<N>s, <N>m, <N>min, <N>T, <N>h, <N>H, <N>d, <N>D (e.g. 5s, 15m, 15min, 1h, 4h, 1d)"
_FORMS = f"accepted forms are {ACCEPTED_FORMS}, dividing one day evenly"


@dataclass(frozen=True, order=True)
class Freq:
    """A bar frequency: `seconds` long, aligned to the Unix epoch."""

    seconds: int

    @property
    def us(self) -> int:
        """Length in microseconds."""
        return self.seconds * US_PER_SECOND

    @property
    def name(self) -> str:
        """Canonical exchange-style name: the largest whole unit (`15m`, `1h`, `1d`, `90s`)."""
        for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
            if self.seconds % size == 0:
                return f"{self.seconds // size}{unit}"
        return f"{self.seconds}s"

    def __str__(self) -> str:
        return self.name


def parse_freq(text: str) -> Freq:
    """Parse `15m`, `15min`, `1h`, `1D`, ... into a Freq; `M` (months) is refused."""
    match = _FREQ_RE.match(str(text))
    if not match:
        raise InputError(f"invalid frequency {text!r}: {_FORMS}")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "M":
        raise InputError(
            f"invalid frequency {text!r}: 'M' means months; use '{count}m' or '{count}min' "
            f"for minutes; {_FORMS}"
        )
    size = _UNIT_SECONDS.get(unit.lower())
    if size is None or count <= 0:
        raise InputError(f"invalid frequency {text!r}: {_FORMS}")
    seconds = count * size
    if seconds > SECONDS_PER_DAY or SECONDS_PER_DAY % seconds:
        raise InputError(f"invalid frequency {text!r}: it must divide one day evenly, e.g. "
                         f"{_neighbours(count, size)}; accepted forms are {ACCEPTED_FORMS}")
    return Freq(seconds)


def _neighbours(count: int, size: int) -> str:
    """The closest frequencies in the same unit that do divide a day (`6m or 8m` for `7m`)."""
    fits = [n for n in range(1, SECONDS_PER_DAY // size + 1) if SECONDS_PER_DAY % (n * size) == 0]
    below = max((n for n in fits if n < count), default=None)
    above = min((n for n in fits if n > count), default=None)
    return " or ".join(Freq(n * size).name for n in (below, above) if n is not None)


def parse_freqs(text: str | list[str] | tuple[str, ...]) -> tuple[Freq, ...]:
    """Parse a comma-separated list (or a sequence) of frequencies, keeping order, no repeats."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    freqs: list[Freq] = []
    for part in parts:
        freq = parse_freq(part)
        if freq not in freqs:
            freqs.append(freq)
    if not freqs:
        raise InputError(f"no frequency given: {_FORMS}")
    return tuple(freqs)


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|min|h)?\s*$")
_DURATION_US = {"us": 1, "ms": 1000, "s": US_PER_SECOND, None: US_PER_SECOND,
                "m": 60 * US_PER_SECOND, "min": 60 * US_PER_SECOND, "h": 3600 * US_PER_SECOND}


def parse_duration_us(text: str | int | float) -> int:
    """Parse a non-negative duration (`5s`, `500ms`, `1m`, `0`; a bare number is seconds) to µs."""
    if isinstance(text, int | float):
        value, unit = float(text), None
    else:
        match = _DURATION_RE.match(text)
        if not match:
            raise InputError(f"invalid duration {text!r}: use e.g. 5s, 500ms, 1m or 0")
        value, unit = float(match.group(1)), match.group(2)
    if value < 0:
        raise InputError(f"invalid duration {text!r}: must not be negative")
    return round(value * _DURATION_US[unit])
