"""Popularity increments per day and market, and merging day tops."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.features import ItemInfo
from recommender.popularity import ALL_MARKETS, day_of, increments, merge_days, recent_days
from recommender.profile import DEFAULT_WEIGHTS, Touch


def info(item_id: str, dest: str) -> ItemInfo:
    return ItemInfo(item_id, "hotel", dest, "mid", 4, np.zeros(4, dtype=np.float32), True)


def test_increments_sum_weights_per_day_and_market() -> None:
    day1, day2 = 1_700_000_000.0, 1_700_000_000.0 + 86_400
    touches = [
        Touch("u1", day1, "view", info("h1", "sanya")),
        Touch("u2", day1 + 5, "wishlist", info("h1", "sanya")),
        Touch("u1", day2, "click", info("h2", "tokyo")),
        Touch("u1", day2, "search", None, "tokyo"),  # no item: not popularity
        Touch("u1", day2, "cancel", info("h2", "tokyo")),  # weight 0
    ]
    inc = increments(touches, DEFAULT_WEIGHTS)
    assert inc[(day_of(day1), "sanya")] == {"h1": 4.0}
    assert inc[(day_of(day1), ALL_MARKETS)] == {"h1": 4.0}
    assert inc[(day_of(day2), "tokyo")] == {"h2": 1.5}
    assert len(inc) == 4


def test_day_buckets_are_utc_dates() -> None:
    assert day_of(0.0) == "19700101"
    assert recent_days(86_400 * 2 + 1, 3) == ["19700103", "19700102", "19700101"]


def test_merge_days_decays_older_days_and_normalises() -> None:
    merged = merge_days([[("a", 10.0), ("b", 4.0)], [("b", 20.0), ("c", 1.0)]], 0.5, 2)
    # a: 10, b: 4 + 0.5 * 20 = 14, c: 0.5
    assert merged == [("b", 1.0), ("a", pytest.approx(10 / 14))]
    assert merge_days([], 0.5, 3) == []
