"""Next-best offers for one user: gather candidates (I/O), then rank them (pure).

Candidate sources, each cheap enough for a few-millisecond budget:
- the user's short- and long-term embeddings against the item index;
- index neighbours of the items the user viewed last;
- next-item rules of the published model for those items (session signal);
- what is popular this week in the user's favourite destinations;
- for a booked flight, popular hotels, cars, tours and attractions at the destination.
Unknown or cold users, and lists that filters leave short, fall back to market popular and
then global trending, so the answer is never empty while the catalog is not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from redis.exceptions import RedisError

from recommender import popularity
from recommender.customer_hints import NO_HINTS, CustomerHints, hints_of
from recommender.engagement import codec as customer_codec
from recommender.engagement.codec import CustomerFormatError
from recommender.engagement.config import EngagementPolicy
from recommender.index import ItemIndex
from recommender.profile import Profile
from recommender.ranking import (
    Candidate,
    ItemMeta,
    Ranked,
    RankRequest,
    RankWeights,
    cross_sell_trip,
    fallback,
    needs_fallback,
    rank,
)
from recommender.store import RedisStore

log = logging.getLogger(__name__)
SESSION_ITEMS = 10  # recent items that make up the session for session kNN
SESSION_CANDIDATES = 50
NEIGHBOUR_TTL_S = 60.0
NEIGHBOUR_CACHE_MAX = 50_000
LONG_TERM_SHARE = 0.5  # weight of the long-term embedding in the one ANN query
ANN_K = 30  # per embedding; more costs ranking time and rarely changes the top 10
POPULAR_DAYS, POPULAR_DAY_DECAY = 7, 0.8  # "popular this week"
TRENDING_DAYS, TRENDING_DAY_DECAY = 2, 0.5  # "trending now"
POPULAR_TOP = 100
CROSS_SELL_TYPES = frozenset({"hotel", "car", "tour", "attraction"})


class SessionModel(Protocol):
    """What the trained model offers online (recommender.model_view.ModelView)."""

    def session_items(self, recent: Sequence[str], n: int) -> Sequence[tuple[str, float]]:
        """Best next items for a session given oldest first, with their scores."""
        ...

    def neighbours(self, item_id: str, n: int) -> list[tuple[str, float]] | None:
        """Nearest items in the learned space; None when the model does not know the item."""
        ...

    @property
    def version(self) -> str | None:
        """Version of the model in use, None before one is published."""
        ...


class ProfileReader(Protocol):
    """Where profiles come from (RedisStore online)."""

    async def read_user(self, user_id: str) -> tuple[Profile | None, bytes | None]:
        """The user's profile and customer-state blob, each None when absent."""
        ...


class PopularSource(Protocol):
    """Popular items per market (PopularityReader online)."""

    async def top(
        self, market: str, days: int, decay: float, now: float
    ) -> list[tuple[str, float]]:
        """Best items of a market over recent days, scores in 0..1."""
        ...


class Catalog(Protocol):
    """Item metadata and the content-vector index (CatalogView online)."""

    @property
    def items(self) -> Mapping[str, ItemMeta]:
        """Metadata by item id."""
        ...

    @property
    def index(self) -> ItemIndex:
        """Content vectors of the active items."""
        ...

    @property
    def loaded(self) -> bool:
        """True once the catalog has been read."""
        ...


@dataclass(frozen=True, slots=True)
class Recommendations:
    """The answer for one request."""

    items: list[Ranked]
    fallback: bool
    known_user: bool
    degraded: bool = False  # Redis was unreachable: answered from what this process had


def taste_query(p: Profile) -> tuple[str, np.ndarray] | None:
    """One query vector for the user: the session's taste, steadied by the long-term one."""
    short, long = p.embedding("short"), p.embedding("long")
    if short is None:
        return None if long is None else ("long", long)
    if long is None:
        return "short", short
    return "short", short + LONG_TERM_SHARE * long


class PopularityReader:
    """Reads popular and trending items per market, cached briefly per process."""

    def __init__(self, store: RedisStore, ttl_s: float = 30.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, int], tuple[float, list[tuple[str, float]]]] = {}

    async def top(
        self, market: str, days: int, decay: float, now: float
    ) -> list[tuple[str, float]]:
        """Best items of a market over recent days, scores normalised to 0..1."""
        hit = self._cache.get((market, days))
        if hit is not None and hit[0] > now:
            return hit[1]
        pipe = self.store.r.pipeline(transaction=False)
        for day in popularity.recent_days(now, days):
            key = self.store.keys.popularity(day, market)
            pipe.zrevrange(key, 0, POPULAR_TOP - 1, withscores=True)
        try:
            rows = await pipe.execute()
        except (RedisError, OSError):
            if hit is not None:
                return hit[1]  # stale beats nothing while Redis is away
            raise
        decoded = [[(m.decode(), float(s)) for m, s in day_rows] for day_rows in rows]
        merged = popularity.merge_days(decoded, decay, POPULAR_TOP)
        self._cache[(market, days)] = (now + self.ttl_s, merged)
        return merged


class Recommender:
    """Answers recommendation requests from profiles, the catalog, popularity and the model."""

    def __init__(
        self,
        profiles: ProfileReader,
        catalog: Catalog,
        popular: PopularSource,
        *,
        weights: RankWeights,
        affinity_half_life_s: float,
        model: SessionModel | None = None,
        engagement: EngagementPolicy | None = None,
    ) -> None:
        self.profiles = profiles
        self.engagement = engagement or EngagementPolicy()
        self.catalog = catalog
        self.popular = popular
        self.weights = weights
        self.affinity_half_life_s = affinity_half_life_s
        self.model = model
        self._neighbours: dict[str, tuple[float, tuple[tuple[str, float], ...]]] = {}

    async def for_user(
        self, user_id: str, req: RankRequest, *, now: float | None = None
    ) -> Recommendations:
        """Ranked offers for a user; falls back for unknown or cold users."""
        now = time.time() if now is None else now
        try:
            profile, customer = await self.profiles.read_user(user_id)
        except (RedisError, OSError):
            return await self.for_profile(None, req, now=now, degraded=True)
        hints = NO_HINTS
        if customer is not None:
            try:
                hints = hints_of(customer_codec.loads(customer), now, self.engagement)
            except CustomerFormatError as exc:  # never fail a request over a bad state
                log.warning("unreadable customer state of %s: %s", user_id, exc)
        return await self.for_profile(profile, req, now=now, hints=hints)

    async def for_profile(
        self,
        profile: Profile | None,
        req: RankRequest,
        *,
        now: float,
        degraded: bool = False,
        hints: CustomerHints = NO_HINTS,
    ) -> Recommendations:
        """Ranked offers for a profile already at hand (None: unknown user)."""
        items = self.catalog.items
        ranked: list[Ranked] = []
        if not needs_fallback(profile):
            assert profile is not None
            cands = await self._personal(profile, req, now)
            ranked = rank(
                profile,
                cands,
                items,
                req,
                self.weights,
                now=now,
                affinity_half_life_s=self.affinity_half_life_s,
                hints=hints,
            )
        used_fallback = len(ranked) < req.k
        if used_fallback:
            try:
                extra = await self._fallback(profile, req, now)
            except (RedisError, OSError):
                extra, degraded = [], True
            ranked = self._fill(ranked, extra, req.k)
        return Recommendations(ranked, used_fallback, profile is not None, degraded)

    def _similar_cached(self, item_id: str, now: float) -> Sequence[tuple[str, float]]:
        """Neighbours of a viewed item, reused for a minute.

        Learned-space neighbours (what people look at together) when the model knows the
        item, else content neighbours. Viewed items repeat across users far more than user
        vectors do, and neighbours change only with the catalog or the model; a deactivated
        neighbour is still filtered out by ranking. Entries are tuples of tuples of str and
        float, which the garbage collector stops tracking: a cache of lists made every full
        collection walk it (160 ms at 200k entries, measured), a tail-latency spike.
        """
        hit = self._neighbours.get(item_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self.model.neighbours(item_id, 10) if self.model is not None else None
        if found is None:
            found = self.catalog.index.similar(item_id, 10) if item_id in self.catalog.index else []
        if len(self._neighbours) >= NEIGHBOUR_CACHE_MAX:
            self._neighbours.clear()  # crude bound; refilled from the hot items at once
        entry = tuple((str(i), float(s)) for i, s in found)
        self._neighbours[item_id] = (now + NEIGHBOUR_TTL_S, entry)
        return entry

    def model_version(self) -> str | None:
        """Version of the model in use, if any."""
        return self.model.version if self.model is not None else None

    def similar(self, item_id: str, k: int) -> list[tuple[str, float]]:
        """Active items most like an active item (KeyError when it is not indexed).

        Learned neighbours first when the model knows the item, topped up from the content
        index; the learned index holds the model's items, so inactive ones are dropped here.
        """
        index, items = self.catalog.index, self.catalog.items
        if item_id not in index:
            raise KeyError(item_id)
        learned = self.model.neighbours(item_id, 2 * k) if self.model is not None else None
        out: dict[str, float] = {}
        for i, s in learned or ():
            meta = items.get(i)
            if meta is not None and meta.active and len(out) < k:
                out[i] = s
        if len(out) < k:
            for i, s in index.similar(item_id, k):
                if len(out) < k:
                    out.setdefault(i, s)
        return list(out.items())

    async def _personal(self, p: Profile, req: RankRequest, now: float) -> list[Candidate]:
        index = self.catalog.index
        cands: list[Candidate] = []
        query = taste_query(p)
        if query is not None and index.size:
            # One ANN query per request: at 1M items it is the largest cost of a request.
            cands += [Candidate(i, query[0], s) for i, s in index.search(query[1], ANN_K)]
        if p.recent:
            last = p.recent[0][0]
            # Neighbours of the last item only: each is an ANN query at 1M items.
            cands += [Candidate(i, "similar", s, last) for i, s in self._similar_cached(last, now)]
            if self.model is not None:
                session = [i for i, _ in reversed(p.recent[:SESSION_ITEMS])]
                cands += [
                    Candidate(i, "session", s, last)
                    for i, s in self.model.session_items(session, SESSION_CANDIDATES)
                ]
        markets = [req.destination] if req.destination else [d for d, _ in p.top("dest", 2)]
        for market in markets:
            top = await self.popular.top(market, POPULAR_DAYS, POPULAR_DAY_DECAY, now)
            cands += [Candidate(i, "popular", s, market) for i, s in top[:40]]
        trip = cross_sell_trip(p, now=now)
        if trip is not None:
            top = await self.popular.top(trip.destination, POPULAR_DAYS, POPULAR_DAY_DECAY, now)
            items = self.catalog.items
            cands += [
                Candidate(i, "cross_sell", s, trip.destination)
                for i, s in top
                if i in items and items[i].item_type in CROSS_SELL_TYPES
            ]
        return cands

    async def _fallback(self, p: Profile | None, req: RankRequest, now: float) -> list[Ranked]:
        market = req.destination or (
            p.top("dest", 1)[0][0] if p is not None and p.top("dest", 1) else None
        )
        popular: list[Candidate] = []
        if market:
            top = await self.popular.top(market, POPULAR_DAYS, POPULAR_DAY_DECAY, now)
            popular = [Candidate(i, "popular", s, market) for i, s in top]
        trend = await self.popular.top(
            popularity.ALL_MARKETS, TRENDING_DAYS, TRENDING_DAY_DECAY, now
        )
        trending = [Candidate(i, "trending", s) for i, s in trend]
        blocked = set(p.booked_items()) if p is not None else set()
        excl = RankRequest(req.k, req.item_types, req.destination, req.exclude | blocked)
        return fallback(popular, trending, self.catalog.items, excl, self.weights)

    @staticmethod
    def _fill(ranked: list[Ranked], extra: list[Ranked], k: int) -> list[Ranked]:
        seen = {r.item_id for r in ranked}
        out = list(ranked)
        for r in extra:
            if len(out) >= k:
                break
            if r.item_id not in seen:
                out.append(r)
                seen.add(r.item_id)
        return out
