"""The simulated week: valid, deterministic, time-ordered, world-wide, and redelivered on demand."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from loadtest.engage_world import CLOCK_USER, ZONES, EngageWorld, Event, WeekPlan
from loadtest.sim_worker import redeliver
from recommender.engagement.config import known_zone
from schemas import decode

PLAN = WeekPlan(users=200, days=3.0, items=300, price_updates_per_day=20.0)


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return EngageWorld(PLAN).events()


def test_every_event_is_a_valid_contract(events: list[Event]) -> None:
    for e in events:
        decode(e.topic, e.record().value)
        assert e.record().key == e.key.encode()
    assert len({e.payload["event_id"] for e in events}) == len(events)


def test_the_same_plan_gives_the_same_week(events: list[Event]) -> None:
    again = EngageWorld(PLAN).events()
    assert [e.payload for e in again] == [e.payload for e in events]


def test_events_are_in_time_order_and_the_last_moves_the_clock_to_the_end(
    events: list[Event],
) -> None:
    assert all(a.ts <= b.ts for a, b in pairwise(events))
    assert events[-1].key == CLOCK_USER and events[-1].ts >= PLAN.end
    assert min(e.ts for e in events) < PLAN.start  # history and warm-up before the week


def test_the_week_has_every_kind_of_event(events: list[Event]) -> None:
    kinds = Counter(
        (e.topic, e.payload.get("action") or e.payload.get("status") or e.payload.get("kind"))
        for e in events
    )
    for wanted in [
        ("clicks", "view"),
        ("clicks", "wishlist"),
        ("clicks", "search"),
        ("bookings", "confirmed"),
        ("bookings", "cancelled"),
        ("feedback", "rating"),
    ]:
        assert kinds[wanted] > 0, wanted
    consent = Counter(e.payload["granted"] for e in events if e.topic == "consent")
    assert consent[True] > 0 and consent[False] > 0
    flights = [e for e in events if e.topic == "bookings" and e.payload["item_type"] == "flight"]
    assert flights


def test_users_live_in_many_zones_from_utc_minus_12_to_plus_14() -> None:
    assert all(known_zone(z) for z, _ in ZONES)
    names = {z for z, _ in ZONES}
    assert {"Pacific/Kiritimati", "Etc/GMT+12", "Europe/London", "Australia/Lord_Howe"} <= names
    world = EngageWorld(WeekPlan(users=3000, days=1.0, items=100))
    assert len({world.zone_of(u) for u in range(3000)}) == len(ZONES)


def test_each_user_keeps_one_zone_on_every_consent(events: list[Event]) -> None:
    zones: dict[str, set[str]] = {}
    for e in events:
        if e.topic == "consent":
            zones.setdefault(e.key, set()).add(e.payload["timezone"])
    assert zones and all(len(z) == 1 for z in zones.values())


def test_prices_move_both_ways_and_clicks_show_the_price_of_the_moment(
    events: list[Event],
) -> None:
    world = EngageWorld(PLAN)
    world.events()
    last: dict[str, float] = {}
    moves = Counter()
    for e in world.prices:
        prev = e.payload.get("previous_price")
        if prev is not None:
            assert prev == last.get(e.key, prev)
            moves["drop" if e.payload["price"] < prev else "rise"] += 1
        last[e.key] = e.payload["price"]
    assert moves["drop"] > 0 and moves["rise"] > 0
    index = {item: i for i, item in enumerate(world.cat.item_ids)}
    priced = [e for e in events if e.topic == "clicks" and "price" in e.payload]
    for e in priced[:500]:
        assert e.payload["price"] == world.price_at(index[e.payload["item_id"]], e.ts)


def test_redelivery_repeats_records_byte_for_byte_after_their_original(
    events: list[Event],
) -> None:
    assert redeliver(events, 0.0, 1) == [(e, False) for e in events]
    out = redeliver(events, 0.2, 1)
    copies = [e for e, copy in out if copy]
    assert 0.15 * len(events) < len(copies) < 0.25 * len(events)
    first: dict[int, int] = {}
    for n, (e, copy) in enumerate(out):
        if copy:
            assert id(e) in first and first[id(e)] < n
        else:
            first[id(e)] = n
    assert [e for e, copy in out if not copy] == events
