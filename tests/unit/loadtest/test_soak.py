"""Pure parts of the soak report: memory growth and resident memory of a process tree."""

from __future__ import annotations

import os

import pytest

from loadtest.soak import rss_mb, slope_mb_per_10min


def test_slope_is_growth_per_ten_minutes() -> None:
    ts = [0.0, 60.0, 120.0, 180.0]
    assert slope_mb_per_10min(ts, [100.0, 101.0, 102.0, 103.0]) == pytest.approx(10.0)
    assert slope_mb_per_10min(ts, [100.0, 100.0, 100.0, 100.0]) == pytest.approx(0.0)
    assert slope_mb_per_10min([0.0], [100.0]) == 0.0


def test_rss_of_this_process_is_plausible() -> None:
    assert 10.0 < rss_mb(os.getpid()) < 100_000.0
    assert rss_mb(2**22 + 12345) == 0.0  # no such process
