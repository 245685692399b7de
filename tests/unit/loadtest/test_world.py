"""The synthetic world: contract-exact, deterministic, and with learnable structure."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
import pytest

from loadtest.world import BAD_KINDS, Record, World

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
ACTIONS = {"view", "search", "click", "wishlist", "share"}
ITEM_TYPES = {"hotel", "flight", "tour", "car", "attraction"}
DEVICES = {"ios", "android", "web", "miniapp", "other"}
PII = {"name", "phone", "email", "passport", "address", "id_card", "full_name"}
CLICK_KEYS = {"v", "event_id", "user_id", "session_id", "action", "item_id", "item_type"}
CLICK_KEYS |= {"destination", "price", "currency", "device", "ts", "travel_start", "travel_end"}
BOOKING_KEYS = {"v", "event_id", "user_id", "booking_id", "status", "item_id", "item_type"}
BOOKING_KEYS |= {"destination", "amount", "currency", "travel_start", "travel_end", "origin", "ts"}
CATALOG_KEYS = {"v", "item_id", "item_type", "destination", "price", "currency", "title"}
CATALOG_KEYS |= {"attributes", "active", "vector", "updated_at"}


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=7, n_users=2000, n_items=2000)


@pytest.fixture(scope="module")
def records(world: World) -> list[Record]:
    return list(world.events(30_000, START))


@pytest.fixture(scope="module")
def events(records: list[Record]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]


@pytest.fixture(scope="module")
def slugs(world: World) -> set[str]:
    return {c.slug for c in world.cities}


def check_event(topic: str, d: Any, slugs: set[str]) -> None:
    """The event contract, as plain asserts (raises on any violation)."""
    assert isinstance(d, dict)
    assert d["v"] == 1
    assert not PII & d.keys()
    assert isinstance(d["ts"], float)
    for f in ("event_id", "user_id", "item_id", "session_id", "booking_id"):
        if f in d:
            assert isinstance(d[f], str) and ID_RE.match(d[f]), f
    assert d["destination"] in slugs
    if topic == "clicks":
        assert d.keys() <= CLICK_KEYS
        assert d["event_id"] and d["user_id"] and d["session_id"]
        assert d["action"] in ACTIONS and d["device"] in DEVICES
        if d["action"] == "search":
            assert "item_id" not in d
            if "travel_start" in d:
                assert date.fromisoformat(d["travel_end"]) >= date.fromisoformat(d["travel_start"])
        else:
            assert d["item_id"] and d["item_type"] in ITEM_TYPES
            assert "travel_start" not in d
        if "price" in d:
            assert isinstance(d["price"], float) and d["price"] >= 0 and d["currency"] == "CNY"
    else:
        assert topic == "bookings" and d.keys() <= BOOKING_KEYS
        assert d["event_id"] and d["user_id"] and d["booking_id"] and d["item_id"]
        assert d["status"] in ("confirmed", "cancelled") and d["item_type"] in ITEM_TYPES
        assert isinstance(d["amount"], float) and d["amount"] >= 0 and d["currency"] == "CNY"
        start = date.fromisoformat(d["travel_start"])
        if "travel_end" in d:
            assert date.fromisoformat(d["travel_end"]) >= start
        if "origin" in d:
            assert d["item_type"] == "flight" and d["origin"] in slugs


def is_valid(rec: Record, slugs: set[str]) -> bool:
    try:
        check_event(rec.topic, orjson.loads(rec.value), slugs)
    except (AssertionError, KeyError, TypeError, ValueError):  # JSONDecodeError is a ValueError
        return False
    return True


def test_exact_count_and_contract(
    records: list[Record], events: list[dict[str, Any]], slugs: set[str]
) -> None:
    assert len(records) == 30_000
    assert {r.topic for r in records} == {"clicks", "bookings"}
    for rec, d in zip(records, events, strict=True):
        assert rec.valid and rec.kind == "ok"
        check_event(rec.topic, d, slugs)
        assert rec.key == d["user_id"].encode()
    assert len({d["event_id"] for d in events}) == len(events)


def test_deterministic(world: World, records: list[Record]) -> None:
    again = World(seed=7, n_users=2000, n_items=2000)
    assert list(again.events(30_000, START)) == records
    assert again.catalog_records(START) == world.catalog_records(START)
    other = list(World(seed=8, n_users=2000, n_items=2000).events(1000, START))
    assert [r.value for r in other] != [r.value for r in records[:1000]]
    # A shorter run is a prefix of a longer one: n only decides where to stop.
    assert list(world.events(500, START)) == records[:500]


def test_time_order(events: list[dict[str, Any]]) -> None:
    ts = [d["ts"] for d in events]
    assert all(a <= b for a, b in pairwise(ts))
    assert ts[0] >= START
    last: dict[str, float] = {}
    for d in events:
        assert d["ts"] > last.get(d["user_id"], 0.0)
        last[d["user_id"]] = d["ts"]
    # Interleaved: any 100 consecutive records come from many users.
    users = [d["user_id"] for d in events]
    assert np.mean([len(set(users[i : i + 100])) for i in range(0, 29_900, 100)]) > 8


def test_bad_fraction(world: World, records: list[Record], slugs: set[str]) -> None:
    mixed = list(world.events(20_000, START, bad_fraction=0.1))
    assert len(mixed) == 20_000
    bad = [r for r in mixed if not r.valid]
    assert 0.08 < len(bad) / len(mixed) < 0.12
    assert Counter(r.kind for r in bad).keys() == set(BAD_KINDS)
    assert all(r.kind == "ok" for r in mixed if r.valid)
    assert not any(is_valid(r, slugs) for r in bad)
    # Malformed records are extras: the valid ones are exactly the clean stream.
    good = [r for r in mixed if r.valid]
    assert good == records[: len(good)]
    assert all(r.value == b"" for r in bad if r.kind == "empty")


def test_favourite_destinations(world: World, events: list[dict[str, Any]]) -> None:
    views = [d for d in events if d.get("action") in ("view", "click")]
    base = Counter(d["destination"] for d in views)
    favs = {u.user_id: set(u.favourites) for u in world.users}
    by_user: dict[str, list[str]] = defaultdict(list)
    for d in views:
        by_user[d["user_id"]].append(d["destination"])
    own = [sum(x in favs[u] for x in ds) / len(ds) for u, ds in by_user.items()]
    chance = [sum(base[x] for x in favs[u]) / len(views) for u in by_user]
    assert np.mean(own) > 3 * np.mean(chance)
    assert np.mean(own) < 0.98  # but not deterministic: users explore


def test_session_cooccurrence_and_budget(world: World, events: list[dict[str, Any]]) -> None:
    views = [d for d in events if d.get("action") in ("view", "click")]
    sessions: dict[str, list[str]] = defaultdict(list)
    for d in views:
        sessions[d["session_id"]].append(d["destination"])
    pairs = [(a, b) for s in sessions.values() for a, b in pairwise(s)]
    same = sum(a == b for a, b in pairs) / len(pairs)
    share = np.array(list(Counter(d["destination"] for d in views).values())) / len(views)
    assert same > 5 * float((share**2).sum())
    pct = dict(zip(world.cat.item_ids, world.cat.price_pct.tolist(), strict=True))
    budget = {u.user_id: u.budget for u in world.users}
    known = [d for d in views if d["item_id"] in pct]
    corr = np.corrcoef([budget[d["user_id"]] for d in known], [pct[d["item_id"]] for d in known])
    assert corr[0, 1] > 0.3


def test_bookings_cancellations_unknown_items(world: World, events: list[dict[str, Any]]) -> None:
    bookings = [d for d in events if "booking_id" in d]
    assert 0.005 < len(bookings) / len(events) < 0.08
    confirmed = {d["booking_id"]: d for d in bookings if d["status"] == "confirmed"}
    cancelled = [d for d in bookings if d["status"] == "cancelled"]
    assert len(confirmed) == sum(d["status"] == "confirmed" for d in bookings)
    assert 0 < len(cancelled) < len(confirmed) / 2
    for d in cancelled:
        first = confirmed[d["booking_id"]]
        assert first["user_id"] == d["user_id"] and first["ts"] < d["ts"]
    assert len({d["booking_id"] for d in cancelled}) == len(cancelled)
    # Flight then hotel at the same place and dates.
    flights = {
        (d["user_id"], d["destination"], d["travel_start"])
        for d in confirmed.values()
        if d["item_type"] == "flight"
    }
    hotels = [d for d in confirmed.values() if d["item_type"] == "hotel"]
    assert sum((d["user_id"], d["destination"], d["travel_start"]) in flights for d in hotels) > 5
    assert all(d["item_id"] in world.item_ids for d in bookings)
    item_clicks = [d for d in events if "session_id" in d and "item_id" in d]
    unknown = [d for d in item_clicks if d["item_id"] not in world.item_ids]
    assert 0.001 < len(unknown) / len(item_clicks) < 0.015


def test_catalog_records(world: World, slugs: set[str]) -> None:
    recs = world.catalog_records(START)
    items = [orjson.loads(r.value) for r in recs]
    assert len(recs) == 2000 and {r.topic for r in recs} == {"catalog"}
    assert len({d["item_id"] for d in items}) == 2000
    assert Counter(d["item_type"] for d in items).keys() == ITEM_TYPES
    for rec, d in zip(recs, items, strict=True):
        assert rec.key == d["item_id"].encode() and ID_RE.match(d["item_id"])
        assert d.keys() <= CATALOG_KEYS and "vector" not in d and not PII & d.keys()
        assert d["v"] == 1 and d["active"] is True and d["updated_at"] == START
        assert d["destination"] in slugs and d["currency"] == "CNY" and d["title"]
        assert isinstance(d["price"], float) and d["price"] >= 0
        attrs = d["attributes"]
        if d["item_type"] == "hotel":
            assert attrs["stars"] in (2, 3, 4, 5)
        if d["item_type"] == "flight":
            assert attrs["origin"] in slugs and attrs["origin"] != d["destination"]
    hotels = [d for d in items if d["item_type"] == "hotel"]
    by_stars = {
        s: np.median([d["price"] for d in hotels if d["attributes"]["stars"] == s])
        for s in (2, 3, 4, 5)
    }
    assert by_stars[2] < by_stars[3] < by_stars[4] < by_stars[5]
    with_vec = [orjson.loads(r.value) for r in world.catalog_records(START, with_vectors=True)]
    has = [d for d in with_vec if "vector" in d]
    assert 0.9 < len(has) / len(with_vec) < 0.99
    assert all(len(d["vector"]) == 32 for d in has)


def test_scales_to_100k() -> None:
    big = World(seed=1, n_users=100_000, n_items=100_000)
    assert len(big.item_ids) == 100_000
    assert len(list(big.events(2000, START))) == 2000


def test_rejects_bad_arguments(world: World) -> None:
    with pytest.raises(ValueError):
        world.events(10, START, bad_fraction=1.5)
    with pytest.raises(ValueError):
        World(seed=1, n_users=0)
    assert list(world.events(0, START)) == []
    assert len(list(World(seed=1, n_users=3, n_items=1).events(50, START))) == 50
