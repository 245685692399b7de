"""Audit entries as read back from the stream, and the query's filters (pure parts)."""

from __future__ import annotations

from recommender.audit import AuditEntry, matches, parse_entry, select


def _e(n: int, subject: str, ts: float, actor: str = "ana", action: str = "lookup") -> AuditEntry:
    return AuditEntry(f"{n}-0", actor, action, subject, ts)


def test_entries_parse_from_bytes_and_tolerate_missing_fields() -> None:
    e = parse_entry(
        b"1700000000000-0",
        {b"actor": b"ana", b"action": b"customer_lookup", b"subject": b"u1", b"ts": b"1.5"},
    )
    assert e == AuditEntry("1700000000000-0", "ana", "customer_lookup", "u1", 1.5, "")
    assert parse_entry("1-0", {"ts": "x"}).ts == 0.0


def test_select_filters_by_subject_time_range_actor_and_action_and_stops_at_limit() -> None:
    entries = [
        _e(5, "u1", 500.0),
        _e(4, "u2", 400.0),
        _e(3, "u1", 300.0, actor="root"),
        _e(2, "u1", 200.0, action="kill_switch"),
        _e(1, "u1", 100.0),
    ]
    assert [e.entry_id for e in select(entries, limit=10, subject="u1")] == [
        "5-0",
        "3-0",
        "2-0",
        "1-0",
    ]
    got = select(entries, limit=10, subject="u1", since=150.0, until=450.0)
    assert [e.entry_id for e in got] == ["3-0", "2-0"]
    assert [e.entry_id for e in select(entries, limit=2, subject="u1")] == ["5-0", "3-0"]
    assert [e.entry_id for e in select(entries, limit=10, actor="root")] == ["3-0"]
    assert [e.entry_id for e in select(entries, limit=10, action="kill_switch")] == ["2-0"]
    assert matches(entries[0])  # no filter: everything


def test_time_bounds_are_inclusive() -> None:
    e = _e(1, "u1", 100.0)
    assert matches(e, since=100.0, until=100.0)
    assert not matches(e, since=100.001)
    assert not matches(e, until=99.999)
