"""Three simulated days through a real worker: no broken promise, every eligible offer once."""

from __future__ import annotations

import pytest

from loadtest import simulate
from loadtest.engage_world import WeekPlan
from loadtest.stack import Stack

pytestmark = pytest.mark.integration


def test_simulated_days_keep_every_promise_to_the_push_service(stack: Stack) -> None:
    week = WeekPlan(users=300, days=3.0, items=400, price_updates_per_day=40.0)
    report = simulate.run(simulate.SimPlan(week=week), stack=stack)
    events, fit = report["events"], report["eligibility"]
    assert events["redelivered"] > 0 and events["zones"] >= 20
    assert report["offers_by_kind"].get("price_drop", 0) > 0, report["offers_by_kind"]
    assert report["offers_by_kind"].get("cross_sell", 0) > 0, report["offers_by_kind"]
    # No offer without consent, over the cap, in quiet hours, duplicated, expired, ...
    # (beyond consent changes racing an offer within one barrier tick, reported apart)
    assert report["violations"] == 0, (
        report["violations_found_by_kind"],
        report["violation_examples"],
    )
    # ... and each user eligible for a price drop or a cross-sell got that offer exactly once.
    assert fit["matched_by_kind"].get("price_drop", 0) > 0, fit
    assert fit["matched_by_kind"].get("cross_sell", 0) > 0, fit
    assert (fit["missing"], fit["extra"]) == (0, 0), fit["examples"]
    assert report["result"] == "PASS", report["verdict"]
