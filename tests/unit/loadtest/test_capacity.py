"""Pure parts of the capacity measurement: per-group drain rates and the whole worker's."""

from __future__ import annotations

import pytest

from loadtest.capacity import drain_summary, whole_capacity


def test_drain_rate_counts_from_the_last_idle_sample() -> None:
    series = [(1.0, 0), (2.0, 0), (3.0, 1000), (4.0, 2000), (5.0, 3000), (6.0, 4000)]
    s = drain_summary(series, 4000)
    assert s["start_s"] == 2.0  # idle until then: start-up and the group join are left out
    assert s["done_s"] == 6.0
    assert s["events_per_s"] == pytest.approx(1000.0)
    assert s["events_per_s_10_90"] == pytest.approx(1000.0)


def test_a_group_that_never_finished_has_no_rate() -> None:
    s = drain_summary([(1.0, 0), (2.0, 500)], 1000)
    assert s["done_s"] is None and s["applied"] == 500
    assert "events_per_s" not in s
    assert drain_summary([], 0)["events_per_s"] is None  # nothing to drain


def test_whole_worker_is_limited_by_its_slowest_group() -> None:
    groups = {
        "ingest": {"events": 1000, "start_s": 2.0, "done_s": 4.0},
        "engage": {"events": 1000, "start_s": 2.5, "done_s": 12.0},
        "engage-prices": {"events": 0, "start_s": None, "done_s": None},
    }
    assert whole_capacity(groups, 1000) == pytest.approx(100.0)  # 1000 events in 10 s
    groups["engage"]["done_s"] = None
    assert whole_capacity(groups, 1000) is None
