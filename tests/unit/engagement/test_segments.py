"""Segments: RFM scores, value tiers and lifecycle transitions over time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engagement.segments import (
    active_tier,
    lifecycle_stage,
    reactivation_due_at,
    rfm,
    touch,
    value_tier,
)
from recommender.engagement.signals import apply_offer_sent
from recommender.engagement.state import CustomerState
from recommender.engagement.terms import Lifecycle
from tests.unit.engagement.helpers import DAY, T0, book, policy

P = policy()


def seen(ts: float) -> CustomerState:
    return touch(CustomerState(), ts, P)


def valuable(ts: float = T0) -> CustomerState:
    """Four hotel bookings of 4,000 (F=4, M=4: valuable), the last at ts."""
    s = CustomerState()
    for i in range(4):
        s = book(s, f"b{i}", ts=ts - (3 - i) * DAY, amount=4000.0, item_id=f"h{i}", p=P)
    return s


@pytest.mark.parametrize(
    ("idle_days", "r"),
    [(0, 5), (7, 5), (7.01, 4), (30, 4), (31, 3), (90, 3), (91, 2), (180, 2), (181, 1)],
)
def test_recency_score_from_idle_days(idle_days: float, r: int) -> None:
    assert rfm(seen(T0), T0 + idle_days * DAY, P).r == r


def test_unknown_customer_scores_lowest() -> None:
    score = rfm(CustomerState(), T0, P)
    assert (score.r, score.f, score.m) == (1, 1, 1)
    assert value_tier(score, P) == "dormant"


def test_frequency_and_monetary_count_confirmed_bookings_in_the_window() -> None:
    s = valuable()
    score = rfm(s, T0, P)
    assert (score.frequency, score.monetary, score.f, score.m) == (4, 16_000.0, 4, 4)
    s = book(s, "b3", ts=T0 + 1, amount=4000.0, status="cancelled", p=P)
    score = rfm(s, T0 + 1, P)
    assert (score.frequency, score.f, score.m) == (3, 3, 3)
    # A year later every booking has left the window.
    assert rfm(s, T0 + 400 * DAY, P).frequency == 0


def test_value_tiers() -> None:
    s = valuable()
    assert value_tier(rfm(s, T0, P), P) == "high_value"
    assert value_tier(rfm(s, T0 + 91 * DAY, P), P) == "at_risk"  # valuable, gone quiet
    small = book(CustomerState(), "b", ts=T0, amount=100.0, p=P)
    assert value_tier(rfm(small, T0, P), P) == "potential"
    assert value_tier(rfm(small, T0 + 200 * DAY, P), P) == "dormant"


def test_lifecycle_of_a_potential_customer_over_time() -> None:
    s = seen(T0)
    assert active_tier(s, P) == "potential"
    expected: list[tuple[float, Lifecycle]] = [
        (0, "new"),
        (29.9, "new"),
        (30, "active"),
        (44.9, "active"),
        (45, "at_risk"),
        (90, "dormant"),
        (365, "churned"),
    ]
    for days, stage in expected:
        assert lifecycle_stage(s, T0 + days * DAY, P) == stage, days


def test_high_value_customers_are_at_risk_sooner() -> None:
    s = valuable()
    assert active_tier(s, P) == "high_value"
    assert lifecycle_stage(s, T0 + 29 * DAY, P) == "active"
    assert lifecycle_stage(s, T0 + 30 * DAY, P) == "at_risk"
    assert lifecycle_stage(s, T0 + 60 * DAY, P) == "dormant"
    # Bookings leaving the RFM window do not move the thresholds of an idle customer.
    assert lifecycle_stage(s, T0 + 180 * DAY, P) == "churned"
    assert active_tier(s, P) == "high_value"


@pytest.mark.parametrize("idle_days", [90, 400])
def test_dormant_or_churned_customer_who_returns_is_reactivated(idle_days: float) -> None:
    back = T0 + idle_days * DAY
    s = touch(seen(T0), back, P)
    assert s.stage == "reactivated" and s.stage_since == back
    assert lifecycle_stage(s, back, P) == "reactivated"
    assert lifecycle_stage(s, back + 29 * DAY, P) == "reactivated"
    s2 = touch(s, back + 29 * DAY, P)  # activity does not end or renew it
    assert lifecycle_stage(s2, back + 30 * DAY, P) == "active"


def test_at_risk_customer_who_returns_is_just_active() -> None:
    s = touch(seen(T0), T0 + 50 * DAY, P)
    assert lifecycle_stage(s, T0 + 50 * DAY, P) == "active"


def test_activity_keeps_a_customer_new_until_new_days() -> None:
    s = touch(seen(T0), T0 + 10 * DAY, P)
    assert lifecycle_stage(s, T0 + 20 * DAY, P) == "new"
    assert lifecycle_stage(s, T0 + 31 * DAY, P) == "active"


def test_late_and_redelivered_events_do_not_change_the_stage() -> None:
    s = touch(seen(T0), T0 + 100 * DAY, P)
    assert touch(s, T0 + 100 * DAY, P) == s
    late = touch(s, T0 - DAY, P)
    assert late.first_seen == T0 - DAY
    assert (late.stage, late.last_active) == (s.stage, s.last_active)


def test_reactivation_due_time() -> None:
    s = seen(T0)
    assert reactivation_due_at(CustomerState(), P) is None
    assert reactivation_due_at(s, P) == T0 + 45 * DAY
    s = apply_offer_sent(s, kind="reactivation", destination=None, ts=T0 + 50 * DAY)
    assert reactivation_due_at(s, P) == T0 + 80 * DAY
    only_dormant = policy(reactivation_stages=["dormant"])
    assert reactivation_due_at(seen(T0), only_dormant) == T0 + 90 * DAY
    assert reactivation_due_at(seen(T0), policy(reactivation_stages=[])) is None


ORDER: dict[Lifecycle, int] = {
    "new": 0,
    "active": 0,
    "reactivated": 0,
    "at_risk": 1,
    "dormant": 2,
    "churned": 3,
}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=800), min_size=1, max_size=8),
    st.booleans(),
    st.floats(min_value=0, max_value=800),
    st.floats(min_value=0, max_value=800),
)
def test_idle_time_only_moves_the_stage_forward(
    activity_days: list[float], rich: bool, a: float, b: float
) -> None:
    s = valuable() if rich else CustomerState()
    for d in sorted(activity_days):
        s = touch(s, T0 + d * DAY, P)
    t1, t2 = sorted((a, b))
    last = s.last_active
    s1 = lifecycle_stage(s, last + t1 * DAY, P)
    s2 = lifecycle_stage(s, last + t2 * DAY, P)
    assert ORDER[s1] <= ORDER[s2]
