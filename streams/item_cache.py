"""A short-lived in-process cache of catalog items for the ingest hot path.

Each batch touches ~1,000 items; reading and parsing them from Redis every time costs the
worker and Redis more than the profile math. Catalog changes are rare next to clicks, and
their order relative to clicks on other partitions is undefined anyway, so serving an item
up to ``ttl_s`` old does not weaken any guarantee. This worker's own catalog upserts refresh
the cache immediately.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from recommender.store import StoredItem


class ItemCache:
    """Item id -> (expiry, stored item), bounded by evicting the oldest entries."""

    def __init__(self, ttl_s: float, max_items: int = 200_000) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._items: dict[str, tuple[float, StoredItem]] = {}

    def split(self, ids: Iterable[str], now: float) -> tuple[dict[str, StoredItem], set[str]]:
        """Items served from the cache, and the ids that must be read from Redis."""
        found: dict[str, StoredItem] = {}
        missing: set[str] = set()
        for i in ids:
            entry = self._items.get(i)
            if entry is not None and entry[0] > now:
                found[i] = entry[1]
            else:
                missing.add(i)
        return found, missing

    def put(self, items: Mapping[str, StoredItem], now: float) -> None:
        """Remember items read or written at `now`."""
        if self.ttl_s <= 0:
            return
        expires = now + self.ttl_s
        for i, item in items.items():
            self._items.pop(i, None)  # re-insert so dict order stays oldest-first
            self._items[i] = (expires, item)
        overflow = len(self._items) - self.max_items
        if overflow > 0:
            for key in list(self._items)[: overflow + self.max_items // 10]:
                del self._items[key]
