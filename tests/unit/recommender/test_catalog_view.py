"""ItemMeta as the API builds it from stored catalog JSON."""

from __future__ import annotations

import orjson

from recommender.catalog_view import item_meta


def _raw(item_id: str) -> bytes:
    return orjson.dumps(
        {"item_id": item_id, "item_type": "hotel", "destination": "sanya", "band": "mid"}
    )


def test_repeated_facets_share_one_string_object() -> None:
    """A million items must not hold a million copies of "hotel" (memory, cache misses)."""
    a, b = (item_meta(orjson.loads(_raw(i))) for i in ("h-1", "h-2"))
    assert (a.item_type, a.destination, a.band) == ("hotel", "sanya", "mid")
    assert a.item_type is b.item_type
    assert a.destination is b.destination
    assert a.band is b.band


def test_missing_facets_stay_empty_or_none() -> None:
    m = item_meta({"item_id": "x-1"})
    assert (m.item_type, m.destination, m.band, m.active) == ("", "", None, True)
