"""Ranking: filters, score formula, cross-sell, diversity, reasons, fallback, determinism."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from recommender import reasons
from recommender.profile import Booked, Profile
from recommender.ranking import (
    Candidate,
    ItemMeta,
    Ranked,
    RankRequest,
    RankWeights,
    Trip,
    cross_sell_trip,
    fallback,
    needs_fallback,
    rank,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()
HL = 14 * 86400.0
W = RankWeights()


def meta(
    item_id: str,
    itype: str = "hotel",
    dest: str = "sanya",
    *,
    band: str | None = "mid",
    stars: int | None = 4,
    title: str | None = None,
    active: bool = True,
    price: float | None = None,
) -> ItemMeta:
    return ItemMeta(item_id, itype, dest, price, band, stars, title, active)


def catalog(*metas: ItemMeta) -> dict[str, ItemMeta]:
    return {m.item_id: m for m in metas}


def pop(item_id: str, score: float, anchor: str | None = "sanya") -> Candidate:
    return Candidate(item_id, "popular", score, anchor)


def ids(ranked: list[Ranked]) -> list[str]:
    return [r.item_id for r in ranked]


def run(
    profile: Profile | None,
    cands: list[Candidate],
    items: dict[str, ItemMeta],
    req: RankRequest | None = None,
    w: RankWeights = W,
) -> list[str]:
    return ids(
        rank(profile, cands, items, req or RankRequest(), w, now=NOW, affinity_half_life_s=HL)
    )


def booking(
    item_id: str,
    *,
    status: str = "confirmed",
    ts: float = NOW - 3600,
    dest: str = "sanya",
    itype: str = "flight",
    start: str | None = "2026-12-01",
    end: str | None = "2026-12-08",
) -> Booked:
    return Booked(
        item_id=item_id,
        status=status,
        ts=ts,
        amount_base=1000.0,
        destination=dest,
        item_type=itype,
        travel_start=start,
        travel_end=end,
    )


def profile_with(
    *,
    recent: list[tuple[str, float]] | None = None,
    bookings: dict[str, Booked] | None = None,
    aff: dict[str, dict[str, float]] | None = None,
) -> Profile:
    p = Profile(dim=4)
    p.t = NOW - 60
    p.recent = recent or []
    p.bookings = bookings or {}
    p.aff = aff or {}
    if p.recent:
        p.long_vec = np.ones(4)
        p.long_w = 1.0
    return p


# --- filters ---------------------------------------------------------------------------


def test_unknown_and_inactive_items_are_dropped() -> None:
    items = catalog(meta("a"), meta("b", active=False))
    assert run(None, [pop("a", 0.5), pop("b", 0.9), pop("ghost", 1.0)], items) == ["a"]


def test_confirmed_booking_never_appears_but_a_cancelled_one_may() -> None:
    items = catalog(meta("a"), meta("b"), meta("c"))
    p = profile_with(
        bookings={
            "bk1": booking("a", itype="hotel"),
            "bk2": booking("b", itype="hotel", status="cancelled"),
        }
    )
    cands = [
        pop("a", 1.0),
        Candidate("a", "cross_sell", 1.0, "sanya"),
        pop("b", 0.5),
        pop("c", 0.1),
    ]
    assert run(p, cands, items) == ["b", "c"]


def test_excluded_ids_never_appear() -> None:
    items = catalog(meta("a"), meta("b"), meta("c"))
    cands = [pop("a", 0.9), Candidate("a", "session", 5.0, "x"), pop("b", 0.5), pop("c", 0.1)]
    assert run(None, cands, items, RankRequest(exclude=frozenset({"a", "c"}))) == ["b"]


def test_type_and_destination_filters() -> None:
    items = catalog(meta("h1"), meta("c1", "car"), meta("h2", dest="tokyo"), meta("t1", "tour"))
    cands = [pop(i, 0.5) for i in items]
    assert run(None, cands, items, RankRequest(item_types=frozenset({"hotel"}))) == ["h1", "h2"]
    assert run(None, cands, items, RankRequest(destination="tokyo")) == ["h2"]
    req = RankRequest(item_types=frozenset({"car", "tour"}), destination="sanya")
    assert run(None, cands, items, req) == ["c1", "t1"]


def test_viewed_items_stay_eligible_and_the_caller_excludes_what_is_on_screen() -> None:
    items = catalog(meta("r1"), meta("r2"), meta("r3"))
    p = profile_with(recent=[("r1", NOW - 10), ("r2", NOW - 20), ("r3", NOW - 30)])
    cands = [pop(i, 0.5) for i in items]
    assert run(p, cands, items) == ["r1", "r2", "r3"]
    assert run(p, cands, items, RankRequest(exclude=frozenset({"r1"}))) == ["r2", "r3"]


# --- scoring ---------------------------------------------------------------------------


def test_score_is_the_weighted_sum_of_every_source_and_profile_term() -> None:
    items = catalog(meta("a", band="mid", stars=4), meta("b", dest="tokyo", band="budget"))
    p = profile_with(
        aff={
            "dest": {"sanya": 3.0, "tokyo": 1.0},
            "type": {"hotel": 2.0},
            "band": {"mid": 1.0, "budget": 3.0},
            "stars": {"4": 1.0, "5": 1.0},
        }
    )
    cands = [
        Candidate("a", "session", 2.0, "x"),
        Candidate("b", "session", 4.0, "x"),  # the request's best rule: scores are divided by 4
        Candidate("a", "short", 0.5),
        Candidate("a", "similar", 0.8, "x"),  # max of the similarity sources, not the sum
        pop("a", 0.4),
        Candidate("a", "trending", 0.9),
    ]
    out = rank(p, cands, items, RankRequest(), W, now=NOW, affinity_half_life_s=HL)
    a = next(r for r in out if r.item_id == "a")
    affinity = (3 / 4 + 2 / 2 + 1 / 4 + 1 / 2) / 4
    expected = (
        W.session * (2 / 4)
        + W.similarity * 0.8
        + W.affinity * affinity
        + W.popularity * 0.9
        + W.price_fit * (1 / 4)
    )
    assert a.score == pytest.approx(expected)
    b = next(r for r in out if r.item_id == "b")
    # b has stars 4 as well (meta default) and band budget.
    b_aff = (1 / 4 + 2 / 2 + 3 / 4 + 1 / 2) / 4
    assert b.score == pytest.approx(W.session * 1.0 + W.affinity * b_aff + W.price_fit * (3 / 4))


def test_band_is_derived_from_price_when_missing() -> None:
    items = catalog(meta("cheap", band=None, price=100.0), meta("dear", band=None, price=2000.0))
    p = profile_with(aff={"band": {"budget": 1.0}})
    cands = [pop("cheap", 0.1), pop("dear", 0.1)]
    out = rank(p, cands, items, RankRequest(), W, now=NOW, affinity_half_life_s=HL)
    assert ids(out) == ["cheap", "dear"]
    assert out[0].reason == "matches your usual budget"


def test_facets_the_user_has_no_data_for_do_not_dilute_affinity() -> None:
    items = catalog(meta("a", stars=5))
    p = profile_with(aff={"dest": {"sanya": 1.0}})
    (r,) = rank(p, [pop("a", 0.0)], items, RankRequest(), W, now=NOW, affinity_half_life_s=HL)
    assert r.score == pytest.approx(W.affinity * 1.0)
    assert r.reason == "because you like Sanya"


# --- cross-sell --------------------------------------------------------------------------


def test_cross_sell_after_a_flight_puts_the_trip_first() -> None:
    items = catalog(
        meta("h_sanya"),
        meta("car_sanya", "car", band=None, stars=None),
        meta("tour_sanya", "tour", band=None, stars=None),
        meta("h_tokyo", dest="tokyo"),
        meta("v1", dest="tokyo"),
    )
    p = profile_with(recent=[("v0", NOW - 5)], bookings={"bk": booking("f1", dest="sanya")})
    cands = [
        Candidate("h_tokyo", "session", 1.0, "v0"),
        Candidate("v1", "short", 0.95),
        *(Candidate(i, "cross_sell", 0.6, "sanya") for i in ("h_sanya", "car_sanya", "tour_sanya")),
    ]
    out = rank(p, cands, items, RankRequest(), W, now=NOW, affinity_half_life_s=HL)
    assert ids(out)[:3] == ["car_sanya", "h_sanya", "tour_sanya"]
    assert {r.reason for r in out[:3]} == {"for your trip to Sanya on 2026-12-01"}
    assert {r.source for r in out[:3]} == {"cross_sell"}


def test_cross_sell_trip_picks_the_newest_upcoming_confirmed_flight() -> None:
    p = profile_with(
        bookings={
            "old": booking("f1", dest="lijiang", ts=NOW - 9000, start="2026-12-20", end=None),
            "new": booking("f2", dest="chiang-mai", ts=NOW - 100, start="2026-12-01"),
            "past": booking("f3", dest="tokyo", ts=NOW - 50, start="2026-11-01"),
            "gone": booking("f4", dest="paris", ts=NOW - 10, status="cancelled"),
            "hotel": booking("h1", dest="rome", ts=NOW - 5, itype="hotel"),
        }
    )
    assert cross_sell_trip(p, now=NOW) == Trip("chiang-mai", "2026-12-01", "2026-12-08")
    del p.bookings["new"]
    assert cross_sell_trip(p, now=NOW) == Trip("lijiang", "2026-12-20", None)


def test_cross_sell_trip_today_unknown_past_and_none() -> None:
    today = booking("f", start="2026-11-23", end=None)
    assert cross_sell_trip(profile_with(bookings={"b": today}), now=NOW) == Trip(
        "sanya", "2026-11-23", None
    )
    unknown = booking("f", start=None, end=None)
    assert cross_sell_trip(profile_with(bookings={"b": unknown}), now=NOW) == Trip(
        "sanya", None, None
    )
    past = booking("f", start="2026-11-22")
    assert cross_sell_trip(profile_with(bookings={"b": past}), now=NOW) is None
    assert cross_sell_trip(profile_with(), now=NOW) is None
    assert cross_sell_trip(None, now=NOW) is None


# --- diversity, k, determinism -------------------------------------------------------


def test_diversity_caps_one_group_among_the_first_k() -> None:
    hotels = [meta(f"h{i:02d}") for i in range(10)]
    others = [meta("car1", "car"), meta("h_tokyo", dest="tokyo"), meta("tour1", "tour")]
    items = catalog(*hotels, *others)
    cands = [pop(m.item_id, 0.9 - i * 0.01) for i, m in enumerate(hotels)]
    cands += [pop("car1", 0.3), pop("h_tokyo", 0.2), pop("tour1", 0.1)]
    w = RankWeights(max_per_group=3, max_group_share=0.0)  # the floor alone: 3 per group
    out = rank(None, cands, items, RankRequest(k=5), w, now=NOW, affinity_half_life_s=HL)
    assert ids(out) == ["h00", "h01", "h02", "car1", "h_tokyo"]
    # Not enough other groups: the list is filled with the best deferred items, in order.
    out = rank(None, cands, items, RankRequest(k=8), w, now=NOW, affinity_half_life_s=HL)
    assert ids(out) == ["h00", "h01", "h02", "car1", "h_tokyo", "tour1", "h03", "h04"]
    # By default a group may take half of a longer list: 4 of 8.
    out = rank(None, cands, items, RankRequest(k=8), W, now=NOW, affinity_half_life_s=HL)
    assert ids(out) == ["h00", "h01", "h02", "h03", "car1", "h_tokyo", "tour1", "h04"]


def test_diversity_with_the_default_k_of_ten() -> None:
    hotels = [meta(f"h{i}") for i in range(10)]
    others = [meta(f"x{i}", dest=f"city{i}") for i in range(10)]
    items = catalog(*hotels, *others)
    cands = [pop(m.item_id, 0.9) for m in hotels] + [pop(m.item_id, 0.1) for m in others]
    out = run(None, cands, items)
    assert len(out) == 10
    assert sum(i.startswith("h") for i in out) == W.group_cap(10) == 5


def test_k_is_respected() -> None:
    items = catalog(*(meta(f"i{n}", dest=f"d{n}") for n in range(20)))
    cands = [pop(i, 0.5) for i in items]
    assert len(run(None, cands, items, RankRequest(k=7))) == 7
    assert run(None, cands, items, RankRequest(k=0)) == []


def test_order_is_deterministic_and_ties_go_by_item_id() -> None:
    items = catalog(*(meta(f"i{n}", dest=f"d{n % 4}") for n in range(12)))
    cands = [pop(i, 0.5) for i in items] + [Candidate("i7", "short", 0.5)]
    cands += [Candidate("i3", "similar", 0.5, "i9"), Candidate("i3", "similar", 0.5, "i1")]
    expected = run(None, cands, items)
    assert expected[:2] == ["i3", "i7"]
    assert expected[2:] == sorted(expected[2:])
    for seed in range(5):
        shuffled = cands[:]
        random.Random(seed).shuffle(shuffled)
        assert run(None, shuffled, items) == expected


def test_unknown_source_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown candidate source"):
        run(None, [Candidate("a", "vibes", 1.0)], catalog(meta("a")))


# --- reasons -------------------------------------------------------------------------


def test_reasons_per_source() -> None:
    items = catalog(
        meta("s", dest="d1"),
        meta("n", dest="d2"),
        meta("e", dest="d3"),
        meta("p", dest="chiang-mai"),
        meta("t", dest="d5"),
        meta("x", dest="d6"),
        meta("seen", title="Sunny Bay Resort"),
    )
    cands = [
        Candidate("s", "session", 1.0, "seen"),
        Candidate("n", "similar", 0.9, "gone-item"),
        Candidate("e", "long", 0.8),
        pop("p", 0.7, "chiang-mai"),
        Candidate("t", "trending", 0.6),
        Candidate("x", "cross_sell", 0.5, "sanya"),
    ]
    out = rank(None, cands, items, RankRequest(), W, now=NOW, affinity_half_life_s=HL)
    assert {r.item_id: (r.reason, r.source) for r in out} == {
        "x": ("for your trip to Sanya", "cross_sell"),  # no upcoming trip known: no date
        "s": ("because you viewed Sunny Bay Resort", "session"),
        "n": ("because you viewed gone-item", "similar"),
        "e": ("similar to what you like", "long"),
        "p": ("popular in Chiang Mai this week", "popular"),
        "t": ("trending now", "trending"),
    }


def test_reason_comes_from_the_strongest_contribution() -> None:
    items = catalog(meta("a", band="luxury"))
    p = profile_with(aff={"band": {"luxury": 1.0}})
    cands = [Candidate("a", "trending", 0.5), Candidate("a", "short", 0.1)]
    (r,) = rank(p, cands, items, RankRequest(), W, now=NOW, affinity_half_life_s=HL)
    # affinity 0.5 * 1.0 beats price fit 0.3 * 1.0; its strongest facet is the band.
    assert r.reason == "matches your usual budget"
    assert r.source == "trending"  # the retrieval channel contributing most (0.1 > 0.06)
    cands = [Candidate("a", "similar", 1.0, "a0")]
    (r,) = rank(p, cands, items, RankRequest(), W, now=NOW, affinity_half_life_s=HL)
    assert r.reason == "because you viewed a0"


@pytest.mark.parametrize(
    ("slug", "name"),
    [("chiang-mai", "Chiang Mai"), ("sanya", "Sanya"), ("new_york", "New York"), ("", "")],
)
def test_place_names(slug: str, name: str) -> None:
    assert reasons.place_name(slug) == name


# --- cold users and fallback -------------------------------------------------------------


def test_needs_fallback() -> None:
    assert needs_fallback(None)
    assert needs_fallback(Profile(dim=4))
    assert needs_fallback(profile_with(aff={"dest": {"sanya": 1.0}}))  # searches only
    assert not needs_fallback(profile_with(recent=[("a", NOW - 1)]))
    booked_only = profile_with(bookings={"b": booking("f")})
    booked_only.long_vec, booked_only.long_w = np.ones(4), 8.0
    assert not needs_fallback(booked_only)


def test_rank_handles_unknown_and_empty_profiles() -> None:
    items = catalog(meta("a"), meta("b", dest="tokyo"))
    cands = [pop("a", 0.2), Candidate("b", "trending", 0.9)]
    assert run(None, cands, items) == ["b", "a"]
    assert run(Profile(dim=4), cands, items) == ["b", "a"]
    assert run(None, [], items) == []


def test_fallback_puts_market_popular_before_global_trending() -> None:
    items = catalog(
        meta("p1"), meta("p2", "car"), meta("t1", dest="tokyo"), meta("t2", dest="rome")
    )
    popular = [pop("p2", 0.2), pop("p1", 0.4)]
    trending = [Candidate("t1", "trending", 0.99), Candidate("p1", "trending", 1.0)]
    trending += [Candidate("t2", "trending", 0.5), Candidate("ghost", "trending", 1.0)]
    out = fallback(popular, trending, items, RankRequest(), W)
    assert ids(out) == ["p1", "p2", "t1", "t2"]
    assert [r.reason for r in out] == ["popular in Sanya this week"] * 2 + ["trending now"] * 2
    assert out[0].score == pytest.approx(0.2 * 0.4)


def test_fallback_filters_diversity_and_k() -> None:
    items = catalog(
        *(meta(f"p{i}") for i in range(6)), meta("t1", dest="tokyo"), meta("off", active=False)
    )
    popular = [pop(f"p{i}", 1.0 - i / 10) for i in range(6)] + [pop("off", 1.0)]
    trending = [Candidate("t1", "trending", 0.1)]
    req = RankRequest(k=5, exclude=frozenset({"p0"}))
    assert ids(fallback(popular, trending, items, req, W)) == ["p1", "p2", "p3", "t1", "p4"]
    req = RankRequest(k=3, item_types=frozenset({"hotel"}), destination="tokyo")
    assert ids(fallback(popular, trending, items, req, W)) == ["t1"]
    assert fallback([], [], items, RankRequest(), W) == []
