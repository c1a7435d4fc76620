"""Capped exponential backoff with jitter, shared by websocket reconnects and REST retries."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """`next()` gives the delay before retry n: min(cap, base * 2**n) scaled by a jitter in [0.5, 1]."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * 2 ** self.attempt) * random.uniform(0.5, 1.0)
        self.attempt = min(self.attempt + 1, 30)
        return delay

    def reset(self) -> None:
        self.attempt = 0
