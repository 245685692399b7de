"""The pure decode step of a batch: good events vs. dead-letter candidates."""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest

from recommender.settings import Settings, load_settings
from schemas import Booking, CatalogItem, Click
from streams.pipeline import Ingest, RawRecord

TS = 1_717_000_000.0

CLICK = {
    "event_id": "e-1",
    "user_id": "u1",
    "session_id": "s1",
    "action": "view",
    "item_id": "hotel-1",
    "item_type": "hotel",
    "destination": "sanya",
    "ts": TS,
}
BOOKING = {
    "event_id": "e-2",
    "user_id": "u1",
    "booking_id": "b-1",
    "status": "confirmed",
    "item_id": "hotel-1",
    "item_type": "hotel",
    "destination": "sanya",
    "amount": 700.0,
    "currency": "CNY",
    "travel_start": "2024-07-01",
    "ts": TS,
}
CATALOG = {
    "item_id": "hotel-1",
    "item_type": "hotel",
    "destination": "sanya",
    "price": 500.0,
    "currency": "CNY",
    "updated_at": TS,
}


def ingest(settings: Settings) -> Ingest:
    return Ingest(settings, store=cast(Any, None), dead_letters=cast(Any, None), consumer_name="t")


def rec(topic: str, offset: int, value: bytes | None, partition: int = 0) -> RawRecord:
    return RawRecord(topic, partition, offset, b"k", value)


@pytest.fixture
def pipe() -> Ingest:
    return ingest(load_settings(topic_prefix="t1.", vector_dim=8))


def test_good_records_decode_to_their_contracts(pipe: Ingest) -> None:
    records = [
        rec("t1.clicks", 10, orjson.dumps(CLICK)),
        rec("t1.bookings", 11, orjson.dumps(BOOKING), partition=2),
        rec("t1.catalog", 12, orjson.dumps(CATALOG)),
    ]
    good, bad = pipe._decode(records)
    assert bad == []
    assert [d.logical for d in good] == ["clicks", "bookings", "catalog"]
    assert [type(d.event) for d in good] == [Click, Booking, CatalogItem]
    assert [d.rec for d in good] == records
    assert good[1].event.user_id == "u1"  # type: ignore[union-attr]


def test_good_and_bad_records_are_split_in_order(pipe: Ingest) -> None:
    records = [
        rec("t1.clicks", 0, orjson.dumps(CLICK)),
        rec("t1.clicks", 1, b"{not json"),
        rec("t1.bookings", 2, orjson.dumps(BOOKING)),
        rec("t1.bookings", 3, orjson.dumps({**BOOKING, "status": "pending"})),
        rec("t1.catalog", 4, None),
    ]
    good, bad = pipe._decode(records)
    assert [d.rec.offset for d in good] == [0, 2]
    assert [(r.rec.offset, r.logical, r.error_type) for r in bad] == [
        (1, "clicks", "schema"),
        (3, "bookings", "schema"),
        (4, "catalog", "schema"),
    ]
    assert "status" in bad[1].reason
    assert "empty" in bad[2].reason


def test_undecodable_record_is_a_schema_error_mentioning_json(pipe: Ingest) -> None:
    raw = rec("t1.clicks", 5, b"\xff\xfe garbage")
    good, bad = pipe._decode([raw])
    assert good == []
    assert len(bad) == 1
    assert bad[0].error_type == "schema"
    assert bad[0].logical == "clicks"
    assert "JSON" in bad[0].reason
    assert bad[0].reason.startswith("clicks:")
    assert bad[0].rec is raw


def test_deeply_nested_json_is_a_schema_error(pipe: Ingest) -> None:
    good, bad = pipe._decode([rec("t1.clicks", 0, b"[" * 50_000)])
    assert good == []
    assert [r.error_type for r in bad] == ["schema"]
    assert "JSON" in bad[0].reason


def test_record_from_an_unexpected_topic_is_a_topic_error(pipe: Ingest) -> None:
    # Unprefixed name, a topic this worker does not ingest, and a foreign prefix.
    records = [
        rec("clicks", 0, orjson.dumps(CLICK)),
        rec("t1.prices", 1, orjson.dumps(CLICK)),
        rec("t2.clicks", 2, orjson.dumps(CLICK)),
    ]
    good, bad = pipe._decode(records)
    assert good == []
    assert [r.error_type for r in bad] == ["topic", "topic", "topic"]
    assert [r.logical for r in bad] == ["clicks", "t1.prices", "t2.clicks"]
    assert bad[0].reason == "unexpected topic 'clicks'"
    assert "t1.prices" in bad[1].reason


def test_a_click_on_the_bookings_topic_is_a_schema_error(pipe: Ingest) -> None:
    good, bad = pipe._decode([rec("t1.bookings", 0, orjson.dumps(CLICK))])
    assert good == []
    assert [(r.logical, r.error_type) for r in bad] == [("bookings", "schema")]
    assert bad[0].reason.startswith("bookings:")


def test_without_prefix_the_logical_names_are_the_topics() -> None:
    pipe = ingest(load_settings(topic_prefix=""))
    good, bad = pipe._decode([rec("clicks", 0, orjson.dumps(CLICK))])
    assert [d.logical for d in good] == ["clicks"]
    assert bad == []
