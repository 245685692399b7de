"""The audit trail's pure parts: decision entries read from the stream, and the merge."""

from __future__ import annotations

from recommender.audit import AuditEntry
from recommender.audit_trail import TrailEntry, from_admin, from_decision, merge, retention


def decision(at: str, outcome: str, reason: str = "") -> dict[bytes, bytes]:
    return {
        b"offer_id": b"o1",
        b"kind": b"price_drop",
        b"item": b"h1",
        b"outcome": outcome.encode(),
        b"reason": reason.encode(),
        b"channel": b"push",
        b"at": at.encode(),
    }


def test_decisions_become_trail_entries() -> None:
    e = from_decision("u1", decision("100.5", "suppress", "cap"))
    assert e == TrailEntry(
        100.5,
        "offer",
        "offer_suppressed",
        "push-gate",
        "u1",
        "cap",
        {
            "offer_id": "o1",
            "kind": "price_drop",
            "item": "h1",
            "outcome": "suppress",
            "reason": "cap",
            "channel": "push",
        },
    )
    assert from_decision("u1", decision("7", "send")).action == "offer_sent"  # type: ignore[union-attr]
    assert from_decision("u1", decision("7", "hold", "quiet_hours")).action == "offer_held"  # type: ignore[union-attr]
    assert from_decision("u1", decision("not a time", "send")) is None


def test_merge_orders_newest_first_and_filters_by_time() -> None:
    admin = [from_admin(AuditEntry("1-0", "admin-api:ab", "consent_change", "u1", 20.0))]
    offers = [
        TrailEntry(10.0, "offer", "offer_suppressed", "push-gate", "u1", "no_consent"),
        TrailEntry(20.0, "offer", "offer_sent", "push-gate", "u1"),
        TrailEntry(30.0, "offer", "offer_sent", "push-gate", "u1"),
    ]
    got = merge([admin, offers], since=None, until=None, limit=10)
    # At the same instant the decision is listed above the admin action (newest first).
    assert [(e.ts, e.action) for e in got] == [
        (30.0, "offer_sent"),
        (20.0, "offer_sent"),
        (20.0, "consent_change"),
        (10.0, "offer_suppressed"),
    ]
    window = merge([admin, offers], since=15, until=25, limit=10)
    assert [e.action for e in window] == ["offer_sent", "consent_change"]
    assert len(merge([admin, offers], since=None, until=None, limit=2)) == 2


def test_retention_is_stated() -> None:
    r = retention(400)
    assert "400 days" in r["admin"] and "50" in r["offer"]
