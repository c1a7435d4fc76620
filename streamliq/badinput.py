"""Counting skipped bad input: each kind is logged once, with a sample, then only counted."""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger("streamliq")


class BadInputCounter:
    """Counts bad input by kind ("bad number in price", "unknown side", ...)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def record(self, kind: str, sample: str, count: int = 1) -> None:
        """Count `count` bad items of `kind`; the first of a kind is logged with `sample`."""
        if count <= 0:
            return
        if kind not in self.counts:
            log.warning("skipping bad input (%s), first seen: %s", kind, sample)
        self.counts[kind] += count

    @property
    def total(self) -> int:
        return sum(self.counts.values())
