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

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from redis.exceptions import RedisError

from recommender import popularity
from recommender.catalog_view import CatalogView
from recommender.profile import Profile
from recommender.ranking import (
    Candidate,
    Ranked,
    RankRequest,
    RankWeights,
    cross_sell_trip,
    fallback,
    needs_fallback,
    rank,
)
from recommender.store import RedisStore

RECENT_ANCHORS = 3  # recent items whose neighbours and rules become candidates
NEIGHBOUR_TTL_S = 60.0
LONG_TERM_SHARE = 0.5  # weight of the long-term embedding in the one ANN query
ANN_K = 30  # per embedding; more costs ranking time and rarely changes the top 10
POPULAR_DAYS, POPULAR_DAY_DECAY = 7, 0.8  # "popular this week"
TRENDING_DAYS, TRENDING_DAY_DECAY = 2, 0.5  # "trending now"
POPULAR_TOP = 100
CROSS_SELL_TYPES = frozenset({"hotel", "car", "tour", "attraction"})


class NextItems(Protocol):
    """Item -> items that tend to come next (the trained model's session rules)."""

    def next_items(self, item_id: str, n: int) -> Sequence[tuple[str, float]]:
        """Best next items after item_id with their scores."""
        ...

    @property
    def version(self) -> str | None:
        """Version of the model the rules come from, None before one is published."""
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
    """Answers recommendation requests from Redis state, the catalog view and the model."""

    def __init__(
        self,
        store: RedisStore,
        catalog: CatalogView,
        *,
        weights: RankWeights,
        affinity_half_life_s: float,
        rules: NextItems | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.weights = weights
        self.affinity_half_life_s = affinity_half_life_s
        self.rules = rules
        self.popular = PopularityReader(store)
        self._neighbours: dict[str, tuple[float, list[tuple[str, float]]]] = {}

    async def for_user(
        self, user_id: str, req: RankRequest, *, now: float | None = None
    ) -> Recommendations:
        """Ranked offers for a user; falls back for unknown or cold users."""
        now = time.time() if now is None else now
        degraded = False
        try:
            profile = (await self.store.read_profiles([user_id])).get(user_id)
        except (RedisError, OSError):
            profile, degraded = None, True
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
            )
        used_fallback = len(ranked) < req.k
        if used_fallback:
            try:
                extra = await self._fallback(profile, req, now)
            except (RedisError, OSError):
                extra, degraded = [], True
            ranked = self._fill(ranked, extra, req.k)
        return Recommendations(ranked, used_fallback, profile is not None, degraded)

    def _similar_cached(self, item_id: str, now: float) -> list[tuple[str, float]]:
        """Index neighbours of a viewed item, reused for a minute.

        Viewed items repeat across users far more than user vectors do, and neighbours change
        only with the catalog; a deactivated neighbour is still filtered out by ranking.
        """
        hit = self._neighbours.get(item_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self.catalog.index.similar(item_id, 10)
        if len(self._neighbours) > 200_000:
            self._neighbours.clear()  # crude bound; refilled from the hot items at once
        self._neighbours[item_id] = (now + NEIGHBOUR_TTL_S, found)
        return found

    def model_version(self) -> str | None:
        """Version of the model whose rules are in use, if any."""
        return self.rules.version if self.rules is not None else None

    def similar(self, item_id: str, k: int) -> list[tuple[str, float]]:
        """Index neighbours of an item (KeyError when it is not indexed)."""
        return self.catalog.index.similar(item_id, k)

    async def _personal(self, p: Profile, req: RankRequest, now: float) -> list[Candidate]:
        index = self.catalog.index
        cands: list[Candidate] = []
        query = taste_query(p)
        if query is not None and index.size:
            # One ANN query per request: at 1M items it is the largest cost of a request.
            cands += [Candidate(i, query[0], s) for i, s in index.search(query[1], ANN_K)]
        for pos, (anchor, _) in enumerate(p.recent[:RECENT_ANCHORS]):
            recency = 1.0 / (pos + 1)  # the last item viewed says most about the next one
            # Index neighbours of the last item only: each is an ANN query at 1M items.
            if pos == 0 and anchor in index:
                neighbours = self._similar_cached(anchor, now)
                cands += [Candidate(i, "similar", s * recency, anchor) for i, s in neighbours]
            if self.rules is not None:
                cands += [
                    Candidate(i, "session", s * recency, anchor)
                    for i, s in self.rules.next_items(anchor, 30)
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
