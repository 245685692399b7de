"""Keys that would carry personal data are rejected; ordinary travel keys are not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas import Click, SchemaError, decode, decode_consent, is_personal_key
from tests.unit.schemas.samples import TS, raw, sample

PERSONAL = [
    "name",
    "Name",
    "first_name",
    "lastName",
    "full-name",
    "user_name",
    "real name",
    "guest_name",
    "passengerName",
    "phone",
    "phone_number",
    "mobilePhone",
    "mobile",
    "mobile_no",
    "email",
    "e_mail",
    "Email_Address",
    "contact_email",
    "mail",
    "id_card",
    "idCardNo",
    "id_number",
    "national_id",
    "passport",
    "passport_no",
    "ssn",
    "address",
    "home_address",
    "birthdate",
    "birth_date",
    "date_of_birth",
    "dob",
    "DOB",
]
LEGIT = [
    "destination",
    "item_type",
    "session_id",
    "user_id",
    "hotel_name",
    "brand_name",
    "city_name",
    "is_mobile",
    "mail_opt_in_channel",
    "nationality_group",
    "adobe_campaign",
    "classname",
    "stars",
    "cabin",
    "origin",
    "channel",
]
SUFFIX = "would carry personal data; events carry pseudonymous ids only"


@pytest.mark.parametrize("key", PERSONAL)
def test_personal_keys_are_detected(key: str) -> None:
    assert is_personal_key(key)


@pytest.mark.parametrize("key", LEGIT)
def test_legit_keys_are_not_detected(key: str) -> None:
    assert not is_personal_key(key)


@pytest.mark.parametrize("key", PERSONAL)
def test_personal_top_level_key_is_rejected(key: str) -> None:
    with pytest.raises(SchemaError) as caught:
        decode("clicks", raw("clicks", **{key: "x"}))
    assert caught.value.reason == f"clicks: field '{key}' {SUFFIX}"
    assert caught.value.field == key
    assert caught.value.code == "personal_data"


@pytest.mark.parametrize("key", LEGIT)
def test_legit_unknown_keys_are_accepted(key: str) -> None:
    payload = sample("clicks")
    payload.setdefault(key, "x")
    decode("clicks", orjson.dumps(payload))


@pytest.mark.parametrize(
    ("kind", "changes", "field"),
    [
        ("catalog", {"attributes": {"stars": 4, "guest_email": "a"}}, "attributes.guest_email"),
        ("catalog", {"attributes": {"name": "Resort"}}, "attributes.name"),
        ("offers", {"context": {"firstName": "Li"}}, "context.firstName"),
        ("clicks", {"profile": {"contact": {"phone": "1"}}}, "profile.contact.phone"),
        ("clicks", {"passengers": [{"age": 3}, {"passport": "E1"}]}, "passengers.1.passport"),
        ("bookings", {"email": None}, "email"),
    ],
)
def test_nested_personal_keys_are_rejected(kind: str, changes: dict[str, Any], field: str) -> None:
    payload = sample(kind)
    payload.update(changes)  # update, not sample(): a None value must stay in the payload
    with pytest.raises(SchemaError) as caught:
        decode(kind, orjson.dumps(payload))
    assert caught.value.reason == f"{kind}: field '{field}' {SUFFIX}"


def test_personal_key_inside_offer_item_is_rejected_with_its_path() -> None:
    payload = sample("offers")
    payload["items"][0]["guest_name"] = "Li Lei"
    with pytest.raises(SchemaError) as caught:
        decode("offers", orjson.dumps(payload))
    assert caught.value.reason == f"offers: field 'items.0.guest_name' {SUFFIX}"


def test_legit_attribute_and_context_keys_are_accepted() -> None:
    decode("catalog", raw("catalog", attributes={"hotel_name": "x", "origin": "pek", "stars": 3}))
    decode("offers", raw("offers", context={"destination": "sanya", "item_type": "hotel"}))


def test_email_as_a_channel_value_is_fine() -> None:
    assert decode_consent(raw("consent", channel="email")).channel == "email"


def test_python_construction_is_guarded_too() -> None:
    with pytest.raises(ValueError, match="personal data"):
        Click(
            event_id="e",
            user_id="u",
            session_id="s",
            action="search",
            destination="sanya",
            ts=TS,
            phone="13800000000",
        )


def test_huge_personal_key_reason_stays_short() -> None:
    with pytest.raises(SchemaError) as caught:
        decode("clicks", raw("clicks", **{"email" + "x" * 5000: "a"}))
    assert len(caught.value.reason) < 300
