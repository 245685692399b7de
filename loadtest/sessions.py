"""Session simulator behind `World.events`: each user's life as timestamped click/booking events.

Internal to `loadtest.world`; kept apart so the world module stays a readable public entry.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

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
)

if TYPE_CHECKING:  # type-only: importing world at runtime would be circular
    from loadtest.world import Population

# Also used by world.py; defined here so the simulator never imports world at runtime.
DEVICES = ("ios", "android", "web", "miniapp", "other")
DEVICE_SHARE = [0.35, 0.30, 0.13, 0.20, 0.02]  # parallel to DEVICES, hence kept beside it
FAV_WEIGHTS = (0.45, 0.30, 0.15, 0.10)  # first favourite dominates, as in real trip histories
DORMANT_DAYS = 21.0  # mean length of a drift-away spell before a user comes back
DAY_MS = 86_400_000
EPOCH_ORD = date(1970, 1, 1).toordinal()

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
