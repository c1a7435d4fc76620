"""A progress line on stderr for long replays: events/s and an ETA from the work left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .tardis_replay import ReplayStats

SHOW_AFTER_SECONDS = 3.0


class ProgressBar:
    """Redraws in place on a terminal, prints a line every 10 s elsewhere; silent for short runs."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream  # the stderr of now, not of the import
        self.tty = self.stream.isatty()
        self.interval = 0.5 if self.tty else 10.0
        self.last_shown = 0.0
        self.shown = False

    def __call__(self, stats: ReplayStats, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = stats.seconds
        if not force and (elapsed < SHOW_AFTER_SECONDS or now - self.last_shown < self.interval):
            return
        self.last_shown = now
        share = stats.done_share
        eta = eta_seconds(elapsed, share)
        width = 24
        filled = round(width * share)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {share:6.1%}  {self.describe(stats)}  ETA {_clock(eta)}"
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = True

    def describe(self, stats: ReplayStats) -> str:
        """The counts shown between the bar and the ETA."""
        return f"{stats.events:,} events  {stats.events / max(stats.seconds, 1e-9):,.0f} ev/s  {stats.rows:,} rows"

    def done(self, stats: ReplayStats | None = None) -> None:
        """End the line; with `stats`, a line that was shown is drawn once more with the final counts
        (so that it never ends on a stale count)."""
        if self.shown and stats is not None:
            self(stats, force=True)
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def eta_seconds(elapsed: float, share: float) -> float:
    """Seconds left when `share` of the work took `elapsed` seconds (NaN before any progress)."""
    if share <= 0:
        return float("nan")
    return elapsed * max(0.0, 1 - share) / share


def _clock(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "--:--"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
