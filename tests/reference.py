"""An independent, deliberately naive profile computation used as ground truth.

It reads the generator's raw JSON (not the schemas package), applies events one at a time in
time order with per-event decay (the worker rebases once per batch instead) and keeps plain
Python lists. Only item vectors and price bands come from recommender.features, because those
are definitions, not the aggregation under test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from recommender.features import content_vector, price_band
from recommender.settings import Settings

WEIGHTS = {"search": 0.5, "view": 1.0, "click": 1.5, "share": 2.0, "wishlist": 3.0}
BOOK_WEIGHT = 8.0


@dataclass
class RefProfile:
    """Ground-truth profile of one user."""

    dim: int
    t: float = 0.0
    n_events: int = 0
    last_active: float = 0.0
    dest: dict[str, float] = field(default_factory=dict)
    itype: dict[str, float] = field(default_factory=dict)
    short: np.ndarray = field(default_factory=lambda: np.zeros(0))
    long: np.ndarray = field(default_factory=lambda: np.zeros(0))
    recent: dict[str, float] = field(default_factory=dict)
    confirmed: dict[str, str] = field(default_factory=dict)  # booking id -> item id
    cancelled: set[str] = field(default_factory=set)
    monetary: float = 0.0

    def recent_list(self, limit: int) -> list[str]:
        """Distinct items, newest first."""
        ordered = sorted(self.recent.items(), key=lambda kv: (-kv[1], kv[0]))
        return [i for i, _ in ordered[:limit]]

    def booked(self) -> set[str]:
        """Items of bookings confirmed and never cancelled."""
        return {i for b, i in self.confirmed.items() if b not in self.cancelled}


def _catalog_vectors(catalog: Iterable[bytes], s: Settings) -> dict[str, tuple[np.ndarray, dict]]:
    out = {}
    for raw in catalog:
        d = orjson.loads(raw)
        band = price_band(d["item_type"], d["price"] * s.fx_rates[d["currency"]])
        stars = d.get("attributes", {}).get("stars")
        vec = content_vector(
            d["item_type"], d["destination"], band, stars, d.get("attributes"), s.vector_dim
        )
        out[d["item_id"]] = (vec.astype(np.float64), d)
    return out


def ground_truth(
    catalog: Iterable[bytes], events: Iterable[tuple[str, bytes]], s: Settings
) -> dict[str, RefProfile]:
    """Profiles from the raw catalog and (logical topic, value) user events."""
    items = _catalog_vectors(catalog, s)
    parsed = sorted(((topic, orjson.loads(v)) for topic, v in events), key=lambda te: te[1]["ts"])
    users: dict[str, RefProfile] = {}
    hl_s, hl_l, hl_a = s.short_half_life_s, s.long_half_life_s, s.affinity_half_life_s
    for topic, e in parsed:
        p = users.setdefault(e["user_id"], RefProfile(s.vector_dim))
        if p.short.size == 0:
            p.short, p.long = np.zeros(s.vector_dim), np.zeros(s.vector_dim)
        ts = e["ts"]
        dt = ts - p.t
        # Events of one user are generated in time order, so decay is forward only.
        assert dt >= 0
        for d in (p.dest, p.itype):
            for k in d:
                d[k] *= 2 ** (-dt / hl_a)
        p.short *= 2 ** (-dt / hl_s)
        p.long *= 2 ** (-dt / hl_l)
        p.t = ts
        p.n_events += 1
        p.last_active = max(p.last_active, ts)
        if topic == "bookings":
            if e["status"] == "cancelled":
                if e["booking_id"] in p.confirmed and e["booking_id"] not in p.cancelled:
                    p.monetary -= e["amount"] * s.fx_rates[e["currency"]]
                p.cancelled.add(e["booking_id"])
                continue
            if e["booking_id"] in p.confirmed or e["booking_id"] in p.cancelled:
                continue
            p.confirmed[e["booking_id"]] = e["item_id"]
            p.monetary += e["amount"] * s.fx_rates[e["currency"]]
            w = BOOK_WEIGHT
        else:
            w = WEIGHTS[e["action"]]
        item_id = e.get("item_id")
        known = items.get(item_id) if item_id else None
        dest = known[1]["destination"] if known else e.get("destination")
        itype = known[1]["item_type"] if known else e.get("item_type")
        if dest:
            p.dest[dest] = p.dest.get(dest, 0.0) + w
        if itype:
            p.itype[itype] = p.itype.get(itype, 0.0) + w
        if item_id:
            if known:
                vec = known[0]
            else:
                price = e.get("price")
                base = price * s.fx_rates[e["currency"]] if price is not None else None
                band = price_band(itype, base)
                vec = content_vector(itype, dest, band, None, None, s.vector_dim).astype(float)
            p.short += w * vec
            p.long += w * vec
            if topic == "clicks":
                p.recent[item_id] = max(p.recent.get(item_id, 0.0), ts)
    return users


def assert_matches_truth(got: dict[str, Any], truth: dict[str, RefProfile], s: Settings) -> None:
    """Every stored profile equals the naive ground truth (vectors by direction)."""
    import pytest

    assert set(got) == set(truth)
    for uid, ref in truth.items():
        p = got[uid]
        assert p.n_events == ref.n_events, uid
        assert p.last_active == ref.last_active, uid
        assert [i for i, _ in p.recent] == ref.recent_list(s.recent_items_max), uid
        assert set(p.booked_items()) == ref.booked(), uid
        assert p.monetary == pytest.approx(ref.monetary, rel=1e-9, abs=1e-6), uid
        assert p.aff.get("dest", {}) == pytest.approx(ref.dest, rel=1e-6), uid
        assert p.aff.get("type", {}) == pytest.approx(ref.itype, rel=1e-6), uid
        for mine, theirs in ((p.long_vec, ref.long), (p.short_vec, ref.short)):
            if np.linalg.norm(theirs) > 1e-30:
                cos = float(mine @ theirs / (np.linalg.norm(mine) * np.linalg.norm(theirs)))
                assert cos > 0.9999, uid
