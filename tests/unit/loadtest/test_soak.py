"""Pure parts of the soak report: memory growth, lag over time, resident memory, the replay."""

from __future__ import annotations

import os

import pytest

from loadtest.soak import Replay, rss_mb
from loadtest.soak_summary import lag_summary, slope_mb_per_10min, summarise
from loadtest.world import Record


def test_slope_is_growth_per_ten_minutes() -> None:
    ts = [0.0, 60.0, 120.0, 180.0]
    assert slope_mb_per_10min(ts, [100.0, 101.0, 102.0, 103.0]) == pytest.approx(10.0)
    assert slope_mb_per_10min(ts, [100.0, 100.0, 100.0, 100.0]) == pytest.approx(0.0)
    assert slope_mb_per_10min([0.0], [100.0]) == 0.0


def test_steady_jittering_lag_is_bounded() -> None:
    ts = [float(t) for t in range(0, 90, 10)]
    lags = [900.0, 300.0, 1200.0, 200.0, 800.0, 1100.0, 400.0, 1000.0, 600.0]
    s = lag_summary(ts, lags, rate=100.0)
    assert s["max_by_third"] == [1200.0, 1100.0, 1000.0]
    assert s["bounded"]


def test_growing_lag_is_not_bounded() -> None:
    ts = [float(t) for t in range(0, 90, 10)]
    lags = [100.0 * t for t in ts]  # falls 100 events/s further behind
    s = lag_summary(ts, lags, rate=100.0)
    assert s["growth_per_s"] == pytest.approx(100.0)
    assert not s["bounded"]  # 8,000 at the end > 2 x 2,000 and > 10 s x 100/s
    assert lag_summary([], [], rate=100.0)["bounded"]


def test_summary_leaves_the_first_minute_out_of_memory_slopes() -> None:
    samples = [
        {
            "t_s": t,
            "worker_rss_mb": 50.0 if t < 60 else 100.0,
            "api_rss_mb": 80.0,
            "redis_mb": 10.0,
            "broker_rss_mb": 10.0 + t,
            "lag_ingest": 0.0,
            "lag_engage": 0.0,
            "dead_letters": 0.0,
        }
        for t in (10.0, 30.0, 60.0, 120.0, 180.0)
    ]
    s = summarise(samples, rate=100.0)
    assert s["worker_rss_growth_mb_per_10min"] == pytest.approx(0.0)
    assert s["broker_rss_growth_mb_per_10min"] == pytest.approx(600.0)
    assert s["worker_rss_mb_first_last"] == [100.0, 100.0]


def test_replay_loops_and_counts_what_it_handed_out() -> None:
    pool = [Record("clicks", b"u1", b"{}", True, "ok"), Record("clicks", b"u2", b"{}", True, "ok")]
    replay = Replay(pool)
    got = [next(replay).key for _ in range(5)]
    assert got == [b"u1", b"u2", b"u1", b"u2", b"u1"]
    assert replay.handed == 5


def test_rss_of_this_process_is_plausible() -> None:
    assert 10.0 < rss_mb(os.getpid()) < 100_000.0
    assert rss_mb(2**22 + 12345) == 0.0  # no such process
