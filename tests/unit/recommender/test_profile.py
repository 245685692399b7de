"""Profile math: decay, order and batch invariance, bookings, recent items, codec."""

from __future__ import annotations

import random

import numpy as np
import pytest

from recommender.features import ItemInfo, content_vector
from recommender.profile import Profile, ProfileParams, Touch, apply_touches
from recommender.profile_codec import ProfileFormatError, dumps, loads

DIM = 8
PARAMS = ProfileParams(
    dim=DIM,
    short_half_life_s=100.0,
    long_half_life_s=10_000.0,
    affinity_half_life_s=1_000.0,
    recent_max=5,
    booked_max=10,
    affinity_max_keys=50,
)


def item(i: int, dest: str = "sanya", itype: str = "hotel") -> ItemInfo:
    vec = content_vector(itype, dest, "mid", 4, None, DIM)
    return ItemInfo(f"h{i}", itype, dest, "mid", 4, vec, known=True)


def clicks(n: int, seed: int = 1) -> list[Touch]:
    rng = random.Random(seed)
    dests = ["sanya", "lijiang", "tokyo"]
    out = []
    for k in range(n):
        it = item(rng.randrange(12), rng.choice(dests))
        out.append(Touch("u1", 1_000.0 + k * 7.5, rng.choice(["view", "click", "wishlist"]), it))
    return out


def test_one_view_sets_affinity_and_embedding() -> None:
    it = item(1)
    p = apply_touches({}, [Touch("u1", 50.0, "view", it)], PARAMS)["u1"]
    assert p.n_events == 1 and p.last_active == 50.0
    assert p.aff["dest"] == {"sanya": 1.0}
    assert p.aff["stars"] == {"4": 1.0}
    emb = p.embedding("short")
    assert emb is not None
    np.testing.assert_allclose(emb, it.vector, rtol=1e-6)
    assert p.recent == [("h1", 50.0)]


def test_affinity_halves_after_one_half_life() -> None:
    a, b = item(1, "sanya"), item(2, "tokyo")
    p = apply_touches({}, [Touch("u1", 0.5, "view", a), Touch("u1", 1_000.5, "view", b)], PARAMS)[
        "u1"
    ]
    assert p.aff["dest"]["sanya"] == pytest.approx(0.5)
    assert p.aff["dest"]["tokyo"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_and_order_do_not_change_the_result(seed: int) -> None:
    events = clicks(200, seed)
    whole = apply_touches({}, events, PARAMS)["u1"]
    rng = random.Random(seed)
    shuffled = events[:]
    rng.shuffle(shuffled)
    state: dict[str, Profile] = {}
    i = 0
    while i < len(shuffled):
        n = rng.randint(1, 40)
        state = apply_touches(state, shuffled[i : i + n], PARAMS)
        # Round-trip through the stored form between batches, as the worker does.
        state = {u: loads(dumps(p)) for u, p in state.items()}
        i += n
    np.testing.assert_allclose(state["u1"].short_vec, whole.short_vec, rtol=1e-5, atol=1e-6)
    assert state["u1"].n_events == whole.n_events == 200
    assert state["u1"].recent == whole.recent
    for facet in whole.aff:
        assert state["u1"].aff[facet] == pytest.approx(whole.aff[facet], rel=1e-9)


def test_recent_items_are_distinct_newest_first_and_bounded() -> None:
    events = [Touch("u1", float(t), "view", item(t % 7)) for t in range(1, 30)]
    p = apply_touches({}, events, PARAMS)["u1"]
    assert [i for i, _ in p.recent] == ["h1", "h0", "h6", "h5", "h4"]  # t=29 is h1
    assert len(p.recent) == PARAMS.recent_max


def test_cancellation_wins_in_either_order() -> None:
    it = item(3)
    book = Touch("u1", 10.0, "book", it, "sanya", "hotel", booking_id="b1", amount_base=900.0)
    cancel = Touch("u1", 20.0, "cancel", it, "sanya", "hotel", booking_id="b1", amount_base=900.0)
    for order in ([book, cancel], [cancel, book]):
        p = apply_touches({}, order, PARAMS)["u1"]
        assert p.booked_items() == []
        assert p.monetary == 0.0 and p.n_bookings == 0
    p = apply_touches({}, [book, book], PARAMS)["u1"]  # a redelivered booking counts once
    assert p.booked_items() == ["h3"] and p.monetary == 900.0 and p.n_bookings == 1


def test_affinity_is_pruned_to_the_strongest_keys() -> None:
    small = ProfileParams(DIM, 100.0, 10_000.0, 1_000.0, 5, 10, 2)
    events = [
        Touch("u1", 1.0, "view", item(1, "a")),
        Touch("u1", 2.0, "wishlist", item(2, "b")),
        Touch("u1", 3.0, "click", item(3, "c")),
    ]
    p = apply_touches({}, events, small)["u1"]
    assert set(p.aff["dest"]) == {"b", "c"}


def test_search_moves_destination_only() -> None:
    p = apply_touches({}, [Touch("u1", 5.0, "search", None, "bali")], PARAMS)["u1"]
    assert p.aff["dest"] == {"bali": 0.5}
    assert p.embedding() is None and p.recent == []


def test_codec_round_trip_and_rejects_garbage() -> None:
    p = apply_touches({}, clicks(40), PARAMS)["u1"]
    q = loads(dumps(p))
    assert q.n_events == p.n_events and q.recent == p.recent and q.aff == p.aff
    np.testing.assert_allclose(q.long_vec, p.long_vec, rtol=1e-6)
    np.testing.assert_allclose(q.short_vec, p.short_vec, rtol=1e-6)
    with pytest.raises(ProfileFormatError):
        loads(b"XX\x00\x00\x00\x00\x00\x00")
