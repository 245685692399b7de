"""Catalog upserts and the per-batch item resolver (events -> profile touches)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from recommender.catalog import ItemResolver, catalog_upsert
from recommender.errors import BadEvent
from recommender.features import content_vector
from recommender.store import StoredItem
from schemas import Booking, CatalogItem, Click, decode

DIM = 8
RATES = {"CNY": 1.0, "USD": 7.0, "JPY": 0.05}
TS = 1_717_000_000.0


def catalog(**fields: Any) -> CatalogItem:
    doc: dict[str, Any] = {
        "item_id": "hotel-1",
        "item_type": "hotel",
        "destination": "sanya",
        "price": 500.0,
        "currency": "CNY",
        "attributes": {"stars": 4},
        "updated_at": TS,
    }
    doc.update(fields)
    event = decode("catalog", orjson.dumps(doc))
    assert isinstance(event, CatalogItem)
    return event


def click(**fields: Any) -> Click:
    doc: dict[str, Any] = {
        "event_id": "e-1",
        "user_id": "u1",
        "session_id": "s1",
        "action": "view",
        "item_id": "hotel-1",
        "item_type": "hotel",
        "destination": "sanya",
        "ts": TS,
    }
    doc.update(fields)
    event = decode("clicks", orjson.dumps({k: v for k, v in doc.items() if v is not None}))
    assert isinstance(event, Click)
    return event


def booking(**fields: Any) -> Booking:
    doc: dict[str, Any] = {
        "event_id": "e-2",
        "user_id": "u1",
        "booking_id": "b-1",
        "status": "confirmed",
        "item_id": "hotel-1",
        "item_type": "hotel",
        "destination": "sanya",
        "amount": 100.0,
        "currency": "USD",
        "travel_start": "2024-07-01",
        "ts": TS,
    }
    doc.update(fields)
    event = decode("bookings", orjson.dumps(doc))
    assert isinstance(event, Booking)
    return event


def vec_of(item: StoredItem) -> np.ndarray:
    assert item.vector is not None
    return np.frombuffer(item.vector, dtype="<f4")


def upsert(item: CatalogItem, existing: StoredItem | None = None) -> StoredItem:
    out = catalog_upsert(item, existing, dim=DIM, rates=RATES)
    assert out is not None
    return out


# --- catalog_upsert --------------------------------------------------------------------


def test_upsert_without_vector_gets_the_content_vector() -> None:
    st = upsert(catalog())
    assert st.meta["vector_source"] == "content"
    assert st.meta["band"] == "mid"
    assert st.meta["stars"] == 4
    expected = content_vector("hotel", "sanya", "mid", 4, {"stars": 4}, DIM)
    np.testing.assert_allclose(vec_of(st), expected, rtol=1e-6)
    assert len(st.vector or b"") == 4 * DIM


def test_upsert_with_vector_normalises_and_keeps_it() -> None:
    st = upsert(catalog(vector=[3.0, 0, 0, 4.0, 0, 0, 0, 0]))
    assert st.meta["vector_source"] == "given"
    np.testing.assert_allclose(vec_of(st), [0.6, 0, 0, 0.8, 0, 0, 0, 0], rtol=1e-6)


def test_upsert_with_wrong_vector_length_is_a_bad_event() -> None:
    with pytest.raises(BadEvent) as info:
        catalog_upsert(catalog(vector=[0.1, 0.2, 0.3]), None, dim=DIM, rates=RATES)
    reason = info.value.reason
    assert "'vector'" in reason
    assert "3" in reason
    assert str(DIM) in reason
    assert str(info.value) == reason


def test_upsert_with_all_zero_vector_is_a_bad_event() -> None:
    with pytest.raises(BadEvent) as info:
        catalog_upsert(catalog(vector=[0.0] * DIM), None, dim=DIM, rates=RATES)
    assert "'vector'" in info.value.reason
    assert "zero" in info.value.reason


def test_older_update_than_stored_is_ignored() -> None:
    stored = upsert(catalog(price=500.0, updated_at=TS))
    older = catalog(price=900.0, updated_at=TS - 1)
    assert catalog_upsert(older, stored, dim=DIM, rates=RATES) is None


def test_equal_or_newer_update_applies() -> None:
    stored = upsert(catalog(price=500.0, updated_at=TS))
    same = upsert(catalog(price=900.0, updated_at=TS), stored)
    assert same.meta["price"] == 900.0
    assert same.meta["band"] == "upscale"
    newer = upsert(catalog(price=100.0, active=False, updated_at=TS + 5), same)
    assert newer.meta["price"] == 100.0
    assert newer.meta["active"] is False
    assert newer.meta["updated_at"] == TS + 5


def test_upsert_converts_price_with_fx_rates() -> None:
    st = upsert(catalog(price=100.0, currency="USD"))
    assert st.meta["price_base"] == pytest.approx(700.0)
    assert st.meta["band"] == "upscale"  # 700 is the hotel mid/upscale boundary
    assert st.meta["price"] == 100.0
    assert st.meta["currency"] == "USD"
    cheap = upsert(catalog(item_id="tour-1", item_type="tour", price=4000.0, currency="JPY"))
    assert cheap.meta["price_base"] == pytest.approx(200.0)
    assert cheap.meta["band"] == "budget"


def test_upsert_with_unknown_currency_has_no_band() -> None:
    st = upsert(catalog(currency="EUR"))
    assert st.meta["price_base"] is None
    assert st.meta["band"] is None
    expected = content_vector("hotel", "sanya", None, 4, {"stars": 4}, DIM)
    np.testing.assert_allclose(vec_of(st), expected, rtol=1e-6)


# --- ItemResolver --------------------------------------------------------------------


def test_known_item_uses_the_stored_vector() -> None:
    st = upsert(catalog(vector=[1.0, 0, 0, 0, 0, 0, 0, 0]))
    r = ItemResolver({"hotel-1": st}, dim=DIM, rates=RATES)
    info = r.info("hotel-1", "hotel", "sanya", None)
    assert info.known is True
    assert info.item_type == "hotel"
    assert info.destination == "sanya"
    assert info.band == "mid"
    assert info.stars == 4
    np.testing.assert_array_equal(info.vector, [1.0, 0, 0, 0, 0, 0, 0, 0])
    assert r.unknown == {}


def test_stored_vector_of_another_dim_falls_back_to_content() -> None:
    st = upsert(catalog())
    r = ItemResolver({"hotel-1": st}, dim=16, rates=RATES)
    info = r.info("hotel-1", None, None, None)
    assert info.known is True
    assert info.vector.shape == (16,)
    expected = content_vector("hotel", "sanya", "mid", 4, {"stars": 4}, 16)
    np.testing.assert_allclose(info.vector, expected, rtol=1e-6)


def test_unknown_item_is_counted_per_event_and_gets_a_content_vector() -> None:
    r = ItemResolver({}, dim=DIM, rates=RATES)
    t1 = r.click_touch(click(item_id="flight-9", item_type="flight", destination="tokyo"))
    t2 = r.click_touch(click(item_id="flight-9", item_type="flight", destination="tokyo"))
    r.click_touch(click(item_id="car-3", item_type="car", destination="tokyo"))
    assert r.unknown == {"flight-9": 2, "car-3": 1}
    assert t1.item is not None and t2.item is not None
    assert t1.item.known is False
    assert t1.item.item_type == "flight"
    assert t1.item.destination == "tokyo"
    expected = content_vector("flight", "tokyo", None, None, None, DIM)
    np.testing.assert_allclose(t1.item.vector, expected, rtol=1e-6)
    np.testing.assert_array_equal(t2.item.vector, t1.item.vector)


def test_click_touch_of_a_search_has_no_item() -> None:
    r = ItemResolver({}, dim=DIM, rates=RATES)
    t = r.click_touch(
        click(action="search", item_id=None, item_type=None, destination="lijiang", ts=TS + 3)
    )
    assert t.item is None
    assert t.user_id == "u1"
    assert t.action == "search"
    assert t.destination == "lijiang"
    assert t.ts == TS + 3
    assert r.unknown == {}


def test_click_touch_band_comes_from_the_clicked_price() -> None:
    r = ItemResolver({"hotel-1": upsert(catalog())}, dim=DIM, rates=RATES)
    t = r.click_touch(click(price=250.0, currency="USD"))  # 1750 base: luxury hotel
    assert t.item is not None and t.item.known is True
    assert t.band == "luxury"
    assert t.action == "view"


def test_booking_touch_maps_status_and_converts_amount() -> None:
    r = ItemResolver({"hotel-1": upsert(catalog())}, dim=DIM, rates=RATES)
    book = r.booking_touch(booking(status="confirmed", amount=100.0, currency="USD"))
    assert book.action == "book"
    assert book.amount_base == pytest.approx(700.0)
    assert book.booking_id == "b-1"
    assert book.band == "mid"  # the catalog's band, not the booking amount's
    assert book.item is not None and book.item.known is True
    cancel = r.booking_touch(
        booking(event_id="e-3", status="cancelled", amount=2000.0, currency="JPY")
    )
    assert cancel.action == "cancel"
    assert cancel.amount_base == pytest.approx(100.0)
    assert cancel.booking_id == "b-1"


def test_booking_touch_with_unknown_currency_counts_zero() -> None:
    r = ItemResolver({}, dim=DIM, rates=RATES)
    t = r.booking_touch(booking(currency="EUR", amount=300.0))
    assert t.amount_base == 0.0
    assert r.unknown == {"hotel-1": 1}


def test_put_is_seen_by_later_lookups_in_the_batch() -> None:
    r = ItemResolver({}, dim=DIM, rates=RATES)
    before = r.click_touch(click())
    assert before.item is not None and before.item.known is False
    assert r.stored("hotel-1") is None
    st = upsert(catalog(vector=[0, 1.0, 0, 0, 0, 0, 0, 0]))
    r.put("hotel-1", st)
    assert r.stored("hotel-1") is st
    after = r.click_touch(click(event_id="e-9"))
    assert after.item is not None
    assert after.item.known is True
    assert after.item.band == "mid"
    np.testing.assert_array_equal(after.item.vector, [0, 1.0, 0, 0, 0, 0, 0, 0])
    assert r.unknown == {"hotel-1": 1}  # only the event before the upsert


def test_put_replaces_an_item_already_resolved_in_the_batch() -> None:
    r = ItemResolver({"hotel-1": upsert(catalog(price=100.0))}, dim=DIM, rates=RATES)
    assert r.info("hotel-1", None, None, None).band == "budget"
    r.put("hotel-1", upsert(catalog(price=2000.0, updated_at=TS + 1)))
    assert r.info("hotel-1", None, None, None).band == "luxury"
