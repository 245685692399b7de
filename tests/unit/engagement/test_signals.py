"""Clicks, feedback, consent and sent offers applied to the customer state."""

from __future__ import annotations

from recommender.engagement.signals import (
    apply_click,
    apply_consent,
    apply_feedback,
    apply_offer_sent,
    ranking_penalties,
)
from recommender.engagement.state import CustomerState
from tests.unit.engagement.helpers import DAY, T0, policy

P = policy()


def click(
    s: CustomerState,
    action: str,
    ts: float,
    item: str | None = None,
    dest: str | None = None,
    price: float | None = None,
) -> CustomerState:
    return apply_click(
        s, action=action, ts=ts, item_id=item, destination=dest, price=price, policy=P
    )


def feedback(
    s: CustomerState, kind: str, ts: float, item: str | None = "h1", rating: float | None = None
) -> CustomerState:
    return apply_feedback(s, kind=kind, ts=ts, item_id=item, rating=rating, policy=P)


def test_views_and_wishlists_make_a_watcher_with_the_price_seen() -> None:
    s = click(CustomerState(), "view", T0, "h1", "paris", 120.0)
    assert s.watched["h1"].price == 120.0 and s.watched["h1"].ts == T0
    s = click(s, "wishlist", T0 + 5, "h1")  # no price: the last one seen stays
    assert s.watched["h1"].price == 120.0 and s.watched["h1"].ts == T0 + 5
    s = click(s, "view", T0 + 1, "h1", price=80.0)  # older event arriving late
    assert s.watched["h1"].price == 120.0
    assert "h2" not in click(s, "share", T0 + 9, "h2").watched


def test_searches_and_comparing_clicks_record_the_destination() -> None:
    s = click(CustomerState(), "search", T0, dest="paris")
    s = click(s, "click", T0 + 10, "h9", "rome")
    s = click(s, "view", T0 + 20, "h8", "oslo")  # a view alone is not comparing by default
    assert sorted(s.searches) == ["paris", "rome"]
    assert s.searches["rome"].ts == T0 + 10


def test_watched_and_searches_are_bounded() -> None:
    p = policy(max_watched=3, max_searches=2)
    s = CustomerState()
    for i in range(6):
        s = apply_click(
            s, action="view", ts=T0 + i, item_id=f"h{i}", destination=None, price=1.0, policy=p
        )
        s = apply_click(
            s, action="search", ts=T0 + i, item_id=None, destination=f"d{i}", price=None, policy=p
        )
    assert sorted(s.watched) == ["h3", "h4", "h5"]
    assert sorted(s.searches) == ["d4", "d5"]


def test_complaint_lowers_the_item_and_pauses_marketing() -> None:
    s = feedback(CustomerState(), "complaint", T0)
    assert s.complaint_until == T0 + 30 * DAY
    assert ranking_penalties(s, T0, P) == {"h1": 1.0}
    # Penalties decay with their half-life (90 days by default).
    assert abs(ranking_penalties(s, T0 + 90 * DAY, P)["h1"] - 0.5) < 1e-9


def test_general_complaint_pauses_without_an_item() -> None:
    s = feedback(CustomerState(), "complaint", T0, item=None)
    assert s.complaint_until == T0 + 30 * DAY and not s.penalties


def test_low_ratings_lower_the_item_high_ratings_do_not() -> None:
    s = feedback(CustomerState(), "rating", T0, "h1", rating=1.5)
    s = feedback(s, "review", T0, "h2", rating=4.5)
    assert ranking_penalties(s, T0, P) == {"h1": 0.5}
    assert s.complaint_until == 0.0


def test_feedback_is_idempotent_and_order_free() -> None:
    a = feedback(CustomerState(), "complaint", T0 + 10)
    a = feedback(a, "rating", T0 + 20, rating=1.0)
    b = feedback(CustomerState(), "rating", T0 + 20, rating=1.0)
    b = feedback(b, "complaint", T0 + 10)
    b = feedback(b, "complaint", T0 + 10)
    assert a.penalties == b.penalties and a.complaint_until == b.complaint_until
    assert a.penalties["h1"].value == 1.0  # the complaint outweighs the later low rating


def test_newest_consent_per_channel_wins() -> None:
    s = apply_consent(CustomerState(), channel="push", granted=True, ts=T0, timezone="Asia/Tokyo")
    s = apply_consent(s, channel="push", granted=False, ts=T0 + 5, timezone=None)
    s = apply_consent(s, channel="push", granted=True, ts=T0 + 1, timezone="UTC")  # stale
    s = apply_consent(s, channel="sms", granted=True, ts=T0 + 2, timezone=None)
    assert s.granted() == {"push": False, "sms": True}
    assert s.timezone == "Asia/Tokyo"


def test_sent_offers_are_remembered_for_their_triggers() -> None:
    s = click(CustomerState(), "search", T0, dest="paris")
    s = apply_offer_sent(s, kind="abandoned_search", destination="paris", ts=T0 + DAY)
    assert s.searches["paris"].reminded_at == T0 + DAY
    s = apply_offer_sent(s, kind="reactivation", destination=None, ts=T0 + 2 * DAY)
    assert s.reactivation_sent == T0 + 2 * DAY
    assert apply_offer_sent(s, kind="price_drop", destination=None, ts=T0) == s


def test_a_booked_item_is_not_watched_whatever_the_order() -> None:
    from tests.unit.engagement.helpers import book

    p = policy()

    def view(s: CustomerState, ts: float) -> CustomerState:
        return apply_click(
            s, action="view", ts=ts, item_id="h1", destination=None, price=100.0, policy=p
        )

    # Viewed, then booked: the booking ends the watch.
    s = book(view(CustomerState(), T0), "b1", ts=T0 + 60, item_id="h1")
    assert "h1" not in s.watched
    # Looked at again after booking it: still not watched.
    assert "h1" not in view(s, T0 + 120).watched
    # The view arrives after the booking (out of order): not watched either.
    late = view(book(CustomerState(), "b1", ts=T0 + 60, item_id="h1"), T0)
    assert "h1" not in late.watched
    # A cancelled booking does not count: the item is watched again.
    cancelled = book(s, "b1", ts=T0 + 90, item_id="h1", status="cancelled")
    assert "h1" in view(cancelled, T0 + 120).watched
