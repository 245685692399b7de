"""Valid payloads decode, encode and decode back to equal models."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from schemas import (
    ALL_CONTRACTS,
    TOPIC_KEYS,
    TOPIC_MODELS,
    Booking,
    CatalogItem,
    Click,
    Contract,
    decode,
    decode_as,
    decode_booking,
    decode_catalog_item,
    decode_click,
    decode_consent,
    decode_dead_letter,
    decode_feedback,
    decode_offer,
    decode_price_update,
    encode,
    message_key,
)
from tests.unit.schemas.samples import KINDS, TS, VALID, raw, sample


def test_topic_models_cover_every_logical_topic() -> None:
    assert set(TOPIC_MODELS) == {
        "clicks",
        "bookings",
        "catalog",
        "prices",
        "consent",
        "feedback",
        "offers",
        "deadletters",
    }
    assert set(TOPIC_MODELS) == set(VALID)
    assert {model.KIND for model in ALL_CONTRACTS} == set(TOPIC_MODELS)
    assert TOPIC_KEYS["clicks"] == "user_id"
    assert TOPIC_KEYS["catalog"] == "item_id"
    assert TOPIC_KEYS["deadletters"] is None


@pytest.mark.parametrize("kind", KINDS)
def test_valid_payload_round_trips(kind: str) -> None:
    model = decode(kind, raw(kind))
    assert isinstance(model, TOPIC_MODELS[kind])
    assert model.v == 1
    again = decode(kind, encode(model))
    assert again == model
    assert encode(again) == encode(model)


@pytest.mark.parametrize("kind", KINDS)
def test_encode_omits_nulls_and_is_compact_json(kind: str) -> None:
    encoded = encode(decode(kind, raw(kind)))
    data = orjson.loads(encoded)
    assert isinstance(data, dict)
    assert None not in data.values()
    assert encoded == orjson.dumps(data)  # already compact


def test_typed_helpers_return_their_models() -> None:
    helpers = {
        "clicks": decode_click,
        "bookings": decode_booking,
        "catalog": decode_catalog_item,
        "prices": decode_price_update,
        "consent": decode_consent,
        "feedback": decode_feedback,
        "offers": decode_offer,
        "deadletters": decode_dead_letter,
    }
    for kind, helper in helpers.items():
        model = helper(raw(kind))
        assert type(model) is TOPIC_MODELS[kind]
        assert model == decode(kind, raw(kind))


def test_python_built_model_round_trips_with_dates_as_iso_strings() -> None:
    booking = Booking(
        event_id="e1",
        user_id="u1",
        booking_id="b1",
        status="cancelled",
        item_id="tour-1",
        item_type="tour",
        destination="lijiang",
        amount=0,
        currency="USD",
        travel_start=date(2024, 12, 30),
        ts=TS,
    )
    data = orjson.loads(encode(booking))
    assert data["travel_start"] == "2024-12-30"
    assert "travel_end" not in data
    assert decode_booking(encode(booking)) == booking


def test_search_click_with_trip_dates_round_trips() -> None:
    payload = raw(
        "clicks",
        action="search",
        item_id=None,
        item_type=None,
        price=None,
        currency=None,
        travel_start="2024-08-01",
        travel_end="2024-08-05",
    )
    click = decode_click(payload)
    assert click.travel_start == date(2024, 8, 1)
    assert click.item_id is None
    assert decode_click(encode(click)) == click


def test_defaults_apply() -> None:
    click = decode_click(raw("clicks", v=None, device=None))
    assert click.v == 1
    assert click.device == "other"
    item = decode_catalog_item(raw("catalog", attributes=None, vector=None, title=None))
    assert item.attributes == {}
    assert item.active is True
    assert item.vector is None


def test_integers_are_accepted_for_float_fields() -> None:
    click = decode_click(raw("clicks", price=700, ts=1_717_000_000))
    assert click.price == 700.0
    assert isinstance(click.ts, float)


def test_unknown_fields_are_tolerated_kept_and_re_encoded() -> None:
    payload = raw("clicks", app_version="5.2.1", experiment={"arm": "b", "ids": [1, 2]})
    click = decode_click(payload)
    assert click.model_extra == {"app_version": "5.2.1", "experiment": {"arm": "b", "ids": [1, 2]}}
    assert orjson.loads(encode(click))["app_version"] == "5.2.1"
    assert decode_click(encode(click)) == click


def test_null_unknown_fields_are_dropped_so_round_trip_holds() -> None:
    payload = orjson.loads(raw("clicks"))
    payload["ab_bucket"] = None
    click = decode_click(orjson.dumps(payload))
    assert click.model_extra == {}
    assert decode_click(encode(click)) == click


def test_unknown_fields_beyond_64_bit_ints_still_encode() -> None:
    payload = raw("clicks")[:-1] + b',"trace":123456789012345678901234567890}'
    click = decode_click(payload)
    assert decode_click(encode(click)) == click


def test_nested_offer_item_tolerates_unknown_fields() -> None:
    offer_payload = sample("offers")
    offer_payload["items"][0]["badge"] = "hot"
    offer = decode_offer(orjson.dumps(offer_payload))
    assert offer.items[0].model_extra == {"badge": "hot"}
    assert decode_offer(encode(offer)) == offer


def test_models_are_frozen() -> None:
    click = decode_click(raw("clicks"))
    with pytest.raises(ValueError, match="frozen"):
        click.price = 1.0  # type: ignore[misc]


def test_message_key_uses_the_topic_key_field() -> None:
    assert message_key(decode_click(raw("clicks"))) == b"u_8f3a"
    assert message_key(decode_catalog_item(raw("catalog"))) == b"hotel-123"
    assert message_key(decode_dead_letter(raw("deadletters"))) is None


def test_decode_as_accepts_bytearray_and_custom_label() -> None:
    model: Contract = decode_as(Click, bytearray(raw("clicks")), "web-clicks")
    assert isinstance(model, Click)


@pytest.mark.parametrize(
    ("attributes", "stars"),
    [
        ({"stars": 4}, 4),
        ({"stars": 5.0}, 5),
        ({"stars": "3"}, 3),
        ({"stars": 4.5}, None),
        ({"stars": 6}, None),
        ({"stars": 0}, None),
        ({"stars": True}, None),
        ({"stars": "five"}, None),
        ({}, None),
    ],
)
def test_catalog_stars_property(attributes: dict[str, object], stars: int | None) -> None:
    item = decode_catalog_item(raw("catalog", attributes=attributes))
    assert isinstance(item, CatalogItem)
    assert item.stars == stars
