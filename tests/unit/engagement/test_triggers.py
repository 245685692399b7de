"""Triggers: price drop, reactivation, cross-sell from flights, abandoned searches."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engagement.segments import touch
from recommender.engagement.signals import apply_click, apply_offer_sent
from recommender.engagement.state import CustomerState
from recommender.engagement.triggers import (
    Watcher,
    abandoned_search_offer,
    abandoned_searches,
    cross_sell_offer,
    price_drop_hits,
    price_drop_may_hit,
    price_drop_offers,
    reactivation_due,
    reactivation_offer,
    watchers_in,
)
from schemas import Booking, OfferItem, PriceUpdate
from tests.unit.engagement.helpers import DAY, HOUR, T0, book, policy

P = policy()


def item(item_id: str, item_type: str = "hotel", dest: str | None = "paris") -> OfferItem:
    return OfferItem(
        item_id=item_id, item_type=item_type, destination=dest, score=1.0, reason="For your trip"
    )  # type: ignore[arg-type]


def flight(status: str = "confirmed", item_type: str = "flight") -> Booking:
    return Booking(
        event_id="e1",
        user_id="u1",
        booking_id="bk1",
        status=status,
        item_id="f1",
        item_type=item_type,
        destination="paris",
        amount=800.0,
        currency="EUR",
        travel_start=date(2024, 7, 1),
        travel_end=date(2024, 7, 8),
        ts=T0,
    )  # type: ignore[arg-type]


# --- price drop ------------------------------------------------------------------------


def test_price_drop_against_the_price_each_watcher_saw() -> None:
    watchers = [
        Watcher("saw-100", T0 - DAY, 100.0),  # 100 -> 85: 15%
        Watcher("saw-90", T0 - DAY, 90.0),  # 90 -> 85: 5.6%, too small
        Watcher("saw-none", T0 - DAY, None),  # falls back to the previous price 95: 10.5%
        Watcher("old", T0 - 15 * DAY, 100.0),  # outside the 14-day watch window
        Watcher("booked", T0 - DAY, 100.0, booked=True),
    ]
    hits = price_drop_hits(85.0, 95.0, watchers, now=T0, policy=P)
    assert [h.user_id for h in hits] == ["saw-100", "saw-none"]
    assert hits[0].reference_price == 100.0 and abs(hits[0].drop_share - 0.15) < 1e-9


def test_price_drop_against_the_previous_price_only() -> None:
    p = policy(price_drop_reference="previous")
    hits = price_drop_hits(85.0, 95.0, [Watcher("u", T0, 200.0)], now=T0, policy=p)
    assert [h.reference_price for h in hits] == [95.0]
    assert price_drop_hits(85.0, None, [Watcher("u", T0, 200.0)], now=T0, policy=p) == []


def test_exactly_the_minimum_share_counts_and_rises_do_not() -> None:
    assert len(price_drop_hits(90.0, 100.0, [Watcher("u", T0)], now=T0, policy=P)) == 1
    assert price_drop_hits(110.0, 100.0, [Watcher("u", T0)], now=T0, policy=P) == []
    assert price_drop_hits(0.0, 0.0, [Watcher("u", T0)], now=T0, policy=P) == []


def test_small_steps_fan_out_once_the_highest_seen_price_is_far_enough_above() -> None:
    # A user saw 1000; the item goes 1000 -> 950 -> 900: two 5% steps, 10% below what they saw.
    assert not price_drop_may_hit(950.0, 1000.0, 1000.0, policy=P)
    assert price_drop_may_hit(900.0, 950.0, 1000.0, policy=P)
    assert price_drop_hits(900.0, 950.0, [Watcher("u", T0, 1000.0)], now=T0, policy=P)
    assert not price_drop_may_hit(900.0, 950.0, 999.0, policy=P)  # nobody saw enough
    assert not price_drop_may_hit(900.0, 950.0, None, policy=P)  # nobody saw a price
    assert price_drop_may_hit(85.0, 100.0, None, policy=P)  # the step alone qualifies
    assert price_drop_may_hit(85.0, None, None, policy=P)  # previous unknown: look
    assert price_drop_may_hit(85.0, 0.0, 50.0, policy=P)
    assert not price_drop_may_hit(110.0, 100.0, 120.0, policy=P)  # up, and 8% below 120


def test_with_the_previous_price_as_reference_the_seen_prices_do_not_count() -> None:
    p = policy(price_drop_reference="previous")
    assert not price_drop_may_hit(900.0, 950.0, 1000.0, policy=p)
    assert price_drop_may_hit(850.0, 950.0, 1000.0, policy=p)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(0.01, 1e6)), min_size=1, max_size=20),
    st.one_of(st.none(), st.floats(0, 1e6)),
    st.floats(0, 1e6),
    st.sampled_from(["seen", "previous"]),
    st.floats(0.01, 0.99),
)
def test_the_fan_out_filter_never_skips_a_qualifying_watcher(
    seen: list[float | None],
    previous: float | None,
    new: float,
    reference: str,
    share: float,
) -> None:
    p = policy(price_drop_reference=reference, price_drop_min_share=share)
    watchers = [Watcher(f"u{i}", T0, s) for i, s in enumerate(seen)]
    top = max((s for s in seen if s is not None), default=None)
    if price_drop_hits(new, previous, watchers, now=T0, policy=p):
        assert price_drop_may_hit(new, previous, top, policy=p)


def test_price_drop_offers_repeat_their_ids_on_redelivery() -> None:
    update = PriceUpdate(
        event_id="p1", item_id="h1", price=85.0, currency="CNY", previous_price=100.0, ts=T0
    )
    hits = price_drop_hits(85.0, 100.0, [Watcher("u1", T0), Watcher("u2", T0)], now=T0, policy=P)
    first = price_drop_offers(update, item("h1"), hits, now=T0, policy=P)
    again = price_drop_offers(update, item("h1"), hits, now=T0 + 60, policy=P)
    assert [c.offer_id for c in first] == [c.offer_id for c in again]
    assert len({c.offer_id for c in first}) == 2
    assert first[0].context == {
        "old_price": 100.0,
        "new_price": 85.0,
        "currency": "CNY",
        "drop_pct": 15.0,
    }
    assert first[0].item_key == "h1" and first[0].kind == "price_drop"


def test_watchers_come_from_customer_states() -> None:
    a = apply_click(
        CustomerState(),
        action="view",
        ts=T0,
        item_id="h1",
        destination=None,
        price=100.0,
        policy=P,
    )
    b = book(a, "bk", ts=T0 + 1, item_id="h1", p=P)
    ws = watchers_in({"a": a, "b": b, "c": CustomerState()}, "h1")
    assert ws == [Watcher("a", T0, 100.0, False)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1, 1000), min_size=1, max_size=50), st.floats(1, 1000))
def test_a_hit_is_exactly_a_big_enough_drop(seen: list[float], new: float) -> None:
    watchers = [Watcher(f"u{i}", T0, price) for i, price in enumerate(seen)]
    hits = {h.user_id for h in price_drop_hits(new, None, watchers, now=T0, policy=P)}
    expected = {w.user_id for w in watchers if (w.seen_price or 0) * 0.9 >= new + 1e-9}
    assert expected <= hits
    assert all(new <= (w.seen_price or 0) * 0.9 + 1e-9 for w in watchers if w.user_id in hits)


# --- reactivation ------------------------------------------------------------------------


def test_reactivation_picks_at_risk_and_dormant_users_once_per_cooldown() -> None:
    states = {
        "active": touch(CustomerState(), T0 - 10 * DAY, P),
        "at_risk": touch(CustomerState(), T0 - 50 * DAY, P),
        "dormant": touch(CustomerState(), T0 - 100 * DAY, P),
        "churned": touch(CustomerState(), T0 - 400 * DAY, P),
    }
    assert reactivation_due(states, now=T0, policy=P) == ["at_risk", "dormant"]
    states["dormant"] = apply_offer_sent(
        states["dormant"], kind="reactivation", destination=None, ts=T0 - 10 * DAY
    )
    assert reactivation_due(states, now=T0, policy=P) == ["at_risk"]
    assert "dormant" in reactivation_due(states, now=T0 + 20 * DAY, policy=P)


def test_reactivation_offer_id_is_stable_within_a_cooldown_window() -> None:
    items = [item("h1"), item("h2")]
    a = reactivation_offer("u1", items, now=T0, policy=P)
    b = reactivation_offer("u1", items, now=T0 + HOUR, policy=P)
    assert a.offer_id == b.offer_id and a.item_key == "reactivation"
    assert [i.item_id for i in a.items] == ["h1", "h2"]


# --- cross-sell -----------------------------------------------------------------------------


def test_flight_cross_sells_hotels_cars_and_tours_at_the_destination() -> None:
    ranked = [
        item("h1"),
        item("h2"),
        item("c1", "car"),
        item("t1", "tour"),
        item("f9", "flight"),
        item("h-rome", dest="rome"),
        item("a1", "attraction"),
    ]
    c = cross_sell_offer(flight(), ranked, now=T0, policy=P)
    assert c is not None
    assert [i.item_id for i in c.items] == ["h1", "c1", "t1", "h2"]  # interleaved by type
    assert c.context == {
        "destination": "paris",
        "travel_start": "2024-07-01",
        "travel_end": "2024-07-08",
    }
    assert c.item_key == "dest:paris" and c.kind == "cross_sell"
    again = cross_sell_offer(flight(), ranked, now=T0 + DAY, policy=P)
    assert again is not None and again.offer_id == c.offer_id


@pytest.mark.parametrize(("status", "item_type"), [("cancelled", "flight"), ("confirmed", "hotel")])
def test_only_confirmed_flights_cross_sell(status: str, item_type: str) -> None:
    assert cross_sell_offer(flight(status, item_type), [item("h1")], now=T0, policy=P) is None


def test_no_cross_sell_without_fitting_items() -> None:
    assert cross_sell_offer(flight(), [item("h-rome", dest="rome")], now=T0, policy=P) is None


# --- abandoned search -------------------------------------------------------------------


def searched(dest: str, ts: float, s: CustomerState | None = None) -> CustomerState:
    return apply_click(
        s or CustomerState(),
        action="search",
        ts=ts,
        item_id=None,
        destination=dest,
        price=None,
        policy=P,
    )


def test_search_without_booking_gets_one_reminder_after_the_window() -> None:
    s = searched("paris", T0)
    assert abandoned_searches(s, now=T0 + 23 * HOUR, policy=P) == []
    assert abandoned_searches(s, now=T0 + 24 * HOUR, policy=P) == ["paris"]
    s = apply_offer_sent(s, kind="abandoned_search", destination="paris", ts=T0 + 25 * HOUR)
    assert abandoned_searches(s, now=T0 + 26 * HOUR, policy=P) == []


def test_booking_the_destination_cancels_the_reminder() -> None:
    s = book(searched("paris", T0), "bk", ts=T0 + HOUR, destination="paris", p=P)
    assert abandoned_searches(s, now=T0 + 2 * DAY, policy=P) == []
    other = book(searched("paris", T0), "bk", ts=T0 + HOUR, destination="rome", p=P)
    assert abandoned_searches(other, now=T0 + 2 * DAY, policy=P) == ["paris"]


def test_stale_searches_get_no_reminder_and_a_new_search_is_a_new_intent() -> None:
    s = searched("paris", T0)
    assert abandoned_searches(s, now=T0 + 8 * DAY, policy=P) == []
    s = apply_offer_sent(s, kind="abandoned_search", destination="paris", ts=T0 + 2 * DAY)
    s = searched("paris", T0 + 3 * DAY, s)
    assert abandoned_searches(s, now=T0 + 4 * DAY, policy=P) == ["paris"]


def test_abandoned_search_offer_window_is_the_search_time() -> None:
    a = abandoned_search_offer("u1", "paris", T0, [item("h1")], now=T0 + DAY, policy=P)
    b = abandoned_search_offer("u1", "paris", T0, [item("h1")], now=T0 + 2 * DAY, policy=P)
    assert a.offer_id == b.offer_id and a.item_key == "dest:paris"
    assert a.context == {"destination": "paris"}
