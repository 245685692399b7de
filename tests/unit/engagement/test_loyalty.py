"""Loyalty: earning rules, tier changes up and down, reversal on cancellation, idempotency."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engagement.loyalty import membership_tier, points_for
from recommender.engagement.signals import apply_click
from recommender.engagement.state import CustomerState
from tests.unit.engagement.helpers import DAY, T0, book, policy


def test_points_follow_the_rate_of_the_item_type() -> None:
    p = policy()
    assert points_for(1000.0, "hotel", "basic", p) == 2000
    assert points_for(1000.0, "flight", "basic", p) == 1000
    assert points_for(999.99, "tour", "basic", p) == 1499  # floored
    assert points_for(500.0, "cruise", "basic", p) == 0  # unlisted type earns nothing


def test_tier_multiplier_applies_to_the_tier_at_booking_time() -> None:
    p = policy(tier_multipliers={"gold": 1.5})
    assert points_for(100.0, "flight", "gold", p) == 150
    s = book(CustomerState(), "b1", ts=T0, amount=10_000.0, item_type="flight", p=p)
    assert (s.points, membership_tier(s.points, p)) == (10_000, "gold")
    s = book(s, "b2", ts=T0 + 1, amount=1000.0, item_type="flight", p=p)
    assert s.points == 11_500


def test_membership_tier_thresholds() -> None:
    p = policy()
    assert membership_tier(0, p) == "basic"
    assert membership_tier(1999, p) == "basic"
    assert membership_tier(2000, p) == "silver"
    assert membership_tier(10_000, p) == "gold"
    assert membership_tier(10**9, p) == "platinum"
    assert membership_tier(-5, p) == "basic"


def test_tier_goes_up_with_bookings_and_down_with_a_cancellation() -> None:
    p = policy()
    s = book(CustomerState(), "b1", ts=T0, amount=900.0, p=p)  # hotel: 1800 points
    assert membership_tier(s.points, p) == "basic"
    s = book(s, "b2", ts=T0 + DAY, amount=100.0, item_id="h2", p=p)  # +200
    assert (s.points, membership_tier(s.points, p)) == (2000, "silver")
    s = book(s, "b3", ts=T0 + 2 * DAY, amount=4000.0, item_id="h3", p=p)  # +8000
    assert (s.points, membership_tier(s.points, p)) == (10_000, "gold")
    s = book(s, "b3", ts=T0 + 3 * DAY, amount=4000.0, status="cancelled", p=p)
    assert (s.points, membership_tier(s.points, p)) == (2000, "silver")
    s = book(s, "b1", ts=T0 + 4 * DAY, amount=900.0, status="cancelled", p=p)
    assert (s.points, membership_tier(s.points, p)) == (200, "basic")


def test_cancellation_reverses_exactly_the_points_that_booking_earned() -> None:
    p = policy(tier_multipliers={"silver": 2.0})
    s = book(CustomerState(), "b1", ts=T0, amount=1000.0, p=p)  # basic: 2000
    s = book(s, "b2", ts=T0 + 1, amount=1000.0, p=p)  # silver x2: 4000
    assert s.points == 6000
    assert s.ledger["b2"].points == 4000
    s = book(s, "b2", ts=T0 + 2, amount=1000.0, status="cancelled", p=p)
    assert s.points == 2000
    assert s.ledger["b2"].status == "cancelled" and s.ledger["b2"].points == 0
    assert (s.monetary, s.n_bookings) == (1000.0, 1)


def test_redelivered_confirmation_and_cancellation_count_once() -> None:
    p = policy()
    s1 = book(CustomerState(), "b1", ts=T0, amount=500.0, p=p)
    s2 = book(s1, "b1", ts=T0, amount=500.0, p=p)
    assert s2 == s1
    c1 = book(s2, "b1", ts=T0 + 60, amount=500.0, status="cancelled", p=p)
    c2 = book(c1, "b1", ts=T0 + 60, amount=500.0, status="cancelled", p=p)
    assert c2 == c1
    assert (c2.points, c2.monetary, c2.n_bookings) == (0, 0.0, 0)


def test_confirmation_after_its_cancellation_is_ignored() -> None:
    p = policy()
    s = book(CustomerState(), "b1", ts=T0 + 60, amount=500.0, status="cancelled", p=p)
    s = book(s, "b1", ts=T0, amount=500.0, p=p)  # the confirmation arrives late
    assert (s.points, s.n_bookings) == (0, 0)
    assert s.ledger["b1"].status == "cancelled"


def test_a_booking_converts_searches_and_ends_watching_the_item() -> None:
    p = policy()
    s = apply_click(
        CustomerState(),
        action="search",
        ts=T0,
        item_id=None,
        destination="paris",
        price=None,
        policy=p,
    )
    s = apply_click(
        s, action="view", ts=T0 + 1, item_id="h1", destination="paris", price=90.0, policy=p
    )
    s = book(s, "b1", ts=T0 + 2, item_id="h1", destination="paris", p=p)
    assert s.searches["paris"].booked_at == T0 + 2
    assert "h1" not in s.watched
    assert s.booked("h1")


def test_ledger_is_bounded_and_keeps_the_newest() -> None:
    p = policy(max_ledger=5)
    s = CustomerState()
    for i in range(8):
        s = book(s, f"b{i}", ts=T0 + i, amount=10.0, p=p)
    assert sorted(s.ledger) == [f"b{i}" for i in range(3, 8)]
    assert s.points == 8 * 20  # totals keep what dropped entries earned


bookings = st.lists(
    st.tuples(
        st.sampled_from([f"b{i}" for i in range(6)]),
        st.sampled_from(["confirmed", "cancelled"]),
        st.floats(min_value=0, max_value=5000, allow_nan=False),
    ),
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(bookings, st.randoms(use_true_random=False))
def test_any_order_and_any_redelivery_give_the_same_totals(
    events: list[tuple[str, str, float]], rnd: random.Random
) -> None:
    p = policy()
    # One amount per booking id, as the booking system sends it.
    amounts = {bid: amount for bid, _, amount in events}
    stream = [(bid, status, amounts[bid], T0 + i) for i, (bid, status, _) in enumerate(events)]

    def run(seq: list[tuple[str, str, float, float]]) -> CustomerState:
        s = CustomerState()
        for bid, status, amount, ts in seq:
            s = book(s, bid, ts=ts, amount=amount, status=status, p=p)  # type: ignore[arg-type]
        return s

    redelivered = stream + rnd.sample(stream, k=len(stream) // 2)
    rnd.shuffle(redelivered)
    a, b = run(stream), run(redelivered)
    assert (a.points, a.n_bookings) == (b.points, b.n_bookings)
    assert abs(a.monetary - b.monetary) < 1e-6
    # A booking counts only when it was confirmed and never cancelled.
    live = {bid for bid, status, _, _ in stream if status == "confirmed"} - {
        bid for bid, status, _, _ in stream if status == "cancelled"
    }
    assert a.points == sum(points_for(amounts[b_], "hotel", "basic", p) for b_ in live)
    assert a.n_bookings == len(live)
