"""Invalid payloads raise SchemaError with a short reason naming the field."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from schemas import TOPIC_MODELS, SchemaError, decode, decode_click
from tests.unit.schemas.samples import KINDS, raw, sample

REQUIRED = [
    (kind, name)
    for kind in KINDS
    for name, info in TOPIC_MODELS[kind].model_fields.items()
    if info.is_required()
]


def reject(kind: str, payload: bytes | None) -> SchemaError:
    """Decode payload, expecting a SchemaError, and check the reason's general shape."""
    with pytest.raises(SchemaError) as caught:
        decode(kind, payload)
    error = caught.value
    assert error.reason == str(error)
    assert error.reason.startswith(f"{kind}: ")
    assert "\n" not in error.reason
    assert len(error.reason) < 300
    assert isinstance(error, ValueError)
    return error


def test_every_model_has_required_fields() -> None:
    assert {kind for kind, _ in REQUIRED} == set(KINDS)
    assert ("clicks", "user_id") in REQUIRED
    assert ("bookings", "travel_start") in REQUIRED


@pytest.mark.parametrize(("kind", "field"), REQUIRED)
def test_missing_required_field_is_named(kind: str, field: str) -> None:
    payload = sample(kind)
    del payload[field]
    error = reject(kind, orjson.dumps(payload))
    assert error.reason == f"{kind}: field '{field}' is required"
    assert error.field == field
    assert error.code == "missing"


@pytest.mark.parametrize(
    ("kind", "changes", "field"),
    [
        ("clicks", {"user_id": 123}, "user_id"),
        ("clicks", {"user_id": "alice@example.com"}, "user_id"),
        ("clicks", {"user_id": "x" * 129}, "user_id"),
        ("clicks", {"event_id": ""}, "event_id"),
        ("clicks", {"price": "12.5"}, "price"),
        ("clicks", {"price": True}, "price"),
        ("clicks", {"action": "tap"}, "action"),
        ("clicks", {"item_type": "cruise"}, "item_type"),
        ("clicks", {"device": "tablet"}, "device"),
        ("clicks", {"ts": "1717000000"}, "ts"),
        ("clicks", {"ts": 0}, "ts"),
        ("clicks", {"ts": 1_717_000_000_000}, "ts"),
        ("clicks", {"currency": "cny"}, "currency"),
        ("clicks", {"currency": "YUAN"}, "currency"),
        ("clicks", {"destination": "San Ya"}, "destination"),
        ("clicks", {"destination": "s" * 65}, "destination"),
        ("clicks", {"travel_start": "01/07/2024"}, "travel_start"),
        ("clicks", {"v": True}, "v"),
        ("clicks", {"v": "1"}, "v"),
        ("bookings", {"amount": -0.01}, "amount"),
        ("bookings", {"status": "pending"}, "status"),
        ("bookings", {"travel_start": 20240701}, "travel_start"),
        ("catalog", {"attributes": {"stars": [5]}}, "attributes.stars"),
        ("catalog", {"attributes": {"stars": None}}, "attributes.stars"),
        ("catalog", {"attributes": [["stars", 5]]}, "attributes"),
        ("catalog", {"attributes": {f"k{i}": i for i in range(65)}}, "attributes"),
        ("catalog", {"vector": []}, "vector"),
        ("catalog", {"vector": [0.5] * 1025}, "vector"),
        ("catalog", {"vector": [0.5, "x"]}, "vector.1"),
        ("catalog", {"title": "t" * 201}, "title"),
        ("catalog", {"active": "yes"}, "active"),
        ("prices", {"previous_price": -1}, "previous_price"),
        ("consent", {"granted": "yes"}, "granted"),
        ("consent", {"granted": 1}, "granted"),
        ("consent", {"channel": "fax"}, "channel"),
        ("consent", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ("consent", {"timezone": "Asia"}, "timezone"),
        ("consent", {"timezone": "../../etc/passwd"}, "timezone"),
        ("feedback", {"rating": 6}, "rating"),
        ("feedback", {"rating": 0.5}, "rating"),
        ("offers", {"items": []}, "items"),
        ("offers", {"items": [sample("offers")["items"][0]] * 21}, "items"),
        ("offers", {"items": [{**sample("offers")["items"][0], "score": "high"}]}, "items.0.score"),
        (
            "offers",
            {"items": [{**sample("offers")["items"][0], "reason": "r" * 201}]},
            "items.0.reason",
        ),
        ("offers", {"context": {"old_price": {"amount": 1}}}, "context.old_price"),
        ("deadletters", {"value_b64": "not base64!"}, "value_b64"),
        ("deadletters", {"key_b64": "abc"}, "key_b64"),
        ("deadletters", {"partition": 1.5}, "partition"),
        ("deadletters", {"offset": -2}, "offset"),
        ("deadletters", {"source_topic": "bad topic"}, "source_topic"),
    ],
)
def test_wrong_values_are_rejected_naming_the_field(
    kind: str, changes: dict[str, Any], field: str
) -> None:
    error = reject(kind, raw(kind, **changes))
    assert error.field == field
    assert f"field '{field}'" in error.reason


def test_negative_price_reason_reads_well() -> None:
    error = reject("clicks", raw("clicks", price=-3))
    assert error.reason == "clicks: field 'price' must be a number >= 0 (got -3)"


def test_enum_reason_lists_allowed_values_and_echoes_input() -> None:
    error = reject("clicks", raw("clicks", action="tap"))
    assert error.reason.startswith("clicks: field 'action' must be 'view', 'search'")
    assert "(got 'tap')" in error.reason


def test_rejected_free_text_is_not_echoed_in_the_reason() -> None:
    error = reject("clicks", raw("clicks", user_id="alice@example.com"))
    assert "alice" not in error.reason
    assert "(got a string of 17 chars)" in error.reason


def test_first_error_wins() -> None:
    payload = sample("clicks", user_id=None, session_id=None)
    assert reject("clicks", orjson.dumps(payload)).field == "user_id"


@pytest.mark.parametrize("kind", KINDS)
def test_newer_schema_version_is_rejected(kind: str) -> None:
    error = reject(kind, raw(kind, v=7))
    assert error.reason == f"{kind}: schema version v=7 is newer than supported v=1"
    assert error.field == "v"


def test_version_error_wins_over_later_field_errors() -> None:
    error = reject("clicks", raw("clicks", v=2, price=-1, user_id=5))
    assert error.field == "v"


def test_version_zero_is_rejected() -> None:
    assert reject("clicks", raw("clicks", v=0)).field == "v"


def test_version_absurdly_large_is_rejected_briefly() -> None:
    payload = raw("clicks")[:-1] + b',"v":' + b"9" * 400 + b"}"
    error = reject("clicks", payload)
    assert error.field == "v"
    assert "..." in error.reason


def test_numbers_beyond_the_parser_range_are_rejected() -> None:
    payload = raw("clicks")[:-1] + b',"v":' + b"9" * 5000 + b"}"
    assert reject("clicks", payload).code == "json_invalid"


@pytest.mark.parametrize("payload", [None, b""])
def test_empty_value_is_rejected(payload: bytes | None) -> None:
    error = reject("clicks", payload)
    assert error.reason == "clicks: value is empty"
    assert error.code == "empty"
    assert error.field is None


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe\x00", b'{"user_id": "\xff"}', b"{", b"{}}", b"not json", b"   ", b"\x00"],
)
def test_invalid_json_is_rejected(payload: bytes) -> None:
    error = reject("clicks", payload)
    assert error.reason.startswith("clicks: not valid JSON: ")
    assert error.code == "json_invalid"


@pytest.mark.parametrize(
    ("payload", "json_type"),
    [
        (b"[1]", "array"),
        (b'"x"', "string"),
        (b"null", "null"),
        (b"42", "number"),
        (b"true", "boolean"),
    ],
)
def test_non_object_json_is_rejected(payload: bytes, json_type: str) -> None:
    error = reject("clicks", payload)
    assert error.reason == f"clicks: value must be a JSON object (got {json_type})"


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_rejected(number: bytes) -> None:
    payload = raw("clicks").replace(b'"price":688.0', b'"price":' + number)
    assert reject("clicks", payload).field == "price"


def test_non_finite_vector_values_are_rejected() -> None:
    payload = raw("catalog").replace(b"[0.1,-0.2,0.3]", b"[0.1,NaN]")
    assert reject("catalog", payload).field == "vector.1"


def test_deep_nesting_is_rejected_not_crashing() -> None:
    payload = raw("clicks")[:-1] + b',"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reject("clicks", payload)


def test_unknown_kind_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="unknown kind 'clickz'"):
        decode("clickz", raw("clicks"))


def test_random_garbage_only_ever_raises_schema_error() -> None:
    rng = random.Random(20240601)
    valid = raw("clicks")
    for _ in range(2000):
        if rng.random() < 0.5:
            payload = rng.randbytes(rng.randint(1, 64))
        else:
            mutated = bytearray(valid)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            payload = bytes(mutated)
        try:
            decode_click(payload)
        except SchemaError as error:
            assert len(error.reason) < 300
