"""Items for offers: popular items of a market joined with their catalog metadata.

The ingest worker keeps per-day popularity sets per market (recommender/popularity.py);
offers take the best active items of the right types from the last week. Tops and item
metadata are cached for a short wall-clock time: thousands of offers about one destination
in a batch or a sweep then cost one read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from recommender import popularity
from recommender.engagement.store import EngageStore
from schemas import OfferItem

POPULAR_DAYS, POPULAR_DAY_DECAY = 7, 0.8  # "popular this week", as the API ranks it
TRENDING_DAYS, TRENDING_DAY_DECAY = 2, 0.5  # "trending now"
TOP_N = 100


def offer_item(meta: dict[str, Any], score: float, reason: str) -> OfferItem | None:
    """An offer item from catalog metadata; None when the item cannot be offered."""
    if not meta.get("active", True):
        return None
    price = meta.get("price")
    currency = meta.get("currency")
    priced = isinstance(price, int | float) and price >= 0 and isinstance(currency, str)
    return OfferItem(
        item_id=meta["item_id"],
        item_type=meta["item_type"],
        destination=meta.get("destination"),
        score=round(score, 4),
        reason=reason[:200],
        price=float(price) if priced and price is not None else None,
        currency=currency if priced else None,
    )


class ItemPicker:
    """Popular, active items of a market as offer items."""

    def __init__(
        self, store: EngageStore, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._tops: dict[tuple[str, str, int], tuple[float, list[tuple[str, float]]]] = {}
        self._metas: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def popular(
        self,
        market: str,
        *,
        now: float,
        n: int,
        types: Collection[str] | None = None,
        exclude: Collection[str] = (),
        trending: bool = False,
        reason: str | None = None,
    ) -> list[OfferItem]:
        """Up to n best items of the market (or of all markets, trending) as of ``now``."""
        days, decay = (
            (TRENDING_DAYS, TRENDING_DAY_DECAY) if trending else (POPULAR_DAYS, POPULAR_DAY_DECAY)
        )
        top = await self._top(market, now, days, decay)
        metas = await self._meta([i for i, _ in top if i not in exclude])
        why = reason or ("Trending now" if trending else f"Popular in {market}")
        out: list[OfferItem] = []
        for item_id, score in top:
            meta = metas.get(item_id)
            if meta is None or item_id in exclude:
                continue
            if types is not None and meta.get("item_type") not in types:
                continue
            item = offer_item(meta, score, why)
            if item is not None:
                out.append(item)
                if len(out) >= n:
                    break
        return out

    async def _top(
        self, market: str, now: float, days: int, decay: float
    ) -> list[tuple[str, float]]:
        day_keys = popularity.recent_days(now, days)
        key = (market, day_keys[0], days)
        t = self.clock()
        hit = self._tops.get(key)
        if hit is not None and hit[0] > t:
            return hit[1]
        rows = await self.store.popular(market, day_keys, TOP_N)
        merged = popularity.merge_days(rows, decay, TOP_N)
        if len(self._tops) > 10_000:
            self._tops.clear()
        self._tops[key] = (t + self.ttl_s, merged)
        return merged

    async def _meta(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        t = self.clock()
        out: dict[str, dict[str, Any]] = {}
        missing = []
        for i in ids:
            hit = self._metas.get(i)
            if hit is not None and hit[0] > t:
                if hit[1] is not None:
                    out[i] = hit[1]
            else:
                missing.append(i)
        if missing:
            found = await self.store.item_metas(missing)
            if len(self._metas) > 200_000:
                self._metas.clear()
            for i in missing:
                self._metas[i] = (t + self.ttl_s, found.get(i))
            out.update(found)
        return out
