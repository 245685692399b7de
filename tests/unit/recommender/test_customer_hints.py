"""Engagement in ranking: feedback lowers an item for that user; high-value sees premium."""

from __future__ import annotations

from recommender.customer_hints import NO_HINTS, CustomerHints, hints_of
from recommender.engagement.config import DAY_S, EngagementPolicy
from recommender.engagement.segments import touch
from recommender.engagement.signals import apply_feedback
from recommender.engagement.state import CustomerState
from recommender.engagement.view import customer_view
from recommender.ranking import Candidate, RankRequest, RankWeights, rank
from tests.unit.engagement.helpers import book
from tests.unit.recommender.test_ranking import HL, NOW, catalog, ids, meta

POLICY = EngagementPolicy()
W = RankWeights()


def ranked(hints: CustomerHints) -> list[str]:
    items = catalog(
        meta("h1", dest="sanya", band="mid"),
        meta("h2", dest="tokyo", band="luxury"),
        meta("h3", dest="paris", band="budget"),
    )
    cands = [
        Candidate("h1", "popular", 0.9, "sanya"),
        Candidate("h2", "popular", 0.8, "tokyo"),
        Candidate("h3", "popular", 0.7, "paris"),
    ]
    return ids(
        rank(None, cands, items, RankRequest(k=3), W, now=NOW, affinity_half_life_s=HL, hints=hints)
    )


def test_no_hints_keep_the_plain_order() -> None:
    assert ranked(NO_HINTS) == ["h1", "h2", "h3"]


def test_a_complaint_about_an_item_moves_it_down_for_that_user() -> None:
    s = apply_feedback(
        CustomerState(), kind="complaint", ts=NOW - 60, item_id="h1", rating=None, policy=POLICY
    )
    hints = hints_of(s, NOW, POLICY)
    assert hints.penalties["h1"] > 0
    assert ranked(hints)[-1] == "h1"
    # The penalty fades: long after, the item is back in its place.
    later = hints_of(s, NOW + 365 * DAY_S, POLICY)
    assert ranked(later) == ["h1", "h2", "h3"]


def test_high_value_customers_see_upscale_and_luxury_first() -> None:
    s = touch(CustomerState(), NOW - 3600, POLICY)
    for n in range(12):
        s = book(s, f"b{n}", ts=NOW - 3600 - n * DAY_S, amount=20_000.0)
    hints = hints_of(s, NOW, POLICY)
    assert hints.premium
    assert ranked(hints)[0] == "h2"  # the luxury hotel
    assert customer_view(s, POLICY, now=NOW)["value_tier"] == "high_value"
    assert not hints_of(CustomerState(), NOW, POLICY).premium
    assert hints_of(None, NOW, POLICY) == NO_HINTS


def test_customer_view_shows_tier_stage_loyalty_and_holds() -> None:
    s = touch(CustomerState(), NOW - 10, POLICY)
    s = book(s, "b1", ts=NOW - 5, amount=1000.0)
    s = apply_feedback(s, kind="complaint", ts=NOW, item_id="h9", rating=None, policy=POLICY)
    v = customer_view(s, POLICY, now=NOW)
    assert v["lifecycle_stage"] == "new"
    assert v["loyalty"]["points"] == s.points > 0
    assert v["bookings"] == 1
    assert v["marketing_hold_until"] == s.complaint_until > NOW
    assert set(v["feedback_penalties"]) == {"h9"}
    # Idle long enough, the same state reads as dormant, with no event having arrived.
    idle = customer_view(s, POLICY, now=NOW + 200 * DAY_S)
    assert idle["lifecycle_stage"] in ("dormant", "churned")
    assert idle["marketing_hold_until"] is None
