"""A synthetic week for the engagement side: consent, browsing, bookings, prices, feedback.

Pure and deterministic per plan. Users live in time zones from UTC-12 to UTC+14 (DST zones
included, and the default week spans the October DST change in Europe and Egypt); they grant
and withdraw consent per channel, view and wishlist items at the price of the moment, search,
book flights and hotels and cancel some, rate and complain; items' prices drop and rise.
Events come out in event-time order, each once (sim_worker.redeliver adds the copies a
producer retry makes). The catalog comes from the same generator as the rest of the load tools.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import orjson

from loadtest.catalog_gen import CITIES, FLIGHT, ITEM_TYPES, Catalog, build_catalog
from loadtest.world import Record

DAY_S = 86_400.0
START = datetime(2026, 10, 23, tzinfo=UTC).timestamp()  # Europe leaves DST on Oct 25
# Zones and weights: mostly China (the platform's market), then every offset that makes
# local days and quiet hours interesting: +14, -12, half and quarter hours, DST both ways.
ZONES: tuple[tuple[str, float], ...] = (
    ("Asia/Shanghai", 30.0),
    ("Asia/Hong_Kong", 4.0),
    ("Asia/Tokyo", 4.0),
    ("Asia/Kolkata", 3.0),
    ("Asia/Kathmandu", 2.0),
    ("Asia/Tehran", 2.0),
    ("Asia/Dubai", 2.0),
    ("Europe/Moscow", 2.0),
    ("Europe/London", 4.0),
    ("Europe/Berlin", 4.0),
    ("Africa/Cairo", 2.0),
    ("Atlantic/Azores", 2.0),
    ("UTC", 2.0),
    ("America/Sao_Paulo", 2.0),
    ("America/St_Johns", 2.0),
    ("America/New_York", 4.0),
    ("America/Chicago", 2.0),
    ("America/Los_Angeles", 4.0),
    ("America/Anchorage", 2.0),
    ("Pacific/Honolulu", 2.0),
    ("Pacific/Pago_Pago", 2.0),
    ("Etc/GMT+12", 3.0),
    ("Pacific/Kiritimati", 3.0),
    ("Pacific/Tongatapu", 2.0),
    ("Pacific/Chatham", 2.0),
    ("Pacific/Auckland", 3.0),
    ("Australia/Lord_Howe", 2.0),
    ("Australia/Sydney", 3.0),
    ("Australia/Adelaide", 2.0),
)
GRANT_SHARE = (("push", 0.70), ("wechat", 0.35), ("sms", 0.15), ("email", 0.30))
CLOCK_USER = "uclock"  # consents to nothing; its last click moves the event clock to the end


@dataclass(frozen=True, slots=True)
class WeekPlan:
    """Size and mix of the simulated week."""

    users: int = 10_000
    days: float = 7.0
    start: float = START
    seed: int = 1
    items: int = 2_000
    sessions_per_day: float = 0.6  # per active user, on average
    price_updates_per_day: float = 30.0
    history_share: float = 0.25  # users last seen 35-120 days ago (reactivation)
    warmup_share: float = 0.3  # users who browsed the day before: items are popular from day 1
    complaint_share: float = 0.015

    @property
    def end(self) -> float:
        """End of the week (Unix s)."""
        return self.start + self.days * DAY_S


@dataclass(frozen=True, slots=True)
class Event:
    """One event as produced: logical topic, Kafka key, wire payload (event_id included)."""

    ts: float
    topic: str
    key: str
    payload: dict[str, Any]

    def record(self) -> Record:
        """The Kafka record of this event."""
        return Record(self.topic, self.key.encode(), orjson.dumps(self.payload), True, "ok")


class EngageWorld:
    """Builds the week: catalog, then every user's events and the price moves, time-ordered."""

    def __init__(self, plan: WeekPlan) -> None:
        self.plan = plan
        self.cat: Catalog = build_catalog(plan.seed, plan.items)
        self.slugs = [c.slug for c in CITIES]
        self.types = [ITEM_TYPES[t] for t in self.cat.item_type.tolist()]
        self.dests = [self.slugs[d] for d in self.cat.dest.tolist()]
        self.base_price = self.cat.price.tolist()
        pop = self.cat.popularity
        self.by_dest: dict[str, list[int]] = {}
        for i, d in enumerate(self.dests):
            self.by_dest.setdefault(d, []).append(i)
        self.dest_w = {d: np.cumsum(pop[ix]).tolist() for d, ix in self.by_dest.items()}
        self.flights = {
            d: [i for i in ix if self.cat.item_type[i] == FLIGHT] for d, ix in self.by_dest.items()
        }
        city_w = np.array([c.popularity for c in CITIES], dtype=np.float64)
        self.city_cum = np.cumsum(city_w / city_w.sum()).tolist()
        self.zone_names = [z for z, _ in ZONES]
        self.zone_cum = np.cumsum([w for _, w in ZONES]).tolist()
        self._n = 0

    @cached_property
    def prices(self) -> list[Event]:
        """Price updates: drops past the threshold, small drops and rises, hot items first."""
        p, r = self.plan, random.Random(f"prices:{self.plan.seed}")
        w = self.cat.popularity**2
        cum = np.cumsum(w / w.sum()).tolist()
        current = list(self.base_price)
        out = []
        n = round(p.price_updates_per_day * p.days)
        for ts in sorted(p.start + r.random() * (p.end - p.start) for _ in range(n)):
            i = min(bisect.bisect_right(cum, r.random()), len(cum) - 1)
            x = r.random()
            factor = 1 - r.uniform(0.10, 0.35) if x < 0.45 else 1 - r.uniform(0.02, 0.09)
            factor = factor if x < 0.6 else 1 + r.uniform(0.03, 0.25)
            new = round(current[i] * factor, 2)
            item = self.cat.item_ids[i]
            fields: dict[str, Any] = {"item_id": item, "price": new, "currency": "CNY"}
            if r.random() >= 0.05:  # some feeds do not know the previous price
                fields["previous_price"] = current[i]
            current[i] = new
            out.append(self._event("prices", item, ts, fields))
        return out

    @cached_property
    def _timelines(self) -> dict[str, tuple[list[float], list[float]]]:
        out: dict[str, tuple[list[float], list[float]]] = {}
        for e in self.prices:
            ts, px = out.setdefault(e.key, ([], []))
            ts.append(e.ts)
            px.append(e.payload["price"])
        return out

    def price_at(self, i: int, ts: float) -> float:
        """Item i's price at ts, as a user would see it."""
        line = self._timelines.get(self.cat.item_ids[i])
        if line is None:
            return float(self.base_price[i])
        k = bisect.bisect_right(line[0], ts)
        return float(line[1][k - 1]) if k else float(self.base_price[i])

    def catalog_records(self) -> list[Record]:
        """The catalog as `catalog` records, stamped a day before the week."""
        updated = self.plan.start - DAY_S
        return [
            Record("catalog", d["item_id"].encode(), orjson.dumps(d), True, "ok")
            for d in ({"v": 1, **item, "updated_at": updated} for item in self.cat.item_dicts())
        ]

    def zone_of(self, user: int) -> str:
        """The user's IANA time zone."""
        r = random.Random(f"zone:{self.plan.seed}:{user}")
        k = bisect.bisect_right(self.zone_cum, r.random() * self.zone_cum[-1])
        return self.zone_names[min(k, len(self.zone_names) - 1)]

    def events(self) -> list[Event]:
        """Every event of the week (and of the earlier history), time-ordered, each once."""
        out = list(self.prices)
        for u in range(self.plan.users):
            out.extend(self.user_events(u))
        out.sort(key=lambda e: e.ts)  # stable: a user's same-instant events keep their order
        end = max(self.plan.end, out[-1].ts + 1.0 if out else 0.0)  # sessions may run over
        clock = {"user_id": CLOCK_USER, "session_id": "sclock", "action": "view"}
        clock |= {"item_id": self.cat.item_ids[0], "item_type": self.types[0]}
        out.append(self._event("clicks", CLOCK_USER, end, clock))
        return out

    def user_events(self, u: int) -> list[Event]:
        """One user's consent decisions, sessions, bookings and feedback."""
        p, r = self.plan, random.Random(f"user:{self.plan.seed}:{u}")
        uid, zone = f"u{u:06d}", self.zone_of(u)
        out: list[Event] = []
        granted: list[str] = []
        if r.random() < 0.9:  # a tenth never answered the consent prompt
            t = p.start + r.random() * 7200
            for ch, share in GRANT_SHARE:
                if r.random() < share:
                    granted.append(ch)
                    out.append(self._consent(uid, ch, True, zone, t))
                elif r.random() < 0.05:
                    out.append(self._consent(uid, ch, False, zone, t))
        if granted and r.random() < 0.08:
            out.append(self._consent(uid, r.choice(granted), False, zone, self._when(r)))
        if r.random() < 0.06:
            ch = r.choice([c for c, _ in GRANT_SHARE])
            out.append(self._consent(uid, ch, True, zone, self._when(r)))
        favs = [self._city(r), self._city(r)]
        if r.random() < p.warmup_share:
            t = p.start - r.uniform(0.05, 1.0) * DAY_S
            out.extend(self._session(uid, u, r, t, r.choice(favs), book=False))
        away = False
        if r.random() < p.history_share:
            t = p.start - r.uniform(35, 120) * DAY_S
            out.extend(self._session(uid, u, r, t, r.choice(favs), book=False))
            away = r.random() < 0.4
        if not away:
            rate = p.sessions_per_day * p.days * math.exp(r.gauss(0.0, 0.6) - 0.18)
            for t in sorted(self._when(r) for _ in range(_poisson(r, rate))):
                dest = r.choice(favs) if r.random() < 0.6 else self._city(r)
                out.extend(self._session(uid, u, r, t, dest, book=True))
        if r.random() < p.complaint_share:
            category = r.choice(("spam", "service", "price"))
            fields = {"user_id": uid, "kind": "complaint", "category": category}
            out.append(self._event("feedback", uid, self._when(r), fields))
        return out

    def _session(
        self, uid: str, u: int, r: random.Random, t: float, dest: str, *, book: bool
    ) -> Iterator[Event]:
        sid = f"s{self.plan.seed}-{u}-{self._n}"
        day = datetime.fromtimestamp(t, UTC).date()
        trip = day + timedelta(days=r.randint(7, 60))
        base = {"user_id": uid, "session_id": sid, "device": r.choice(("ios", "web"))}
        if r.random() < 0.7:
            yield self._click(base, t, action="search", destination=dest, trip=trip)
        viewed: list[int] = []
        for _ in range(1 + min(12, int(r.expovariate(1 / 3.0)))):
            t += r.uniform(20, 120)
            i = self._item(r, dest)
            viewed.append(i)
            x = r.random()
            action = "view" if x < 0.7 else "click" if x < 0.85 else "wishlist"
            yield self._click(base, t, action=action, item=i, price=self.price_at(i, t))
        if book and r.random() < 0.18:
            t += r.uniform(60, 600)
            flights = self.flights.get(dest, [])
            i = r.choice(flights) if flights and r.random() < 0.5 else r.choice(viewed)
            yield from self._booking(uid, r, t, i, trip)
        if r.random() < 0.05:
            t += r.uniform(10, 60)
            item = self.cat.item_ids[viewed[0]]
            fields = {"user_id": uid, "item_id": item, "kind": "rating"}
            yield self._event("feedback", uid, t, {**fields, "rating": float(r.randint(1, 5))})

    def _booking(self, uid: str, r: random.Random, t: float, i: int, trip: date) -> Iterator[Event]:
        self._n += 1
        b: dict[str, Any] = {"user_id": uid, "booking_id": f"b{self.plan.seed}-{self._n}"}
        b |= {"status": "confirmed", "item_id": self.cat.item_ids[i], "item_type": self.types[i]}
        b |= {"destination": self.dests[i], "currency": "CNY"}
        b["amount"] = round(self.price_at(i, t) * r.uniform(1, 3), 2)
        b["travel_start"] = trip.isoformat()
        b["travel_end"] = (trip + timedelta(days=r.randint(2, 7))).isoformat()
        if self.types[i] == "flight":
            b["origin"] = self.slugs[int(self.cat.origin[i])]
        yield self._event("bookings", uid, t, b)
        if r.random() < 0.12:
            later = min(self.plan.end - 1, t + r.uniform(3600, 3 * DAY_S))
            if later > t:
                yield self._event("bookings", uid, later, {**b, "status": "cancelled"})

    def _click(
        self,
        base: dict[str, Any],
        t: float,
        *,
        action: str,
        item: int | None = None,
        price: float | None = None,
        destination: str | None = None,
        trip: date | None = None,
    ) -> Event:
        d = {**base, "action": action}
        if item is not None:
            d |= {"item_id": self.cat.item_ids[item], "item_type": self.types[item]}
            d["destination"] = self.dests[item]
        if price is not None:
            d |= {"price": price, "currency": "CNY"}
        if destination is not None:
            d["destination"] = destination
        if trip is not None:
            d |= {
                "travel_start": trip.isoformat(),
                "travel_end": (trip + timedelta(days=4)).isoformat(),
            }
        return self._event("clicks", base["user_id"], t, d)

    def _consent(self, uid: str, ch: str, ok: bool, zone: str, t: float) -> Event:
        fields = {"user_id": uid, "channel": ch, "granted": ok, "timezone": zone}
        return self._event("consent", uid, t, fields)

    def _event(self, topic: str, key: str, ts: float, fields: dict[str, Any]) -> Event:
        """An event with a fresh id; times are kept to the millisecond, as trackers send."""
        at = round(ts, 3)
        return Event(at, topic, key, {"v": 1, "event_id": self._id(), **fields, "ts": at})

    def _when(self, r: random.Random) -> float:
        return round(self.plan.start + r.random() * (self.plan.end - self.plan.start - 1), 3)

    def _city(self, r: random.Random) -> str:
        return self.slugs[min(bisect.bisect_right(self.city_cum, r.random()), len(CITIES) - 1)]

    def _item(self, r: random.Random, dest: str) -> int:
        ix = self.by_dest.get(dest) or self.by_dest[next(iter(self.by_dest))]
        cum = self.dest_w.get(dest) or self.dest_w[next(iter(self.by_dest))]
        return ix[min(bisect.bisect_right(cum, r.random() * cum[-1]), len(ix) - 1)]

    def _id(self) -> str:
        self._n += 1
        return f"e{self.plan.seed}-{self._n}"


def _poisson(r: random.Random, lam: float) -> int:
    # Knuth's method is fine for the small means used here.
    limit, k, prod = math.exp(-lam), 0, r.random()
    while prod > limit:
        k += 1
        prod *= r.random()
    return k
