"""The CRM console through httpx against real Redis: sign-in, roles, CSRF, audit, pages."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from redis.exceptions import RedisError

from loadtest.stack import Stack
from recommender import audit
from recommender.api.app import create_app, start_services, stop_services
from recommender.api.fastpath import FastPath
from recommender.console.overrides import read_overrides
from recommender.console.passwords import hash_password
from recommender.console.sessions import SESSION_COOKIE, new_session, session_cookie
from recommender.engagement.gate import PushGate
from recommender.engagement.offers import candidate
from recommender.engagement.policy import CustomerFacts
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from schemas import OfferItem
from streams.pipeline import Ingest, RawRecord

pytestmark = pytest.mark.integration

SECRET = "s" * 40
ANALYST_PW, ADMIN_PW = "analyst-password", "admin-password"
# A cheap scrypt cost keeps the tests fast; the cost is part of each hash.
HASHES = {
    "ana": hash_password(ANALYST_PW, n=2**12),
    "root": hash_password(ADMIN_PW, n=2**12),
}
BASE = "http://console.test"


def _settings(namespace: dict[str, str]) -> Settings:
    return Settings(
        kafka_bootstrap=namespace["KAFKA_BOOTSTRAP"],
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
        api_keys_app=["app-key"],
        console_users={
            "ana": {"role": "analyst", "password": HASHES["ana"]},
            "root": {"role": "admin", "password": HASHES["root"]},
        },
        console_secret=SECRET,
    )


async def _seed(s: Settings, store: RedisStore) -> None:
    async def no_letters(_: object) -> None:
        raise AssertionError("no dead letters expected")

    ingest = Ingest(s, store, no_letters, consumer_name="test")
    now = time.time()
    catalog = [
        {
            "v": 1,
            "item_id": f"h-sanya-{i}",
            "item_type": "hotel",
            "destination": "sanya",
            "price": 500.0 + 50 * i,
            "currency": "CNY",
            "title": f"Sanya Bay Hotel {i}",
            "attributes": {"stars": 4},
            "updated_at": now - 3600,
        }
        for i in range(6)
    ]
    clicks = [
        {
            "v": 1,
            "event_id": f"e{i}",
            "user_id": "u1",
            "session_id": "s1",
            "action": "view",
            "item_id": f"h-sanya-{i}",
            "item_type": "hotel",
            "destination": "sanya",
            "ts": now - 60 + i,
        }
        for i in range(3)
    ]
    await ingest.apply(
        [RawRecord(s.topic("catalog"), 0, i, b"c", orjson.dumps(c)) for i, c in enumerate(catalog)]
    )
    await ingest.apply(
        [RawRecord(s.topic("clicks"), 0, i, b"u", orjson.dumps(c)) for i, c in enumerate(clicks)]
    )
    # One offer the policy suppresses: the customer never consented to any channel.
    gate = PushGate(store.r, store.keys, s.engagement)
    item = OfferItem(item_id="h-sanya-1", item_type="hotel", score=1.0, reason="Cheaper now")
    offer = candidate("u1", "price_drop", "h-sanya-1", now, [item], now=now, policy=s.engagement)
    await gate.decide_and_reserve(offer, CustomerFacts(consent={}), now=now)


@pytest.fixture
async def client(namespace: dict[str, str], stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    s = _settings(namespace)
    store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), "ingest")
    await _seed(s, store)
    app = create_app(s, store)
    await start_services(app)
    transport = httpx.ASGITransport(app=FastPath(app))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        c.store = store  # type: ignore[attr-defined]
        yield c
    await stop_services(app)
    await store.close()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def _sign_in(c: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await c.get("/console/sign-in")
    return await c.post(
        "/console/sign-in",
        data={"csrf": _csrf(form.text), "name": name, "password": password, "next": "/console"},
    )


async def test_signed_out_users_are_sent_to_sign_in_and_see_no_data(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/console/customers/u1")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fcustomers%2Fu1"
    assert "Sanya" not in r.text
    assert (await client.get("/console/api/overview")).status_code == 401
    assert (await client.post("/console/policy/kinds", data={})).status_code == 303


async def test_wrong_password_and_forged_form_are_refused(client: httpx.AsyncClient) -> None:
    r = await _sign_in(client, "ana", "not-the-password")
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert SESSION_COOKIE not in client.cookies
    r = await _sign_in(client, "nobody", ANALYST_PW)
    assert r.status_code == 401
    # A form without the sign-in token (what another site would post) is refused outright.
    r = await client.post("/console/sign-in", data={"name": "ana", "password": ANALYST_PW})
    assert r.status_code == 400 and SESSION_COOKIE not in client.cookies


async def test_analyst_sees_a_customer_and_the_lookup_is_audited(client: httpx.AsyncClient) -> None:
    r = await _sign_in(client, "ana", ANALYST_PW)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    started = time.time()
    page = await client.get("/console/customers/u1")
    assert page.status_code == 200
    for header in ("content-security-policy", "x-frame-options", "referrer-policy"):
        assert header in page.headers
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "Sanya Bay Hotel 2" in html  # recent activity, by title
    assert "no consent on any channel" in html  # the suppressed offer, with its reason
    assert "<svg" in html  # affinity bars, decision timeline
    store: RedisStore = client.store  # type: ignore[attr-defined]
    trail = await audit.query(store.r, store.keys, subject="u1", since=started - 1)
    assert [(e.actor, e.action) for e in trail] == [("ana", "customer_lookup")]
    # The lookup form redirects to the page; a malformed id gets a page, not data.
    r = await client.get("/console/customers", params={"user_id": "u1"})
    assert r.status_code == 303 and r.headers["location"] == "/console/customers/u1"
    assert (await client.get("/console/customers", params={"user_id": "a b"})).status_code == 400


async def test_analyst_gets_403_on_admin_actions(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "ana", ANALYST_PW)
    policy = await client.get("/console/policy")
    assert policy.status_code == 200 and "Switch off" not in policy.text
    token = _csrf(policy.text)  # the sign-out form's token: a valid one for this session
    r = await client.post(
        "/console/policy/kinds", data={"csrf": token, "kind": "price_drop", "switch": "off"}
    )
    assert r.status_code == 403 and "needs the admin role" in r.text
    assert (await client.get("/console/audit")).status_code == 403
    store: RedisStore = client.store  # type: ignore[attr-defined]
    assert (await read_overrides(store.r, store.keys)).kinds == {}


async def test_admin_switches_a_kind_off_with_csrf_and_it_is_audited(
    client: httpx.AsyncClient,
) -> None:
    await _sign_in(client, "root", ADMIN_PW)
    policy = await client.get("/console/policy")
    token = _csrf(policy.text)
    data = {"kind": "price_drop", "switch": "off"}
    forged = await client.post("/console/policy/kinds", data={**data, "csrf": "guess"})
    assert forged.status_code == 403
    other_site = await client.post(
        "/console/policy/kinds", data={**data, "csrf": token}, headers={"origin": "https://evil"}
    )
    assert other_site.status_code == 403
    store: RedisStore = client.store  # type: ignore[attr-defined]
    assert (await read_overrides(store.r, store.keys)).kinds == {}
    r = await client.post("/console/policy/kinds", data={**data, "csrf": token})
    assert r.status_code == 303
    assert (await read_overrides(store.r, store.keys)).kinds == {"price_drop": False}
    after = await client.get("/console/policy")
    assert "Switch on" in after.text
    trail = await audit.query(store.r, store.keys, subject="kind:price_drop")
    assert [(e.actor, e.action, e.detail) for e in trail] == [("root", "kill_switch", "off")]
    audit_page = await client.get("/console/audit", params={"subject": "kind:price_drop"})
    assert audit_page.status_code == 200 and "kill_switch" in audit_page.text
    # For a customer, the page merges their offer decisions in (GET /v1/admin/audit's query).
    customer = await client.get("/console/audit", params={"subject": "u1"})
    assert customer.status_code == 200
    assert "offer_suppressed" in customer.text and "(no_consent)" in customer.text


async def test_expired_tampered_and_orphaned_sessions_are_refused(
    client: httpx.AsyncClient,
) -> None:
    now = time.time()
    expired = new_session("ana", HASHES["ana"], now=now - 100, ttl_s=60)
    stale_pw = new_session("ana", "scrypt$other", now=now, ttl_s=60)
    gone = new_session("mallory", HASHES["ana"], now=now, ttl_s=60)
    good = session_cookie(new_session("ana", HASHES["ana"], now=now, ttl_s=60), SECRET)
    for value in (
        session_cookie(expired, SECRET),
        session_cookie(stale_pw, SECRET),
        session_cookie(gone, SECRET),
        good[:-2] + "xx",
        session_cookie(new_session("ana", HASHES["ana"], now=now, ttl_s=60), "k" * 40),
    ):
        client.cookies.set(SESSION_COOKIE, value, domain="console.test", path="/console")
        r = await client.get("/console/customers")
        assert r.status_code == 303, value
    client.cookies.set(SESSION_COOKIE, good, domain="console.test", path="/console")
    assert (await client.get("/console/customers")).status_code == 200


async def test_overview_json_and_static_files(client: httpx.AsyncClient) -> None:
    await _sign_in(client, "ana", ANALYST_PW)
    body = (await client.get("/console/api/overview")).json()
    topics = {r["topic"]: r for r in body["topics"]}
    assert topics["clicks"]["ingest"] == 3 and topics["catalog"]["ingest"] == 6
    assert body["index"]["loaded"] and body["index"]["size"] == 6
    # No offer totals from the worker yet: offers come from a sample of decision logs.
    assert body["offers"]["source"].startswith("sample")
    assert body["offer_series"]["unit"] == "per min"
    page = await client.get("/console/overview")
    assert page.status_code == 200 and "overview.js" in page.text
    css = await client.get("/console/static/console.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    r = await client.post("/console/sign-out", data={"csrf": _csrf(page.text)})
    assert r.status_code == 303
    assert (await client.get("/console/api/overview")).status_code == 401


async def test_a_lookup_that_cannot_be_audited_shows_nothing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _sign_in(client, "ana", ANALYST_PW)

    async def audit_down(*args: object, **kwargs: object) -> str:
        raise RedisError("audit stream unavailable")

    monkeypatch.setattr(audit, "append", audit_down)
    r = await client.get("/console/customers/u1")
    assert r.status_code == 503
    assert "could not be recorded in the audit trail" in r.text
    assert "Sanya" not in r.text
