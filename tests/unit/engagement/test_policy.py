"""The push policy: reasons and their order, consent, caps by local day, quiet hours."""

from __future__ import annotations

from datetime import time

import pytest

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.offers import Candidate, candidate
from recommender.engagement.policy import CustomerFacts, decide, facts_of
from recommender.engagement.signals import apply_consent
from recommender.engagement.state import CustomerState
from recommender.engagement.terms import OfferKind
from schemas import OfferItem
from tests.unit.engagement.helpers import DAY, HOUR, local, policy, utc

ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now")
NOON = utc(2024, 6, 1, 12)  # 12:00 in UTC, outside the default quiet hours
ALWAYS = policy(quiet_start=time(0), quiet_end=time(0))  # no quiet hours


def offer(
    now: float = NOON,
    kind: OfferKind = "price_drop",
    item_key: str = "h1",
    p: EngagementPolicy | None = None,
) -> Candidate:
    return candidate("u1", kind, item_key, now, [ITEM], now=now, policy=p or policy())


def facts(**kw: object) -> CustomerFacts:
    base: dict[str, object] = {"consent": {"push": True}, "timezone": "UTC"}
    return CustomerFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_send_when_nothing_stands_in_the_way() -> None:
    d = decide(offer(), facts(), NOON, policy())
    assert (d.outcome, d.reason, d.channel, d.hold_until) == ("send", None, "push", None)
    assert d.offer_id == offer().offer_id
    assert d.day_key == "20240601"


def test_kill_switch_comes_first() -> None:
    p = policy(disabled_kinds=["price_drop"])
    d = decide(offer(), facts(consent={}, complaint_until=NOON + DAY), NOON, p)
    assert (d.outcome, d.reason) == ("suppress", "kill_switch")
    assert decide(offer(kind="cross_sell"), facts(), NOON, p).outcome == "send"


def test_consent_per_channel_in_order_of_preference() -> None:
    p = policy()
    assert decide(offer(), facts(consent={}), NOON, p).reason == "no_consent"
    assert decide(offer(), facts(consent={"push": False}), NOON, p).reason == "no_consent"
    both = facts(consent={"sms": True, "email": True})
    assert decide(offer(), both, NOON, p).channel == "sms"
    only_email = policy(channels=["email"])
    assert decide(offer(), facts(consent={"push": True}), NOON, only_email).reason == "no_consent"


def test_facts_come_from_the_customer_state() -> None:
    s = apply_consent(CustomerState(), channel="wechat", granted=True, ts=1.0, timezone="UTC")
    d = decide(offer(), facts_of(s), NOON, policy())
    assert (d.outcome, d.channel) == ("send", "wechat")


def test_complaint_holds_marketing_for_its_period() -> None:
    p = policy()
    held = facts(complaint_until=NOON + 1)
    assert decide(offer(), held, NOON, p).reason == "complaint_hold"
    assert decide(offer(NOON + 1), held, NOON + 1, p).outcome == "send"
    non_marketing = policy(complaint_hold_kinds=["reactivation"])
    assert decide(offer(), held, NOON, non_marketing).outcome == "send"


def test_cooldown_per_user_and_item() -> None:
    p = policy()
    recent = facts(last_sent={"h1": NOON - 71 * HOUR})
    assert decide(offer(), recent, NOON, p).reason == "cooldown"
    assert decide(offer(item_key="h2"), recent, NOON, p).outcome == "send"
    old = facts(last_sent={"h1": NOON - 72 * HOUR})
    assert decide(offer(), old, NOON, p).outcome == "send"
    # Reactivation has its own, longer cooldown.
    react = facts(last_sent={"reactivation": NOON - 29 * DAY})
    assert decide(offer(kind="reactivation", item_key="reactivation"), react, NOON, p).reason == (
        "cooldown"
    )


def test_daily_cap_resets_at_local_midnight_not_utc_midnight() -> None:
    shanghai = {"timezone": "Asia/Shanghai"}
    full = facts(**shanghai, sent_on_day={"20240601": 3})
    late = utc(2024, 6, 1, 15, 59)  # 23:59 on June 1 in Shanghai
    d = decide(offer(late), full, late, ALWAYS)
    assert (d.reason, d.day_key) == ("cap", "20240601")
    midnight = utc(2024, 6, 1, 16)  # 00:00 on June 2 in Shanghai, still June 1 in UTC
    d = decide(offer(midnight), full, midnight, ALWAYS)
    assert (d.outcome, d.day_key) == ("send", "20240602")
    full2 = facts(**shanghai, sent_on_day={"20240602": 3})
    utc_midnight = utc(2024, 6, 2)  # UTC's new day is no new day for this user
    assert decide(offer(utc_midnight), full2, utc_midnight, ALWAYS).reason == "cap"


@pytest.mark.parametrize(
    ("zone", "now", "day"),
    [
        ("Pacific/Kiritimati", utc(2024, 6, 1, 10), "20240602"),
        ("Etc/GMT+12", utc(2024, 6, 1, 11, 59), "20240531"),
        ("America/New_York", utc(2024, 3, 11, 3, 59), "20240310"),  # 23-hour day
        ("Europe/Berlin", utc(2024, 10, 27, 22, 59), "20241027"),  # 25-hour day
    ],
)
def test_cap_counts_the_users_calendar_day(zone: str, now: float, day: str) -> None:
    d = decide(offer(now), facts(timezone=zone, sent_on_day={day: 3}), now, ALWAYS)
    assert (d.reason, d.day_key) == ("cap", day)


def test_quiet_hours_hold_until_local_morning() -> None:
    now = local("Asia/Tokyo", 2024, 6, 1, 23)
    d = decide(offer(now), facts(timezone="Asia/Tokyo"), now, policy())
    assert (d.outcome, d.reason) == ("hold", "quiet_hours")
    assert d.hold_until == local("Asia/Tokyo", 2024, 6, 2, 8)


def test_quiet_hours_drop_mode() -> None:
    now = local("Asia/Tokyo", 2024, 6, 1, 23)
    d = decide(offer(now), facts(timezone="Asia/Tokyo"), now, policy(quiet_mode="drop"))
    assert (d.outcome, d.reason, d.hold_until) == ("suppress", "quiet_hours", None)


def test_hold_past_expiry_is_a_drop() -> None:
    now = local("Asia/Tokyo", 2024, 6, 1, 23)
    short = policy(offer_ttl_hours=2)
    d = decide(offer(now, p=short), facts(timezone="Asia/Tokyo"), now, short)
    assert (d.outcome, d.reason) == ("suppress", "quiet_hours")


def test_quiet_hours_in_the_users_zone_not_utc() -> None:
    now = utc(2024, 6, 1, 23)  # night in UTC, 08:00 in Tokyo
    assert decide(offer(now), facts(timezone="Asia/Tokyo"), now, policy()).outcome == "send"
    assert decide(offer(now), facts(timezone="UTC"), now, policy()).outcome == "hold"


def test_unknown_time_zone_uses_the_default() -> None:
    now = utc(2024, 6, 1, 14)  # 23:00 in Tokyo
    p = policy(default_timezone="Asia/Tokyo")
    assert decide(offer(now), facts(timezone="Mars/Olympus"), now, p).outcome == "hold"
    assert decide(offer(now), facts(timezone=None), now, p).outcome == "hold"
    assert decide(offer(now), facts(timezone="UTC"), now, p).outcome == "send"
