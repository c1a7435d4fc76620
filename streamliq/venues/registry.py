"""The venue registry: `--venues` names to venue modules. Adding a venue is one module under
`streamliq/venues/` and one line here."""

from __future__ import annotations

from ..errors import InputError
from . import binance, bybit, okx
from .base import Venue

VENUES: dict[str, Venue] = {
    binance.VENUE.name: binance.VENUE,
    bybit.VENUE.name: bybit.VENUE,
    okx.VENUE.name: okx.VENUE,
}
DEFAULT = binance.VENUE.name


def venue(name: str) -> Venue:
    """The venue registered as `name` (an InputError listing the known ones otherwise)."""
    try:
        return VENUES[name.strip().lower()]
    except KeyError:
        raise InputError(f"unknown venue {name!r}: choose from {', '.join(VENUES)}") from None


def by_exchange(exchange: str) -> Venue | None:
    """The venue whose Tardis exchange id is `exchange`."""
    return next((v for v in VENUES.values() if v.exchange == exchange), None)
