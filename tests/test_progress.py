"""Issue 12.6: the progress bar's ETA comes from the work left, not only the bytes read.

The old quick start sat at 58% with a growing ETA: the bytes were read, the engine was closing
months of empty bars between two bundled days, and nothing moved the bar.
"""

from __future__ import annotations

import io
import math

import pytest
from conftest import DAY, T0
from test_inputs import liq_file, liq_lines

from streamliq import progress
from streamliq.progress import ProgressBar, eta_seconds
from streamliq.tardis_replay import Replay, ReplayStats


def test_eta_is_elapsed_times_work_left_over_work_done():
    assert eta_seconds(10.0, 0.5) == 10.0
    assert eta_seconds(30.0, 0.25) == 90.0
    assert eta_seconds(10.0, 1.0) == 0.0
    assert math.isnan(eta_seconds(10.0, 0.0))


def test_the_share_done_is_the_lesser_of_bytes_and_event_time():
    stats = ReplayStats(bytes_total=100, bytes_done=58, span_us=(0, 1000), watermark_us=100)
    assert stats.done_share == pytest.approx(0.10)  # bytes read, but most bars still to close
    stats.watermark_us = 900
    assert stats.done_share == pytest.approx(0.58)  # a dense last day still to read
    assert ReplayStats(bytes_total=100, bytes_done=50).done_share == 0.5  # no event time known (Dask)
    assert ReplayStats(span_us=(0, 10), watermark_us=-(2**63)).done_share == 0.0  # before the first event


def test_the_bar_shows_the_work_left(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    stats = ReplayStats(bytes_total=100, bytes_done=58, span_us=(0, 1000), watermark_us=100, started=900.0)
    stream = io.StringIO()
    ProgressBar(stream)(stats)
    line = stream.getvalue()
    assert " 10.0%" in line and "ETA 15:00" in line  # 100 s for 10%: 900 s left, not 72 s


def test_event_time_moves_the_bar_across_a_silent_stretch(tmp_path):
    """Two days 40 days apart: while the engine closes the bars in between, no byte is read."""
    liq_file(tmp_path, 0, "ETHUSDT", liq_lines(50, T0 + 3_600_000_000))
    liq_file(tmp_path, 40, "ETHUSDT", liq_lines(50, T0 + 40 * DAY + 3_600_000_000))
    seen: list[tuple[float, float]] = []
    run = Replay(tmp_path, on_progress=lambda s: seen.append((s.bytes_done / s.bytes_total, s.done_share)))
    list(run)
    shares = [share for _, share in seen]
    assert shares == sorted(shares) and run.stats.done_share == 1.0
    # day 40's first block is read before the engine closes the 39 days of bars before it: the
    # bytes say "done" while the event time moves the bar, one update per day of bars closed
    closing = [share for read, share in seen if read == 1.0]
    assert len(closing) > 30 and closing[0] < 0.1 and closing[-2] > 0.9
