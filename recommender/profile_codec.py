"""Profile <-> bytes: one compact blob per user, so a read or write is one Redis call."""

from __future__ import annotations

import struct

import numpy as np
import orjson

from recommender.profile import Booked, Profile

# Layout: MAGIC | version:u64 | dim:u16 | json_len:u32 | json | short:f32[dim] | long:f32[dim]
# The write version sits at a fixed place (bytes 3..10) so the commit script can compare it
# without parsing. Vectors are raw float32 (half the bytes of JSON floats, no parsing); the
# rest is JSON so other languages can read a profile with a JSON library and two array reads.
MAGIC = b"P2"
_HEAD = struct.Struct("<2sQHI")
_VERSION = struct.Struct("<Q")


class ProfileFormatError(ValueError):
    """A stored blob is not a profile this code can read."""


def version_bytes(version: int) -> bytes:
    """The 8 bytes a blob of this version carries at offset 2 (what commit.lua compares)."""
    return _VERSION.pack(version)


def version_of(blob: bytes) -> int:
    """Write version of a stored blob."""
    if len(blob) < _HEAD.size or blob[:2] != MAGIC:
        raise ProfileFormatError("not a profile blob")
    return int(_VERSION.unpack_from(blob, 2)[0])


def dumps(p: Profile, version: int = 0) -> bytes:
    """Serialise a profile with its write version."""
    doc = {
        "t": p.t,
        "n": p.n_events,
        "la": p.last_active,
        "sw": p.short_w,
        "lw": p.long_w,
        "aff": p.aff,
        "rec": p.recent,
        "bk": {
            k: [
                b.item_id,
                b.status,
                b.ts,
                b.amount_base,
                b.destination,
                b.item_type,
                b.travel_start,
                b.travel_end,
            ]
            for k, b in p.bookings.items()
        },
        "m": p.monetary,
        "nb": p.n_bookings,
        "lb": p.last_booking,
    }
    body = orjson.dumps(doc)
    vecs = np.concatenate([p.short_vec, p.long_vec]).astype("<f4").tobytes()
    return _HEAD.pack(MAGIC, version, p.dim, len(body)) + body + vecs


def loads(blob: bytes) -> Profile:
    """Parse a blob written by dumps."""
    if len(blob) < _HEAD.size:
        raise ProfileFormatError("profile blob too short")
    magic, _version, dim, n = _HEAD.unpack_from(blob)
    if magic != MAGIC:
        raise ProfileFormatError(f"unknown profile format {magic!r}")
    start = _HEAD.size
    if len(blob) != start + n + 8 * dim:
        raise ProfileFormatError(
            f"profile blob has {len(blob)} bytes, expected {start + n + 8 * dim}"
        )
    try:
        doc = orjson.loads(blob[start : start + n])
    except orjson.JSONDecodeError as exc:
        raise ProfileFormatError(f"profile blob JSON is damaged: {exc}") from None
    vec = np.frombuffer(blob, dtype="<f4", count=2 * dim, offset=start + n).astype(np.float64)
    return Profile(
        dim=dim,
        t=doc["t"],
        n_events=doc["n"],
        last_active=doc["la"],
        short_vec=vec[:dim].copy(),
        short_w=doc["sw"],
        long_vec=vec[dim:].copy(),
        long_w=doc["lw"],
        aff=doc["aff"],
        recent=[(i, ts) for i, ts in doc["rec"]],
        bookings={k: Booked(*v) for k, v in doc["bk"].items()},
        monetary=doc["m"],
        n_bookings=doc["nb"],
        last_booking=doc["lb"],
    )
