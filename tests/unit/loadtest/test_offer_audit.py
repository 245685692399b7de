"""The offers audit: each promise to the push service is checked, and only those it can check."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest import offer_truth
from loadtest.offer_audit import SELF_CHECKS, TRUTH_CHECKS, RawOffer, audit, item_key
from loadtest.offer_truth import GroundTruth, TruthFormatError
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.localtime import in_quiet_hours, user_zone
from recommender.engagement.offers import offer_id
from schemas import Consent, Feedback, Offer, decode_offer
from tests.unit.engagement.helpers import DAY, HOUR, local, policy, utc

NOON = utc(2026, 10, 23, 9)  # 17:00 in Shanghai, 09:00 in UTC: quiet in neither
P = policy()


def consent(
    user: str = "u1",
    ts: float = NOON - DAY,
    *,
    granted: bool = True,
    channel: str = "push",
    tz: str | None = "Asia/Shanghai",
) -> Consent:
    return Consent(
        event_id=f"c-{user}-{ts}-{channel}",
        user_id=user,
        channel=channel,
        granted=granted,
        timezone=tz,
        ts=ts,
    )


def complaint(user: str, ts: float) -> Feedback:
    return Feedback(
        event_id=f"f-{user}-{ts}", user_id=user, kind="complaint", category="spam", ts=ts
    )


def offer(
    user: str = "u1",
    at: float = NOON,
    *,
    kind: str = "price_drop",
    item: str = "h1",
    channel: str = "push",
    **extra: Any,
) -> dict[str, Any]:
    context: dict[str, Any] = (
        {} if kind in ("price_drop", "reactivation") else {"destination": item}
    )
    return {
        "v": 1,
        "offer_id": offer_id(user, kind, item, at),
        "user_id": user,
        "kind": kind,
        "channel": channel,
        "items": [{"item_id": item, "item_type": "hotel", "score": 1.0, "reason": "r"}],
        "created_at": at,
        "expires_at": at + 48 * HOUR,
        "context": context,
        **extra,
    }


def raw(doc: dict[str, Any], key: bytes | None = None) -> RawOffer:
    return RawOffer(doc["user_id"].encode() if key is None else key, orjson.dumps(doc))


def kinds(
    docs: list[dict[str, Any]], truth: GroundTruth | None, p: EngagementPolicy = P
) -> dict[str, int]:
    a = audit([raw(d) for d in docs], p, truth)
    return {k: n for k, n in a.violations_by_kind().items() if n}


TRUTH = GroundTruth.of([consent()])


def test_a_clean_offer_passes_every_check() -> None:
    a = audit([raw(offer())], P, TRUTH)
    assert a.passed and a.checked == SELF_CHECKS + TRUTH_CHECKS
    assert a.offers_by_kind() == {"price_drop": 1}
    assert a.verdict().startswith("PASS: 1 offers, 0 violations (all invariants")
    assert a.summary()["result"] == "PASS"


def test_undecodable_messages_are_invalid() -> None:
    broken = {k: v for k, v in offer().items() if k != "items"}
    msgs = [RawOffer(b"u1", b"not json"), RawOffer(b"u1", None), raw(broken)]
    a = audit(msgs, P, TRUTH)
    assert a.violations_by_kind()["invalid"] == 3 and not a.offers
    assert a.verdict().startswith("FAIL: 3 violations (invalid=3)")


def test_expiry_not_after_creation_is_named_as_such() -> None:
    assert kinds([offer(expires_at=NOON)], TRUTH) == {"expiry": 1}


def test_key_must_be_the_user_id() -> None:
    a = audit([raw(offer(), key=b"u2"), raw(offer(at=NOON + DAY * 4), key=None)], P, TRUTH)
    assert a.violations_by_kind()["wrong_key"] == 1


def test_a_repeated_offer_id_is_a_duplicate_counted_once() -> None:
    a = audit([raw(offer()), raw(offer())], P, TRUTH)
    assert a.violations_by_kind()["duplicate"] == 1
    assert len(a.offers) == 1


def test_kill_switch() -> None:
    assert kinds([offer()], TRUTH, policy(disabled_kinds=["price_drop"])) == {"kill_switch": 1}


def test_cooldown_per_user_and_item() -> None:
    close = [offer(), offer(at=NOON + 2 * HOUR)]
    assert kinds(close, TRUTH) == {"cooldown": 1}
    apart = [offer(), offer(at=NOON + 73 * HOUR)]
    assert kinds(apart, TRUTH) == {}
    other_item = [offer(), offer(at=NOON + 2 * HOUR, item="h2")]
    assert kinds(other_item, TRUTH) == {}


def test_item_keys_follow_the_triggers() -> None:
    assert item_key(decode_offer(orjson.dumps(offer(item="h7")))) == "h7"
    assert item_key(decode_offer(orjson.dumps(offer(kind="cross_sell", item="bali")))) == (
        "dest:bali"
    )
    assert item_key(decode_offer(orjson.dumps(offer(kind="reactivation")))) == "reactivation"


@pytest.mark.parametrize(
    ("events", "channel", "violated"),
    [
        ([], "push", True),
        ([consent(ts=NOON + 1)], "push", True),  # granted only after the offer
        ([consent(), consent(ts=NOON - 1, granted=False)], "push", True),  # withdrawn
        ([consent(), consent(ts=NOON + 1, granted=False)], "push", False),  # withdrawn later
        ([consent()], "sms", True),  # another channel
        ([consent(ts=NOON)], "push", False),  # granted at that instant
    ],
)
def test_consent_on_the_channel_at_creation(
    events: list[Consent], channel: str, violated: bool
) -> None:
    found = kinds([offer(channel=channel)], GroundTruth.of(events))
    assert found == ({"no_consent": 1} if violated else {})


def test_complaint_hold_applies_to_marketing_kinds_only() -> None:
    truth = GroundTruth.of([consent()], [complaint("u1", NOON - DAY)])
    assert kinds([offer()], truth) == {"complaint_hold": 1}
    later = GroundTruth.of([consent()], [complaint("u1", NOON - 31 * DAY)])
    assert kinds([offer()], later) == {}
    assert kinds([offer()], truth, policy(complaint_hold_kinds=["reactivation"])) == {}


def test_daily_cap_counts_the_users_local_day() -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: one UTC day spans two local days
    truth = GroundTruth.of([consent(tz=zone, ts=utc(2026, 10, 1))])
    late = [local(zone, 2026, 10, 23, h) for h in (9, 12, 15, 18)]
    assert kinds([offer(at=t, item=f"i{t}") for t in late], truth) == {"cap": 1}
    split = [local(zone, 2026, 10, 23, 20, 30), local(zone, 2026, 10, 24, 8, 30)]
    split += [local(zone, 2026, 10, 24, 9), local(zone, 2026, 10, 24, 12)]
    assert kinds([offer(at=t, item=f"i{t}") for t in split], truth) == {}


def test_daily_cap_in_utc_minus_12() -> None:
    zone = "Etc/GMT+12"  # UTC-12
    truth = GroundTruth.of([consent(tz=zone, ts=utc(2026, 10, 1))])
    day = [local(zone, 2026, 10, 23, h) for h in (8, 12, 16, 21)]
    assert kinds([offer(at=t, item=f"i{t}") for t in day], truth) == {"cap": 1}
    assert kinds([offer(at=t, item=f"i{t}") for t in day], truth, policy(daily_cap=4)) == {}


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham"]
)
def test_quiet_hours_are_judged_by_localtime_across_dst(zone: str) -> None:
    p = policy(quiet_start=time(1, 0), quiet_end=time(2, 30))  # overlaps DST changes
    truth = GroundTruth.of([consent(tz=zone, ts=utc(2026, 1, 1))])
    # Every 10 minutes around the spring/autumn changes of both hemispheres.
    times = [
        utc(2026, m, d) + k * 600 for m, d in ((3, 8), (4, 5), (10, 4), (11, 1)) for k in range(288)
    ]
    times += [utc(2026, 10, 24, 22) + k * 600 for k in range(60)]
    docs = [offer(at=t, item=f"i{i}") for i, t in enumerate(times)]
    a = audit(
        [raw(d) for d in docs],
        policy(daily_cap=1000, quiet_start=p.quiet_start, quiet_end=p.quiet_end),
        truth,
    )
    flagged = {v.offer_id for v in a.violations if v.kind == "quiet_hours"}
    tz = user_zone(zone, "UTC")
    expected = {
        d["offer_id"]
        for d in docs
        if in_quiet_hours(d["created_at"], tz, p.quiet_start, p.quiet_end)
    }
    assert flagged == expected and expected


def test_quiet_hours_default_zone_when_unknown() -> None:
    truth = GroundTruth.of([consent(tz=None)])
    at = utc(2026, 10, 23, 2)  # 02:00 in UTC (the default zone), 10:00 in Shanghai
    assert kinds([offer(at=at)], truth) == {"quiet_hours": 1}
    assert kinds([offer(at=at)], truth, policy(default_timezone="Asia/Shanghai")) == {}


def test_without_ground_truth_only_self_evident_checks_run() -> None:
    a = audit([raw(offer()), raw(offer())], P)
    assert a.checked == SELF_CHECKS
    assert a.summary()["not_checked"] == list(TRUTH_CHECKS)
    assert "NOT checked" in a.verdict() and a.verdict().startswith("FAIL: 1 violations")


def test_ground_truth_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    p = policy(daily_cap=2)
    events = [consent(), consent("u2", tz="Etc/GMT+12"), consent(ts=NOON + 5, granted=False)]
    offer_truth.write(path, events, [complaint("u3", NOON)], p)
    t = offer_truth.load(path)
    assert t.policy == p and t.users == 2
    assert t.consented("u1", "push", NOON) and not t.consented("u1", "push", NOON + 5)
    assert t.timezone("u2", 0.0) == "Etc/GMT+12"  # before the first consent: its zone
    assert t.complaint_until("u3", NOON + 1, p) == NOON + p.complaint_hold_days * DAY
    path.write_bytes(path.read_bytes() + b'{"what": 1}\n')
    with pytest.raises(TruthFormatError, match=r"truth.jsonl:6"):
        offer_truth.load(path)


def test_offer_fixture_is_a_valid_contract() -> None:
    assert isinstance(decode_offer(orjson.dumps(offer(kind="cross_sell", item="bali"))), Offer)
