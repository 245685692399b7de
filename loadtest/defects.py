"""Malformed-record generation: the defects `World.events` injects with `bad_fraction`."""

from __future__ import annotations

import random
from typing import Any

import orjson


def corrupt(topic: str, d: dict[str, Any], kind: str, r: random.Random) -> bytes:
    """Encode `d` with the defect `kind`; each defect is one a real producer has shipped."""
    if kind == "empty":
        return b""
    if kind == "not_object":
        return r.choice((b"[1,2]", b"42", b'"click"', b"null", b"true"))
    if kind == "not_json":
        raw = orjson.dumps(d)
        if r.random() < 0.7:  # truncated mid-write: the closing brace is always lost
            return raw[: r.randint(1, len(raw) - 1)]
        return b"\xff" + r.randbytes(r.randint(4, 40))  # binary garbage, invalid UTF-8
    if kind == "missing_field":
        # Only fields without a default: `v` and `device` may be omitted legitimately.
        required = ["user_id", "ts", "event_id"]
        if topic == "clicks":
            required += ["session_id", "action"]
            required += ["destination"] if d["action"] == "search" else ["item_id", "item_type"]
        else:
            required += ["booking_id", "status", "item_id", "amount", "travel_start"]
        del d[r.choice(required)]
    elif kind == "wrong_type":
        money = "price" if topic == "clicks" else "amount"
        field = r.choice(("ts", money)) if money in d else "ts"
        d[field] = "yesterday" if field == "ts" else "cheap"
    elif kind == "pii":
        if r.random() < 0.5:
            d["email"] = "a@b.com"
        else:
            d["phone"] = "+8613800000000"
    elif kind == "bad_enum":
        if topic == "clicks":
            d.update(r.choice(({"action": "teleport"}, {"device": "toaster"})))
        else:
            d.update(r.choice(({"status": "teleported"}, {"item_type": "spaceship"})))
    else:
        raise ValueError(f"unknown defect kind {kind!r}")
    return orjson.dumps(d)
