"""The synthetic travel world: users with latent tastes who search, compare, book and cancel.

Pure and deterministic: output is a function of the seed and the arguments only. Latent
preferences are exposed (`World.users`) so that models trained on the traffic can be scored
against the truth that generated it.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from itertools import islice
from typing import Any

import numpy as np
import orjson

from loadtest.catalog_gen import (
    ATTRACTION,
    CAR,
    CITIES,
    DOMESTIC_REGIONS,
    FLIGHT,
    HOTEL,
    ITEM_TYPES,
    TOUR,
    Catalog,
    City,
    build_catalog,
    item_vectors,
)

DEVICES = ("ios", "android", "web", "miniapp", "other")
DEVICE_SHARE = [0.35, 0.30, 0.13, 0.20, 0.02]
# Prior over item types a user browses; each user draws their own mix around it.
TYPE_PRIOR = np.array([0.34, 0.26, 0.14, 0.10, 0.16])
# Peak travel months: Spring Festival (Feb), summer holidays (Jul/Aug), Golden Week (Oct).
MONTH_SHARE = np.array([5, 12, 6, 7, 9, 6, 14, 14, 6, 12, 4, 5], dtype=np.float64)
FAV_WEIGHTS = (0.45, 0.30, 0.15, 0.10)  # first favourite dominates, as in real trip histories
DORMANT_DAYS = 21.0  # mean length of a drift-away spell before a user comes back
DAY_MS = 86_400_000
EPOCH_ORD = date(1970, 1, 1).toordinal()
BAD_KINDS = ("not_json", "missing_field", "wrong_type", "pii", "bad_enum", "empty", "not_object")


@dataclass(frozen=True, slots=True)
class Record:
    topic: str  # logical topic: "clicks", "bookings" or "catalog"
    key: bytes
    value: bytes
    valid: bool
    kind: str  # "ok" or one of BAD_KINDS


@dataclass(frozen=True, slots=True)
class User:
    """Latent truth behind a user's behaviour (never emitted on the wire)."""

    user_id: str
    home: str
    favourites: tuple[str, ...]  # most favoured first
    budget: float  # target price percentile within each item type (0 cheapest, 1 dearest)
    hotel_stars: int
    type_prefs: dict[str, float]  # browsing mix over item types, sums to 1
    favourite_types: tuple[str, ...]
    peak_month: int  # 1..12, month they like to travel in
    sessions_per_day: float  # while active
    churn: float  # probability of drifting away (going dormant for weeks) after a session
    device: str


@dataclass(frozen=True, slots=True)
class Population:
    """Column-wise users as plain lists: the simulator indexes them per event."""

    home: list[int]
    favs: list[list[int]]
    budget: list[float]
    stars: list[int]
    type_prefs: list[list[float]]
    peak_month: list[int]
    sessions_per_day: list[float]
    depth: list[float]  # mean number of actions in a session
    churn: list[float]
    device: list[int]


def build_population(seed: int, n_users: int) -> Population:
    rng = np.random.default_rng([seed, 2])
    n_c = len(CITIES)
    home_w = np.array([c.home_weight for c in CITIES])
    home = rng.choice(n_c, size=n_users, p=home_w / home_w.sum())
    # Gumbel top-k: popularity-weighted sampling of distinct favourites, vectorised.
    keys = np.log([c.popularity for c in CITIES])[None, :] + rng.gumbel(size=(n_users, n_c))
    keys[np.arange(n_users), home] = -np.inf  # favourites are away from home
    top = np.argsort(-keys, axis=1)[:, :4]
    n_fav = rng.integers(2, 5, size=n_users)
    budget = rng.beta(2.0, 2.0, size=n_users)
    stars = np.clip(np.rint(2.0 + 3.0 * budget + rng.normal(0.0, 0.5, n_users)), 2, 5)
    return Population(
        home=home.tolist(),
        favs=[row[:k] for row, k in zip(top.tolist(), n_fav.tolist(), strict=True)],
        budget=budget.tolist(),
        stars=stars.astype(np.int64).tolist(),
        type_prefs=rng.dirichlet(TYPE_PRIOR * 6.0, size=n_users).tolist(),
        peak_month=(rng.choice(12, size=n_users, p=MONTH_SHARE / MONTH_SHARE.sum()) + 1).tolist(),
        sessions_per_day=rng.lognormal(np.log(4.0), 0.5, n_users).tolist(),
        depth=rng.lognormal(np.log(8.0), 0.3, n_users).tolist(),
        churn=rng.beta(1.5, 20.0, n_users).tolist(),
        device=rng.choice(len(DEVICES), size=n_users, p=DEVICE_SHARE).tolist(),
    )


class World:
    def __init__(self, seed: int, n_users: int = 5000, n_items: int = 2000) -> None:
        if n_users < 1 or n_items < 1:
            raise ValueError("n_users and n_items must be >= 1")
        self.seed = seed
        self.n_users = n_users
        self.n_items = n_items
        self.cities: tuple[City, ...] = CITIES
        self.cat: Catalog = build_catalog(seed, n_items)
        self.pop: Population = build_population(seed, n_users)
        self.user_ids = [f"u{u:06d}" for u in range(n_users)]

    @cached_property
    def users(self) -> tuple[User, ...]:
        p = self.pop
        out = []
        for u, uid in enumerate(self.user_ids):
            prefs = dict(zip(ITEM_TYPES, p.type_prefs[u], strict=True))
            out.append(
                User(
                    user_id=uid,
                    home=CITIES[p.home[u]].slug,
                    favourites=tuple(CITIES[c].slug for c in p.favs[u]),
                    budget=p.budget[u],
                    hotel_stars=p.stars[u],
                    type_prefs=prefs,
                    favourite_types=tuple(sorted(prefs, key=prefs.__getitem__, reverse=True)[:2]),
                    peak_month=p.peak_month[u],
                    sessions_per_day=p.sessions_per_day[u],
                    churn=p.churn[u],
                    device=DEVICES[p.device[u]],
                )
            )
        return tuple(out)

    @cached_property
    def item_ids(self) -> frozenset[str]:
        return frozenset(self.cat.item_ids)

    def catalog(self) -> list[dict[str, Any]]:
        """Catalog items as contract-shaped dicts (without `v`, `vector`, `updated_at`)."""
        return self.cat.item_dicts()

    def catalog_records(
        self, updated_at: float, *, with_vectors: bool = False, dim: int = 32
    ) -> list[Record]:
        vectors: list[list[float]] | None = None
        if with_vectors:
            vectors = item_vectors(self.seed, self.cat, dim).tolist()
            # Real catalogs always lag the embedding job: ~5% of items have no vector yet.
            lagging = np.random.default_rng([self.seed, 5]).random(len(self.cat)) < 0.05
        out = []
        for i, item in enumerate(self.cat.item_dicts()):
            d: dict[str, Any] = {"v": 1, **item}
            if vectors is not None and not lagging[i]:
                d["vector"] = vectors[i]
            d["updated_at"] = float(updated_at)
            out.append(Record("catalog", item["item_id"].encode(), orjson.dumps(d), True, "ok"))
        return out

    def events(
        self,
        n: int,
        start_ts: float,
        *,
        speed: float = 1.0,
        bad_fraction: float = 0.0,
        unknown_fraction: float = 0.005,
    ) -> Iterator[Record]:
        """Exactly `n` click/booking records, interleaved across users in time order.

        `speed` compresses simulated time: every delay is divided by it (1.0 = human pace).
        With `bad_fraction`, that share of records are malformed extras (`valid=False`);
        they do not disturb the simulation, so the valid records are the same as without.
        `unknown_fraction` of item clicks reference ids missing from the catalog.
        """
        if n < 0 or speed <= 0 or not 0 <= bad_fraction <= 1 or not 0 <= unknown_fraction <= 1:
            raise ValueError("need n >= 0, speed > 0 and fractions within [0, 1]")
        return self._stream(n, start_ts, speed, bad_fraction, unknown_fraction)

    @cached_property
    def base_event_rate(self) -> float:
        """Valid events per simulated second at speed 1, measured on a sample run.

        Dividing a target wall-clock rate by this gives the `speed` that keeps event
        timestamps in step with the wall clock.
        """
        n = 20_000
        last = 0.0
        for rec in islice(self.events(n, 0.0, unknown_fraction=0.0), n):
            last = orjson.loads(rec.value)["ts"]
        return n / max(last, 1e-3)

    def _first_session_ms(self, start_ms: int, speed: float) -> list[int]:
        # Start in the steady state (some users mid-way through a planning phase, some
        # dormant) so the event rate is flat over time instead of decaying as users churn.
        rng = np.random.default_rng([self.seed, 4])
        gap_s = 86_400.0 / np.asarray(self.pop.sessions_per_day)
        active_s = gap_s / np.asarray(self.pop.churn)
        dormant_s = DORMANT_DAYS * 86_400.0
        active = rng.random(self.n_users) < active_s / (active_s + dormant_s)
        first_s = np.where(active, rng.exponential(gap_s), rng.exponential(dormant_s, self.n_users))
        first_ms: list[int] = (start_ms + (first_s * 1000.0 / speed).astype(np.int64)).tolist()
        return first_ms

    def _stream(
        self, n: int, start_ts: float, speed: float, bad_fraction: float, unknown: float
    ) -> Iterator[Record]:
        start_ms = round(start_ts * 1000)
        # The run tag keeps ids unique across runs started at different times while
        # staying reproducible for the same arguments.
        tag = f"{self.seed}-{int(start_ts):x}"
        sim = SessionSim(self.cat, self.pop, self.user_ids, self.seed, tag, speed, unknown)
        keys = [uid.encode() for uid in self.user_ids]
        heap = list(zip(self._first_session_ms(start_ms, speed), range(self.n_users), strict=True))
        heapq.heapify(heap)
        lives: list[Iterator[tuple[int, str, dict[str, Any]]] | None] = [None] * self.n_users
        pending: list[tuple[str, dict[str, Any]]] = [("", {})] * self.n_users
        bad_rng = random.Random(f"bad:{self.seed}")
        n_valid = n_bad = 0
        while n_valid + n_bad < n:
            t, u = heap[0]
            life = lives[u]
            if life is None:  # lazily start a user's life at their first session
                life = lives[u] = sim.life(u, t)
                _, topic, payload = next(life)
                pending[u] = (topic, payload)
            topic, payload = pending[u]
            if bad_fraction and bad_rng.random() < bad_fraction:
                kind = bad_rng.choice(BAD_KINDS)
                bad = dict(payload, event_id=f"e{tag}-x{n_bad}")
                n_bad += 1
                yield Record(topic, keys[u], corrupt(topic, bad, kind, bad_rng), False, kind)
                continue
            payload["event_id"] = f"e{tag}-{n_valid}"
            n_valid += 1
            yield Record(topic, keys[u], orjson.dumps(payload), True, "ok")
            t_next, topic, payload = next(life)
            pending[u] = (topic, payload)
            heapq.heapreplace(heap, (t_next, u))


def corrupt(topic: str, d: dict[str, Any], kind: str, r: random.Random) -> bytes:
    """Encode `d` with the defect `kind`; each defect is one a real producer has shipped."""
    if kind == "empty":
        return b""
    if kind == "not_object":
        return r.choice((b"[1,2]", b"42", b'"click"', b"null", b"true"))
    if kind == "not_json":
        raw = orjson.dumps(d)
        if r.random() < 0.7:  # truncated mid-write: the closing brace is always lost
            return raw[: r.randint(1, len(raw) - 1)]
        return b"\xff" + r.randbytes(r.randint(4, 40))  # binary garbage, invalid UTF-8
    if kind == "missing_field":
        # Only fields without a default: `v` and `device` may be omitted legitimately.
        required = ["user_id", "ts", "event_id"]
        if topic == "clicks":
            required += ["session_id", "action"]
            required += ["destination"] if d["action"] == "search" else ["item_id", "item_type"]
        else:
            required += ["booking_id", "status", "item_id", "amount", "travel_start"]
        del d[r.choice(required)]
    elif kind == "wrong_type":
        money = "price" if topic == "clicks" else "amount"
        field = r.choice(("ts", money)) if money in d else "ts"
        d[field] = "yesterday" if field == "ts" else "cheap"
    elif kind == "pii":
        if r.random() < 0.5:
            d["email"] = "a@b.com"
        else:
            d["phone"] = "+8613800000000"
    elif kind == "bad_enum":
        if topic == "clicks":
            d.update(r.choice(({"action": "teleport"}, {"device": "toaster"})))
        else:
            d.update(r.choice(({"status": "teleported"}, {"item_type": "spaceship"})))
    else:
        raise ValueError(f"unknown defect kind {kind!r}")
    return orjson.dumps(d)


Event = tuple[int, str, dict[str, Any]]  # (ts in ms, logical topic, payload)


@dataclass(slots=True)
class _Group:
    """Items of one (destination, type[, origin]), sorted by price for budget lookups."""

    items: list[int] = field(default_factory=list)
    pct: list[float] = field(default_factory=list)
    cum_pop: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Trip:
    dest: int
    start: int  # date ordinal
    nights: int
    pax: int
    booked: set[int] = field(default_factory=set)  # item types already booked


@dataclass(slots=True)
class _UserState:
    sessions: int = 0
    trip: _Trip | None = None
    # Confirmed, not cancelled, with the travel start ordinal: trips already begun stay put.
    open: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _groups(cat: Catalog, keys: list[tuple[int, ...]]) -> dict[tuple[int, ...], _Group]:
    out: dict[tuple[int, ...], _Group] = {}
    for i in np.argsort(cat.price_pct, kind="stable").tolist():
        g = out.setdefault(keys[i], _Group())
        g.items.append(i)
        g.pct.append(float(cat.price_pct[i]))
        g.cum_pop.append((g.cum_pop[-1] if g.cum_pop else 0.0) + float(cat.popularity[i]))
    return out


class SessionSim:
    """Generates each user's life as a stream of timestamped events (internal to World)."""

    def __init__(
        self,
        cat: Catalog,
        pop: Population,
        user_ids: list[str],
        seed: int,
        tag: str,
        speed: float,
        unknown: float,
    ) -> None:
        self.pop, self.user_ids, self.tag, self.unknown = pop, user_ids, tag, unknown
        self.r = random.Random(f"events:{seed}")
        self.ms_per_s = 1000.0 / speed
        self.n_bookings = 0
        self.slugs = [c.slug for c in CITIES]
        self.abroad = [c.region not in DOMESTIC_REGIONS for c in CITIES]
        self.ids, self.price = cat.item_ids, cat.price.tolist()
        self.typ, self.dest, self.origin = (
            cat.item_type.tolist(),
            cat.dest.tolist(),
            cat.origin.tolist(),
        )
        self.by_type = _groups(cat, [(d, t) for d, t in zip(self.dest, self.typ, strict=True)])
        self.flights = _groups(cat, [(d, o) for d, o in zip(self.dest, self.origin, strict=True)])
        self.by_dest = _groups(cat, [(d,) for d in self.dest])
        self.everything = _groups(cat, [()] * len(cat))[()]
        cum_pop = np.cumsum([c.popularity for c in CITIES])
        self.city_cum = (cum_pop / cum_pop[-1]).tolist()
        self.type_cum = np.cumsum(np.asarray(pop.type_prefs), axis=1).tolist()
        fav_cum = {
            k: (np.cumsum(FAV_WEIGHTS[:k]) / sum(FAV_WEIGHTS[:k])).tolist() for k in (1, 2, 3, 4)
        }
        self.fav_cum = [fav_cum[len(f)] for f in pop.favs]

    def dwell(self) -> int:
        # Time on a page: log-normal, median ~30 s. Never 0 so per-user ts strictly increase.
        return max(1, int(math.exp(self.r.gauss(3.4, 0.8)) * self.ms_per_s))

    def life(self, u: int, t: int) -> Generator[Event, None, None]:
        st = _UserState()
        while True:
            t = yield from self.session(u, st, t)
            if self.r.random() < self.pop.churn[u]:
                gap_s = self.r.expovariate(1.0 / (DORMANT_DAYS * 86_400.0))  # drifts away
            else:
                gap_s = self.r.expovariate(self.pop.sessions_per_day[u] / 86_400.0)
            t += max(1, int(max(gap_s, 120.0) * self.ms_per_s))

    def session(self, u: int, st: _UserState, t: int) -> Generator[Event, None, int]:
        r = self.r
        st.sessions += 1
        sid = f"s{self.tag}-{u}-{st.sessions}"
        dev = DEVICES[self.pop.device[u]] if r.random() < 0.85 else r.choice(DEVICES)
        today = EPOCH_ORD + t // DAY_MS
        st.open = [b for b in st.open if b[0] > today]
        if st.open and r.random() < 0.06:  # plans changed since an earlier session
            yield t, "bookings", self.cancel(st, t)
            t += self.dwell()
        trip = st.trip
        if trip is None or trip.start <= today + 1 or r.random() < (0.15 if trip.booked else 0.35):
            trip = st.trip = self.new_trip(u, today)
            resume = False
        else:  # returning to a trip planned earlier: often straight to the items (app history)
            resume = r.random() < 0.5
        if not resume:
            yield t, "clicks", self.search(u, sid, dev, trip, t)
            t += self.dwell()
        focus = self.focus(u, trip)
        book_in = r.randint(2, 6) if r.random() < 0.22 else -1  # views until a purchase
        last = -1
        for _ in range(min(60, 1 + int(r.expovariate(1.0 / self.pop.depth[u])))):
            x = r.random()
            if x < 0.04:  # a new search, often for another favourite destination
                trip = st.trip = self.new_trip(u, today)
                yield t, "clicks", self.search(u, sid, dev, trip, t)
                focus, last = self.focus(u, trip), -1
            elif last >= 0 and x > 0.90:  # act on the item just viewed
                action = "wishlist" if x < 0.965 else "share"
                yield t, "clicks", self.click(u, sid, dev, action, last, t)
            else:
                if x < 0.16:
                    focus = self.pick_type(u)
                last = self.pick_item(u, trip.dest, focus)
                action = "view" if r.random() < 0.75 else "click"
                yield t, "clicks", self.click(u, sid, dev, action, last, t)
                book_in -= 1
                if book_in == 0:
                    t += self.dwell()
                    yield t, "bookings", self.book(u, st, trip, last, t)
                    # Flight first, then (often) a hotel there for the same dates, then extras.
                    if self.typ[last] == FLIGHT and HOTEL not in trip.booked and r.random() < 0.65:
                        focus, book_in = HOTEL, r.randint(2, 4)
                    elif r.random() < 0.25:
                        focus, book_in = r.choice((TOUR, ATTRACTION, CAR)), r.randint(2, 5)
                    if r.random() < 0.02:  # instant regret
                        t += self.dwell()
                        yield t, "bookings", self.cancel(st, t)
            t += self.dwell()
        return t

    def new_trip(self, u: int, today: int) -> _Trip:
        r, p = self.r, self.pop
        if r.random() < 0.8:
            dest = p.favs[u][bisect_right(self.fav_cum[u], r.random() * 0.999999)]
        else:  # exploration: anywhere, by popularity
            dest = bisect_right(self.city_cum, r.random() * 0.999999)
            dest = p.favs[u][0] if dest == p.home[u] else dest
        if r.random() < 0.5:  # seasonal: next occurrence of the user's favourite month
            d = date.fromordinal(today + 7)
            start = date(d.year, p.peak_month[u], r.randint(1, 28)).toordinal()
            start += 365 if start < today + 7 else 0
        else:
            start = today + 2 + int(r.expovariate(1 / 30.0))
        nights = 1 + min(13, int(r.expovariate(1 / 3.0))) + (2 if self.abroad[dest] else 0)
        return _Trip(dest, start, nights, pax=r.choice((1, 2, 2, 2, 3, 4)))

    def focus(self, u: int, trip: _Trip) -> int:
        if FLIGHT in trip.booked:
            return HOTEL if HOTEL not in trip.booked else self.r.choice((TOUR, ATTRACTION, CAR))
        return self.pick_type(u)

    def pick_type(self, u: int) -> int:
        return min(4, bisect_right(self.type_cum[u], self.r.random()))

    def pick_item(self, u: int, dest: int, typ: int) -> int:
        r = self.r
        g = (
            self.flights.get((dest, self.pop.home[u]))
            if typ == FLIGHT and r.random() < 0.8
            else None
        )
        g = g or self.by_type.get((dest, typ)) or self.by_dest.get((dest,)) or self.everything
        if r.random() < 0.2:  # popular pick, budget aside
            i = bisect_right(g.cum_pop, r.random() * g.cum_pop[-1])
        else:  # near the user's budget, with some noise
            i = bisect_left(g.pct, self.pop.budget[u] + r.gauss(0.0, 0.08))
        return g.items[min(i, len(g.items) - 1)]

    def click(self, u: int, sid: str, dev: str, action: str, i: int, t: int) -> dict[str, Any]:
        r, typ = self.r, self.typ[i]
        item_id = self.ids[i]
        if r.random() < self.unknown:  # an item the catalog has not heard of (yet)
            item_id = f"{item_id.rsplit('-', 1)[0]}-n{r.randint(1, 9999):04d}"
        d: dict[str, Any] = {
            "v": 1,
            "event_id": "",
            "user_id": self.user_ids[u],
            "session_id": sid,
            "action": action,
            "item_id": item_id,
            "item_type": ITEM_TYPES[typ],
            "destination": self.slugs[self.dest[i]],
        }
        if action != "share":  # a shared link shows no price
            price = self.price[i]
            if typ in (HOTEL, FLIGHT):  # dynamic pricing: what users see moves around
                price = round(price * (0.95 + 0.13 * r.random()), 2)
            d["price"], d["currency"] = price, "CNY"
        d["device"], d["ts"] = dev, t / 1000
        return d

    def search(self, u: int, sid: str, dev: str, trip: _Trip, t: int) -> dict[str, Any]:
        d: dict[str, Any] = {
            "v": 1,
            "event_id": "",
            "user_id": self.user_ids[u],
            "session_id": sid,
            "action": "search",
            "destination": self.slugs[trip.dest],
            "device": dev,
            "ts": t / 1000,
        }
        if self.r.random() < 0.9:
            d["travel_start"] = date.fromordinal(trip.start).isoformat()
            d["travel_end"] = date.fromordinal(trip.start + trip.nights).isoformat()
        return d

    def book(self, u: int, st: _UserState, trip: _Trip, i: int, t: int) -> dict[str, Any]:
        typ, price = self.typ[i], self.price[i]
        start, end = trip.start, trip.start + trip.nights
        if typ in (HOTEL, CAR):
            amount = price * max(1, trip.nights)
        else:
            amount = price * trip.pax
            if typ != FLIGHT:  # a tour or ticket on one day of the trip
                start = end = trip.start + self.r.randrange(max(1, trip.nights))
        self.n_bookings += 1
        d: dict[str, Any] = {
            "v": 1,
            "event_id": "",
            "user_id": self.user_ids[u],
            "booking_id": f"b{self.tag}-{self.n_bookings}",
            "status": "confirmed",
            "item_id": self.ids[i],
            "item_type": ITEM_TYPES[typ],
            "destination": self.slugs[self.dest[i]],
            "amount": round(amount, 2),
            "currency": "CNY",
            "travel_start": date.fromordinal(start).isoformat(),
            "travel_end": date.fromordinal(end).isoformat(),
            "ts": t / 1000,
        }
        if typ == FLIGHT:
            d["origin"] = self.slugs[self.origin[i]]
        trip.booked.add(typ)
        st.open.append((start, d))
        return d

    def cancel(self, st: _UserState, t: int) -> dict[str, Any]:
        _, booking = st.open.pop(self.r.randrange(len(st.open)))
        return dict(booking, event_id="", status="cancelled", ts=t / 1000)
