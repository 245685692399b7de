"""Valid sample payloads, one per logical topic, shared by the schema tests."""

from __future__ import annotations

import copy
from typing import Any

import orjson

TS = 1_717_000_000.25

VALID: dict[str, dict[str, Any]] = {
    "clicks": {
        "v": 1,
        "event_id": "evt-0001",
        "user_id": "u_8f3a",
        "session_id": "s:42",
        "action": "view",
        "item_id": "hotel-123",
        "item_type": "hotel",
        "destination": "sanya",
        "price": 688.0,
        "currency": "CNY",
        "device": "ios",
        "ts": TS,
    },
    "bookings": {
        "event_id": "evt-0002",
        "user_id": "u_8f3a",
        "booking_id": "b-77",
        "status": "confirmed",
        "item_id": "flight-9",
        "item_type": "flight",
        "destination": "sanya",
        "amount": 1520.5,
        "currency": "CNY",
        "travel_start": "2024-07-01",
        "travel_end": "2024-07-08",
        "origin": "beijing",
        "ts": TS,
    },
    "catalog": {
        "item_id": "hotel-123",
        "item_type": "hotel",
        "destination": "sanya",
        "price": 688,
        "currency": "CNY",
        "title": "Sea View Resort",
        "attributes": {"stars": 5, "pool": True, "rating": 4.7, "brand": "acme"},
        "vector": [0.1, -0.2, 0.3],
        "updated_at": TS,
    },
    "prices": {
        "event_id": "evt-0003",
        "item_id": "hotel-123",
        "price": 599.0,
        "currency": "CNY",
        "previous_price": 688.0,
        "ts": TS,
    },
    "consent": {
        "event_id": "evt-0004",
        "user_id": "u_8f3a",
        "channel": "email",
        "granted": True,
        "timezone": "Asia/Shanghai",
        "ts": TS,
    },
    "feedback": {
        "event_id": "evt-0005",
        "user_id": "u_8f3a",
        "item_id": "hotel-123",
        "kind": "complaint",
        "category": "late_refund",
        "ts": TS,
    },
    "offers": {
        "offer_id": "off-1",
        "user_id": "u_8f3a",
        "kind": "price_drop",
        "channel": "push",
        "items": [
            {
                "item_id": "hotel-123",
                "item_type": "hotel",
                "destination": "sanya",
                "score": 0.93,
                "reason": "Price dropped 13% since you looked",
                "price": 599.0,
                "currency": "CNY",
            }
        ],
        "created_at": TS,
        "expires_at": TS + 86_400,
        "context": {"destination": "sanya", "old_price": 688.0},
    },
    "deadletters": {
        "reason": "clicks: field 'user_id' is required",
        "error_type": "missing",
        "source_topic": "clicks",
        "partition": 3,
        "offset": 1234,
        "key_b64": "dV84ZjNh",
        "value_b64": "e30=",
        "consumer": "reco-features",
        "ts": TS,
    },
}

KINDS = sorted(VALID)


def sample(kind: str, /, **changes: Any) -> dict[str, Any]:
    """Return a deep copy of a valid payload with changes applied (None values delete keys)."""
    data = copy.deepcopy(VALID[kind])
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def raw(kind: str, /, **changes: Any) -> bytes:
    """Return a valid payload with changes applied, as JSON bytes."""
    return orjson.dumps(sample(kind, **changes))
