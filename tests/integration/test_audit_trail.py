"""The audit query against real Redis and the broker: a consent change through the admin
API and offers decided by the real push gate come back for one user, merged in time order,
filtered by time; bad ranges are 400, other keys 401/403; the console shows the same."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from datetime import time as clock

import httpx
import pytest

from loadtest.stack import Stack
from recommender.api.app import create_app, start_services, stop_services
from recommender.api.fastpath import FastPath
from recommender.audit_trail import user_trail
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import PushGate
from recommender.engagement.offers import candidate
from recommender.engagement.policy import CustomerFacts
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from schemas import OfferItem
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration
APP_KEY, ADMIN_KEY = "audit-app-key", "audit-admin-key"
ADMIN = {"X-API-Key": ADMIN_KEY}
USER, OTHER = "aud-1", "aud-2"
ITEM = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="Cheaper now")
POLICY = EngagementPolicy(quiet_start=clock(0), quiet_end=clock(0))  # no quiet hours
OPTED_OUT = CustomerFacts(consent={"push": False}, timezone="UTC")
OPTED_IN = CustomerFacts(consent={"push": True}, timezone="UTC")


def iso(ts: float, hours: int = 0) -> str:
    return datetime.fromtimestamp(ts, timezone(timedelta(hours=hours))).isoformat()


@pytest.fixture
async def api(namespace: dict[str, str], stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    s = Settings(
        kafka_bootstrap=namespace["KAFKA_BOOTSTRAP"],
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
        api_keys_app=[APP_KEY],
        api_keys_admin=[ADMIN_KEY],
    )
    await ensure_topics(s, ["consent", "erasures"])
    store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), "ingest")
    app = create_app(s, store)
    await start_services(app)
    transport = httpx.ASGITransport(app=FastPath(app))  # as `python -m recommender serve`
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        c.store = store  # type: ignore[attr-defined]
        yield c
    await stop_services(app)
    await store.close()


async def decide(store: RedisStore, user: str, facts: CustomerFacts, at: float) -> str:
    gate = PushGate(store.r, store.keys, POLICY)
    offer = candidate(user, "price_drop", "h1", at, [ITEM], now=at, policy=POLICY)
    d = await gate.decide_and_reserve(offer, facts, now=at)
    return d.outcome


async def test_consent_change_and_offer_decisions_in_time_order(api: httpx.AsyncClient) -> None:
    store: RedisStore = api.store  # type: ignore[attr-defined]
    t = time.time()
    assert await decide(store, USER, OPTED_OUT, t - 20) == "suppress"
    assert await decide(store, OTHER, OPTED_IN, t - 15) == "send"  # someone else's
    consent = {"channel": "push", "granted": True}
    r = await api.put(f"/v1/admin/users/{USER}/consent", json=consent, headers=ADMIN)
    assert r.status_code == 202, r.text
    assert await decide(store, USER, OPTED_IN, t + 30) == "send"

    r = await api.get("/v1/admin/audit", params={"user": USER}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    got = [(e["source"], e["action"], e["detail"]) for e in body["entries"]]
    assert got == [  # newest first
        ("offer", "offer_sent", ""),
        ("admin", "consent_change", "push=granted"),
        ("offer", "offer_suppressed", "no_consent"),
    ]
    sent, change, suppressed = body["entries"]
    assert sent["offer"]["kind"] == "price_drop" and sent["offer"]["item"] == "h1"
    assert sent["actor"] == "push-gate" and sent["subject"] == USER
    assert change["actor"].startswith("admin-api:") and ADMIN_KEY not in change["actor"]
    assert suppressed["offer"]["outcome"] == "suppress" and suppressed["at"] == pytest.approx(
        t - 20
    )
    assert "RECO_CONSOLE_AUDIT_DAYS" in body["retention"]["admin"]

    # Filtered by time: the window [t - 10, t + 10] holds only the consent change.
    window = {"user": USER, "since": iso(t - 10), "until": iso(t + 10)}
    r = await api.get("/v1/admin/audit", params=window, headers=ADMIN)
    assert [e["action"] for e in r.json()["entries"]] == ["consent_change"]
    # Any offset; `limit` keeps the newest.
    r = await api.get(
        "/v1/admin/audit", params={"user": USER, "since": iso(t - 10, 8)}, headers=ADMIN
    )
    assert [e["action"] for e in r.json()["entries"]] == ["offer_sent", "consent_change"]
    r = await api.get("/v1/admin/audit", params={"user": USER, "limit": 1}, headers=ADMIN)
    assert [e["action"] for e in r.json()["entries"]] == ["offer_sent"]

    # Without a user: admin actions about anyone, no offer decisions.
    r = await api.get("/v1/admin/audit", headers=ADMIN)
    assert [(e["action"], e["subject"]) for e in r.json()["entries"]] == [("consent_change", USER)]
    # The console's audit page runs the same query.
    trail = await user_trail(store.r, store.keys, USER)
    assert [e.action for e in trail] == [e["action"] for e in body["entries"]]


async def test_erasure_is_on_the_users_trail_and_their_decisions_are_gone(
    api: httpx.AsyncClient,
) -> None:
    store: RedisStore = api.store  # type: ignore[attr-defined]
    assert await decide(store, USER, OPTED_IN, time.time() - 5) == "send"
    r = await api.delete(f"/v1/admin/users/{USER}", headers=ADMIN)
    assert r.status_code == 200, r.text
    r = await api.get("/v1/admin/audit", params={"user": USER}, headers=ADMIN)
    entries = r.json()["entries"]
    assert [e["action"] for e in entries] == ["erasure"]
    assert USER not in entries[0]["subject"] and entries[0]["subject"].startswith("erased:")


async def test_bad_requests_and_other_keys(api: httpx.AsyncClient) -> None:
    now = time.time()
    bad_range = {"user": USER, "since": iso(now), "until": iso(now - 60)}
    r = await api.get("/v1/admin/audit", params=bad_range, headers=ADMIN)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid time range: 'since' is after 'until'"
    for since in ("yesterday", "1733380000", "2026-12-05", "2026-12-05T08:00:00"):
        r = await api.get("/v1/admin/audit", params={"since": since}, headers=ADMIN)
        assert r.status_code == 400 and "since" in r.json()["error"], since
    r = await api.get("/v1/admin/audit", params={"user": "a@b.com"}, headers=ADMIN)
    assert r.status_code == 400 and "user" in r.json()["error"]
    r = await api.get("/v1/admin/audit", params={"limit": 0}, headers=ADMIN)
    assert r.status_code == 400 and "limit" in r.json()["error"]
    r = await api.get("/v1/admin/audit", params={"user": USER}, headers={"X-API-Key": APP_KEY})
    assert r.status_code == 403 and "admin" in r.json()["error"]
    r = await api.get("/v1/admin/audit", params={"user": USER})
    assert r.status_code == 401
