"""Pure helpers of the engagement worker: indexes, offer bytes, batch plans, sweep timing."""

from __future__ import annotations

from datetime import date

import pytest

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.offers import build_offer, candidate
from recommender.engagement.policy import Decision
from recommender.engagement.state import CustomerState, Search, Watch
from recommender.engagement.store import facts_as_of, facts_blob, facts_from_blob
from recommender.keys import Keys
from recommender.settings import Settings
from schemas import Booking, Click, Consent, OfferItem, PriceUpdate, decode, encode
from streams.engage import plan_batch
from streams.engage_common import Decoded, EventClock, new_watermarks
from streams.engage_index import index_ops, search_due_at
from streams.engage_offers import OfferEncoder, candidate_blob, candidate_from_blob
from streams.engage_prices import previous_price
from streams.engage_sweeps import RETRY_S, handled, next_look
from streams.pipeline import RawRecord

T = 1_717_416_000.0  # 2024-06-03 12:00 UTC
DAY, HOUR = 86_400.0, 3_600.0
P = EngagementPolicy()
K = Keys("t")
ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now")
PRICED = OfferItem(
    item_id="h2",
    item_type="hotel",
    destination="paris",
    score=0.5,
    reason="Popular in paris",
    price=99.5,
    currency="CNY",
)


def decision(outcome: str, reason: str | None = None) -> Decision:
    return Decision(outcome, reason, "x", "push", "20240603")  # type: ignore[arg-type]


# --- indexes -----------------------------------------------------------------------------


def test_search_due_is_the_earliest_unanswered_search_plus_the_window() -> None:
    s = CustomerState(
        searches={
            "paris": Search(T),
            "rome": Search(T - HOUR),
            "oslo": Search(T - 2 * HOUR, reminded_at=T - HOUR),  # reminded since
            "nice": Search(T - 3 * HOUR, booked_at=T - HOUR),  # booked since
        }
    )
    assert search_due_at(s, P) == T - HOUR + 24 * HOUR
    assert search_due_at(CustomerState(), P) is None


def test_index_ops_follow_watch_changes_and_booking() -> None:
    old = CustomerState(watched={"h1": Watch(T - DAY, 100.0), "h2": Watch(T - DAY, 50.0)})
    new = CustomerState(watched={"h1": Watch(T, 90.0), "h3": Watch(T, None)})
    ops = index_ops(K, P, "u1", old, new)
    assert ("ZADD", K.watchers("h1"), repr(T), "u1") in ops
    assert ("HSET", K.watcher_prices("h1"), "u1", "90.0") in ops
    assert ("ZADD", K.watcher_max_price("h1"), "GT", "90.0", "max") in ops  # only raises
    assert not any(op[1] == K.watcher_max_price("h3") for op in ops)
    assert ("HDEL", K.watcher_prices("h3"), "u1") in ops  # no price seen
    assert ("ZREM", K.watchers("h2"), "u1") in ops  # gone (e.g. booked)
    assert not any(op[1] == K.watchers("h2") and op[0] == "ZADD" for op in ops)
    assert ("SET", K.customer_facts("u1"), facts_blob(new)) not in ops  # facts unchanged


def test_index_ops_write_facts_and_due_sets() -> None:
    new = CustomerState(
        first_seen=T, last_active=T, consent={"push": (True, T)}, timezone="Asia/Shanghai"
    )
    ops = index_ops(K, P, "u1", None, new)
    assert ("SET", K.customer_facts("u1"), facts_blob(new)) in ops
    assert ("ZADD", K.due("reactivation"), repr(T + 45 * DAY), "u1") in ops
    assert ("ZREM", K.due("abandoned_search"), "u1") in ops
    facts = facts_from_blob(facts_blob(new))
    assert (facts.consent, facts.timezone, facts.complaint_until) == (
        {"push": True},
        "Asia/Shanghai",
        0.0,
    )
    assert facts_from_blob(b"garbage").consent == {}
    assert facts_from_blob(None).consent == {}


# --- offers --------------------------------------------------------------------------------


@pytest.mark.parametrize("items", [[ITEM], [PRICED, ITEM]])
def test_fast_offer_bytes_equal_the_schema_encoder(items: list[OfferItem]) -> None:
    c = candidate(
        "u1", "price_drop", "h1", T, items, now=T, policy=P, context={"drop_pct": 20.0, "a": "b"}
    )
    enc = OfferEncoder()
    fast = enc.offer(c, "push")
    assert fast == encode(build_offer(c, "push"))
    assert enc.offer(c, "push") == fast  # cached item dumps give the same bytes
    assert decode("offers", fast) == build_offer(c, "push")


def test_held_candidates_round_trip_to_the_same_bytes() -> None:
    c = candidate("u1", "cross_sell", "dest:paris", T, [PRICED], now=T, policy=P, context={"x": 1})
    blob = candidate_blob(c)
    back = candidate_from_blob(blob)
    assert back == c and back.offer_id == c.offer_id
    assert candidate_blob(back) == blob
    with pytest.raises(ValueError):
        candidate_from_blob(b"[1, 2]")


# --- batch plan ----------------------------------------------------------------------------


def rec(topic: str, offset: int) -> RawRecord:
    return RawRecord(topic, 0, offset, None, None)


def flight(user: str, ts: float, booking_id: str = "b1") -> Booking:
    return Booking(
        event_id=f"e{ts}",
        user_id=user,
        booking_id=booking_id,
        status="confirmed",
        item_id="f1",
        item_type="flight",
        destination="paris",
        amount=100.0,
        currency="CNY",
        travel_start=date(2024, 7, 1),
        ts=ts,
    )


def test_plan_applies_events_in_time_order_and_cross_sells_at_booking_time() -> None:
    s = Settings()
    grant = Consent(event_id="k", user_id="u1", channel="push", granted=True, ts=T - 10)
    revoke = Consent(event_id="k2", user_id="u1", channel="push", granted=False, ts=T + 10)
    events = [  # arrival order differs from event time
        Decoded(rec("consent", 1), "consent", revoke),
        Decoded(rec("bookings", 0), "bookings", flight("u1", T)),
        Decoded(rec("consent", 0), "consent", grant),
    ]
    plan = plan_batch({}, events, {"e" + str(T): [PRICED]}, s)
    assert len(plan.offers) == 1
    c, facts, now = plan.offers[0]
    assert (c.kind, now, c.created_at) == ("cross_sell", T, T)
    assert facts.consent == {"push": True}  # as of the booking, before the revocation
    assert plan.states["u1"].consent["push"] == (False, T + 10)
    assert plan.applied == {"consent": 2, "bookings": 1}
    assert plan.newest == T + 10


def test_plan_cross_sells_a_booking_only_the_first_time_it_is_seen() -> None:
    s = Settings()
    first = plan_batch({}, [Decoded(rec("bookings", 0), "bookings", flight("u1", T))], {}, s)
    assert first.offers == []  # nothing popular to offer: no candidate
    again = plan_batch(
        first.states,
        [Decoded(rec("bookings", 1), "bookings", flight("u1", T + 5))],
        {"e" + str(T + 5): [PRICED]},
        s,
    )
    assert again.offers == []  # same booking_id: activity, but no second booking or offer
    assert again.states["u1"].ledger == first.states["u1"].ledger
    click = Click(
        event_id="c", user_id="u2", session_id="s", action="search", destination="rome", ts=T
    )
    plan = plan_batch({}, [Decoded(rec("clicks", 0), "clicks", click)], {}, s)
    assert plan.states["u2"].searches["rome"].ts == T


def test_new_watermarks_only_move_forward() -> None:
    recs = [rec("a", 3), rec("a", 5), RawRecord("b", 1, 2, None, None)]
    assert new_watermarks(recs, {("a", 0): 4, ("b", 1): 7}) == {("a", 0): 5}


# --- prices and sweeps -----------------------------------------------------------------------


def test_previous_price_prefers_the_event_then_the_last_update_then_the_catalog() -> None:
    u = PriceUpdate(event_id="p", item_id="h1", price=80.0, currency="CNY", ts=T)
    assert previous_price(u.model_copy(update={"previous_price": 90.0}), (70.0, T), {}) == 90.0
    assert previous_price(u, (70.0, T - 1), {"price": 60.0}) == 70.0
    assert previous_price(u, (70.0, T + 1), {"price": 60.0}) == 60.0  # a newer update: not "before"
    assert previous_price(u, None, None) is None


def test_what_counts_as_handled_and_when_to_look_again() -> None:
    assert handled(decision("send")) and handled(decision("hold", "quiet_hours"))
    assert handled(decision("suppress", "cap")) and handled(decision("suppress", "duplicate"))
    assert not handled(decision("suppress", "no_consent"))
    assert next_look("no_consent", T, 0.0) is None
    assert next_look("complaint_hold", T, T + DAY) == T + DAY
    assert next_look("quiet_hours", T, 0.0) == T + RETRY_S


def test_event_clock_follows_the_newest_event() -> None:
    clock = EventClock("event")
    assert clock.now() is None
    clock.advance(T)
    clock.advance(T - 5)
    assert clock.now() == T
    assert EventClock("wall", wall=lambda: 42.0).now() == 42.0


# --- keys ------------------------------------------------------------------------------------


def _tag(key: str) -> str:
    start = key.index("{")
    return key[start + 1 : key.index("}", start + 1)]


def test_new_keys_carry_their_owners_hash_tag_under_the_prefix() -> None:
    assert _tag(K.customer_facts("u:1")) == "u:1"
    assert {
        _tag(K.watchers("h1")),
        _tag(K.watcher_prices("h1")),
        _tag(K.watcher_max_price("h1")),
        _tag(K.item_price("h1")),
    } == {"h1"}
    every = [
        K.customer_facts("u1"),
        K.watchers("h1"),
        K.watcher_prices("h1"),
        K.watcher_max_price("h1"),
        K.item_price("h1"),
        K.due("reactivation"),
        K.due("abandoned_search"),
        K.held_offers(),
        K.sweep_lock("held"),
        K.engage_stats(),
    ]
    assert len(set(every)) == len(every)
    assert all(k.startswith("t:") for k in every)
    assert K.customer_facts("u1") != K.user("u1") and not K.watchers("h1").startswith(K.item(""))


def test_consent_counts_only_from_the_time_it_was_given() -> None:
    s = CustomerState(consent={"push": (True, T), "sms": (False, T - DAY)}, timezone="UTC")
    assert facts_from_blob(facts_blob(s), T - 1).consent == {"push": False, "sms": False}
    assert facts_from_blob(facts_blob(s), T).consent == {"push": True, "sms": False}
    assert facts_as_of(s, T - 1).consent == {"push": False, "sms": False}
    assert facts_as_of(s, None).consent == {"push": True, "sms": False}
