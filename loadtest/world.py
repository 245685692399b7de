"""The synthetic travel world: users with latent tastes who search, compare, book and cancel.

Pure and deterministic: output is a function of the seed and the arguments only. Latent
preferences are exposed (`World.users`) so that models trained on the traffic can be scored
against the truth that generated it.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import Any

import numpy as np
import orjson

from loadtest.catalog_gen import CITIES, ITEM_TYPES, Catalog, City, build_catalog, item_vectors
from loadtest.defects import corrupt
from loadtest.sessions import DEVICE_SHARE, DEVICES, DORMANT_DAYS, SessionSim

# Prior over item types a user browses; each user draws their own mix around it.
TYPE_PRIOR = np.array([0.34, 0.26, 0.14, 0.10, 0.16])
# Peak travel months: Spring Festival (Feb), summer holidays (Jul/Aug), Golden Week (Oct).
MONTH_SHARE = np.array([5, 12, 6, 7, 9, 6, 14, 14, 6, 12, 4, 5], dtype=np.float64)
BAD_KINDS = ("not_json", "missing_field", "wrong_type", "pii", "bad_enum", "empty", "not_object")


@dataclass(frozen=True, slots=True)
class Record:
    """One message for a logical topic, flagged if (and how) it is malformed."""

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
    """Draw the latent tastes of `n_users` users from the seed, column-wise."""
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
    """Seeded synthetic travel world: catalog, latent users and their event stream."""

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
        """Latent truth for every user, in user-id order."""
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
        """Ids of every catalog item."""
        return frozenset(self.cat.item_ids)

    def catalog(self) -> list[dict[str, Any]]:
        """Catalog items as contract-shaped dicts (without `v`, `vector`, `updated_at`)."""
        return self.cat.item_dicts()

    def catalog_records(
        self, updated_at: float, *, with_vectors: bool = False, dim: int = 32
    ) -> list[Record]:
        """Catalog items as `catalog` records, optionally with (mostly present) embeddings."""
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
