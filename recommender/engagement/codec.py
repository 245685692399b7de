"""CustomerState <-> bytes: ``b"C1"`` then compact JSON (arrays, short keys) for Redis.

Arrays instead of objects keep a typical customer to a few hundred bytes. Readers tolerate
missing keys, so fields can be added without a format change.
"""

from __future__ import annotations

from typing import Any, cast

import orjson

from recommender.engagement.state import CustomerState, LedgerEntry, Penalty, Search, Watch
from recommender.engagement.terms import ActivityStage

MAGIC = b"C1"
_STAGES = ("new", "active", "reactivated")


class CustomerFormatError(ValueError):
    """Stored bytes are not a customer state this code can read."""


def dumps(s: CustomerState) -> bytes:
    """Serialise a customer state."""
    doc: dict[str, Any] = {
        "fs": s.first_seen,
        "la": s.last_active,
        "lb": s.last_booking,
        "st": s.stage,
        "ss": s.stage_since,
        "pt": s.points,
        "m": s.monetary,
        "nb": s.n_bookings,
        "bk": [
            [k, e.item_id, e.status, e.ts, e.amount, e.points, e.item_type, e.destination]
            for k, e in s.ledger.items()
        ],
        "se": [[d, x.ts, x.reminded_at, x.booked_at] for d, x in s.searches.items()],
        "w": [[i, x.ts, x.price] for i, x in s.watched.items()],
        "fp": [[i, x.value, x.ts] for i, x in s.penalties.items()],
        "c": [[ch, ok, ts] for ch, (ok, ts) in s.consent.items()],
        "tz": s.timezone,
        "cu": s.complaint_until,
        "rs": s.reactivation_sent,
    }
    return MAGIC + orjson.dumps(doc)


def loads(blob: bytes) -> CustomerState:
    """Parse bytes written by dumps."""
    if blob[:2] != MAGIC:
        raise CustomerFormatError("not a customer state blob")
    try:
        d = orjson.loads(blob[2:])
        stage = d.get("st", "new")
        return CustomerState(
            first_seen=float(d.get("fs", 0.0)),
            last_active=float(d.get("la", 0.0)),
            last_booking=float(d.get("lb", 0.0)),
            stage=cast(ActivityStage, stage if stage in _STAGES else "active"),
            stage_since=float(d.get("ss", 0.0)),
            points=int(d.get("pt", 0)),
            monetary=float(d.get("m", 0.0)),
            n_bookings=int(d.get("nb", 0)),
            ledger={
                k: LedgerEntry(item, status, float(ts), float(amt), int(pts), itype, dest)
                for k, item, status, ts, amt, pts, itype, dest in d.get("bk", [])
            },
            searches={
                dest: Search(float(ts), float(rem), float(bk))
                for dest, ts, rem, bk in d.get("se", [])
            },
            watched={
                i: Watch(float(ts), None if p is None else float(p)) for i, ts, p in d.get("w", [])
            },
            penalties={i: Penalty(float(v), float(ts)) for i, v, ts in d.get("fp", [])},
            consent={ch: (bool(ok), float(ts)) for ch, ok, ts in d.get("c", [])},
            timezone=d.get("tz"),
            complaint_until=float(d.get("cu", 0.0)),
            reactivation_sent=float(d.get("rs", 0.0)),
        )
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
        raise CustomerFormatError(f"corrupt customer state: {exc}") from None
