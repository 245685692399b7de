"""Catalog items as the stream sees them: upserts, vectors, and events -> profile touches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recommender.errors import BadEvent
from recommender.features import ItemInfo, Vector, content_vector, price_band, to_base
from recommender.profile import Touch
from recommender.store import StoredItem
from schemas import Booking, CatalogItem, Click


def catalog_upsert(
    item: CatalogItem,
    existing: StoredItem | None,
    *,
    dim: int,
    rates: Mapping[str, float],
) -> StoredItem | None:
    """The stored form of a catalog record, or None when a newer update is already stored.

    An item without a vector gets a content-based one so it can be recommended (and can
    shape profiles) from its first event.
    """
    if existing is not None and float(existing.meta.get("updated_at", 0.0)) > item.updated_at:
        return None  # out-of-order delivery: last write (by updated_at) wins
    price_base = to_base(item.price, item.currency, rates)
    band = price_band(item.item_type, price_base)
    stars = item.stars
    if item.vector is not None:
        if len(item.vector) != dim:
            raise BadEvent(
                f"catalog: field 'vector' has {len(item.vector)} values; this deployment uses {dim}"
            )
        vec = np.asarray(item.vector, dtype=np.float32)
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            raise BadEvent("catalog: field 'vector' is all zeros")
        vec /= norm
        source = "given"
    else:
        vec = content_vector(item.item_type, item.destination, band, stars, item.attributes, dim)
        source = "content"
    meta: dict[str, Any] = {
        "item_id": item.item_id,
        "item_type": item.item_type,
        "destination": item.destination,
        "price": item.price,
        "currency": item.currency,
        "price_base": price_base,
        "band": band,
        "stars": stars,
        "title": item.title,
        "attributes": dict(item.attributes),
        "active": item.active,
        "updated_at": item.updated_at,
        "vector_source": source,
    }
    return StoredItem(meta, vec.astype("<f4").tobytes())


class ItemResolver:
    """Looks up items for one batch and turns events into profile touches (pure)."""

    def __init__(
        self, stored: Mapping[str, StoredItem], *, dim: int, rates: Mapping[str, float]
    ) -> None:
        self._stored = dict(stored)
        self._info: dict[str, ItemInfo] = {}
        self.dim = dim
        self.rates = rates
        self.unknown: dict[str, int] = {}

    def stored(self, item_id: str) -> StoredItem | None:
        """The item as stored or as upserted earlier in this batch."""
        return self._stored.get(item_id)

    def put(self, item_id: str, item: StoredItem) -> None:
        """Record an upsert made earlier in this batch."""
        self._stored[item_id] = item
        self._info.pop(item_id, None)

    def _vector(self, blob: bytes | None, meta: Mapping[str, Any]) -> Vector:
        if blob is not None and len(blob) == 4 * self.dim:
            return np.frombuffer(blob, dtype="<f4")
        # Stored with another dimension (model change): fall back to content.
        return content_vector(
            meta.get("item_type"),
            meta.get("destination"),
            meta.get("band"),
            meta.get("stars"),
            meta.get("attributes"),
            self.dim,
        )

    def info(
        self, item_id: str, item_type: str | None, destination: str | None, price_base: float | None
    ) -> ItemInfo:
        """Item facts from the catalog, or from the event itself when the catalog lacks it."""
        st = self._stored.get(item_id)
        if st is None:
            # Not lost: the event still counts, with a vector built from what it says.
            self.unknown[item_id] = self.unknown.get(item_id, 0) + 1
        cached = self._info.get(item_id)
        if cached is not None:
            return cached
        if st is not None:
            m = st.meta
            info = ItemInfo(
                item_id=item_id,
                item_type=str(m.get("item_type") or item_type or ""),
                destination=str(m.get("destination") or destination or ""),
                band=m.get("band"),
                stars=m.get("stars"),
                vector=self._vector(st.vector, m),
                known=True,
            )
        else:
            itype = item_type or ""
            band = price_band(itype, price_base)
            vec = content_vector(itype, destination, band, None, None, self.dim)
            info = ItemInfo(item_id, itype, destination or "", band, None, vec, known=False)
        self._info[item_id] = info
        return info

    def click_touch(self, c: Click) -> Touch:
        """A click as a profile touch."""
        price_base = to_base(c.price, c.currency, self.rates)
        if c.item_id is None:  # a search: destination interest only
            return Touch(c.user_id, c.ts, c.action, None, c.destination, c.item_type)
        item = self.info(c.item_id, c.item_type, c.destination, price_base)
        band = price_band(item.item_type, price_base)
        return Touch(c.user_id, c.ts, c.action, item, c.destination, c.item_type, band)

    def booking_touch(self, b: Booking) -> Touch:
        """A booking (confirmed or cancelled) as a profile touch."""
        amount = to_base(b.amount, b.currency, self.rates) or 0.0
        item = self.info(b.item_id, b.item_type, b.destination, None)
        action = "book" if b.status == "confirmed" else "cancel"
        return Touch(
            b.user_id,
            b.ts,
            action,
            item,
            b.destination,
            b.item_type,
            item.band,
            booking_id=b.booking_id,
            amount_base=amount,
            travel_start=b.travel_start.isoformat(),
            travel_end=b.travel_end.isoformat() if b.travel_end else None,
        )
