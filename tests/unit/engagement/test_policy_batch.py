"""decide_many: the same decisions as decide, offer by offer, whatever the batch holds."""

from __future__ import annotations

from datetime import time

from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.offers import Candidate
from recommender.engagement.policy import CustomerFacts, decide, decide_many
from recommender.engagement.terms import OFFER_KINDS
from schemas import OfferItem
from tests.unit.engagement.helpers import DAY, HOUR, local, policy, utc

ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now")
ZONES = [None, "UTC", "Mars/Olympus", "Asia/Tokyo", "America/New_York", "Europe/Berlin"]
# Noon, quiet-hour edges, local midnights and DST changes in the zones above.
INSTANTS = [
    utc(2024, 6, 1, 12),
    utc(2024, 6, 1, 22),
    utc(2024, 6, 1, 7, 59, 59),
    local("Asia/Tokyo", 2024, 6, 1, 21, 59, 59),
    local("Asia/Tokyo", 2024, 6, 2, 0),
    local("America/New_York", 2024, 3, 10, 1, 30),
    local("America/New_York", 2024, 11, 3, 1, 30, fold=1),
    local("Europe/Berlin", 2024, 10, 27, 2, 30),
    local("Europe/Berlin", 2024, 3, 31, 7, 59),
]
POLICIES = [
    policy(),
    policy(quiet_mode="drop", daily_cap=1),
    policy(quiet_start=time(0), quiet_end=time(0), disabled_kinds=["cross_sell"]),
    policy(channels=["sms", "push"], complaint_hold_kinds=["reactivation"], offer_ttl_hours=3),
    policy(default_timezone="Asia/Tokyo", item_cooldown_hours=0),
]


@st.composite
def facts(draw: st.DrawFn, now: float) -> CustomerFacts:
    channels = draw(st.lists(st.sampled_from(["push", "sms", "email", "wechat"]), max_size=3))
    return CustomerFacts(
        consent={ch: draw(st.booleans()) for ch in channels},
        timezone=draw(st.sampled_from(ZONES)),
        complaint_until=draw(st.sampled_from([0.0, now, now + 1, now - 1])),
        sent_on_day={
            d: draw(st.integers(0, 4))
            for d in draw(st.lists(st.sampled_from(["20240601", "20240602", "20241027"])))
        },
        last_sent={
            item: now - draw(st.sampled_from([1.0, 71 * HOUR, 73 * HOUR, 31 * DAY]))
            for item in draw(st.lists(st.sampled_from(["h1", "h2", "reactivation"])))
        },
    )


@st.composite
def batches(draw: st.DrawFn) -> tuple[float, EngagementPolicy, list[tuple[Candidate, int]], list]:
    now = draw(st.sampled_from(INSTANTS))
    shared = draw(st.lists(facts(now), min_size=1, max_size=4))
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        c = Candidate(
            draw(st.sampled_from(["u1", "u2", "u3"])),
            draw(st.sampled_from(OFFER_KINDS)),
            draw(st.sampled_from(["h1", "h2", "reactivation"])),
            now,
            (ITEM,),
            now,
            now + draw(st.sampled_from([HOUR, 3 * HOUR, 48 * HOUR])),
        )
        rows.append((c, draw(st.integers(0, len(shared) - 1))))
    return now, draw(st.sampled_from(POLICIES)), rows, shared


@settings(max_examples=300, deadline=None)
@given(batches())
def test_decide_many_equals_decide_for_each_offer(
    case: tuple[float, EngagementPolicy, list[tuple[Candidate, int]], list[CustomerFacts]],
) -> None:
    now, p, rows, shared = case
    offers = [c for c, _ in rows]
    # Facts objects repeat in a batch (the store parses each distinct record once).
    fs = [shared[i] for _, i in rows]
    assert decide_many(offers, fs, now, p) == [
        decide(o, f, now, p) for o, f in zip(offers, fs, strict=True)
    ]


def test_equal_consents_in_distinct_objects_decide_alike() -> None:
    now = utc(2024, 6, 1, 12)
    offers = [Candidate("u1", "price_drop", "h1", now, (ITEM,), now, now + DAY)] * 2
    fs = [CustomerFacts(consent={"sms": True}), CustomerFacts(consent={"email": True})]
    got = decide_many(offers, fs, now, policy())
    assert [d.channel for d in got] == ["sms", "email"]
