"""CustomerState codec: exact round trips, compactness, clear errors on foreign bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engagement.codec import CustomerFormatError, dumps, loads
from recommender.engagement.signals import apply_click, apply_consent, apply_feedback
from recommender.engagement.state import CustomerState, LedgerEntry, Penalty, Search, Watch
from tests.unit.engagement.helpers import T0, book, policy


def typical() -> CustomerState:
    p = policy()
    s = CustomerState()
    for i in range(5):
        s = book(s, f"bk-{i}", ts=T0 + i, amount=350.5, item_id=f"hotel-{i}", p=p)
    s = book(s, "bk-1", ts=T0 + 9, amount=350.5, status="cancelled", p=p)
    for i in range(10):
        s = apply_click(
            s,
            action="view",
            ts=T0 + i,
            item_id=f"item-{i}",
            destination="sanya",
            price=199.0,
            policy=p,
        )
    s = apply_click(
        s, action="search", ts=T0, item_id=None, destination="lijiang", price=None, policy=p
    )
    s = apply_feedback(s, kind="complaint", ts=T0, item_id="hotel-2", rating=None, policy=p)
    return apply_consent(s, channel="push", granted=True, ts=T0, timezone="Asia/Shanghai")


def test_round_trip_is_exact() -> None:
    s = typical()
    assert loads(dumps(s)) == s
    assert loads(dumps(CustomerState())) == CustomerState()


def test_typical_customer_is_compact() -> None:
    assert len(dumps(typical())) < 1500


def test_missing_fields_take_defaults() -> None:
    assert loads(b'C1{"pt": 7}') == CustomerState(points=7)


@pytest.mark.parametrize("blob", [b"P2\x00\x00", b"C1{not json", b'C1{"bk": [[1, 2]]}'])
def test_foreign_or_corrupt_bytes_raise_a_format_error(blob: bytes) -> None:
    with pytest.raises(CustomerFormatError):
        loads(blob)


ids = st.text("abcxyz0123_-:.", min_size=1, max_size=12)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
money = st.floats(min_value=0, max_value=1e7, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(
    ledger=st.dictionaries(
        ids,
        st.builds(
            LedgerEntry,
            ids,
            st.sampled_from(["confirmed", "cancelled"]),
            times,
            money,
            st.integers(0, 10**7),
            st.sampled_from(["hotel", "flight"]),
            ids,
        ),
        max_size=5,
    ),
    searches=st.dictionaries(ids, st.builds(Search, times, times, times), max_size=5),
    watched=st.dictionaries(ids, st.builds(Watch, times, st.none() | money), max_size=5),
    penalties=st.dictionaries(ids, st.builds(Penalty, st.floats(0, 1), times), max_size=5),
    consent=st.dictionaries(st.sampled_from(["push", "sms"]), st.tuples(st.booleans(), times)),
    points=st.integers(-(10**6), 10**9),
    tz=st.none() | st.sampled_from(["UTC", "Pacific/Kiritimati"]),
)
def test_any_state_round_trips(
    ledger: dict[str, LedgerEntry],
    searches: dict[str, Search],
    watched: dict[str, Watch],
    penalties: dict[str, Penalty],
    consent: dict[str, tuple[bool, float]],
    points: int,
    tz: str | None,
) -> None:
    s = CustomerState(
        first_seen=T0,
        last_active=T0 + 1,
        stage="reactivated",
        points=points,
        ledger=ledger,
        searches=searches,
        watched=watched,
        penalties=penalties,
        consent=consent,
        timezone=tz,
    )
    assert loads(dumps(s)) == s
