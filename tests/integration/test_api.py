"""The HTTP API through httpx against real Redis: auth, errors, profile, health, metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import Depends, FastAPI

from loadtest.stack import Stack, free_port
from recommender.api.app import create_app, start_services, stop_services
from recommender.api.auth import require
from recommender.api.fastpath import FastPath
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from streams.pipeline import Ingest, RawRecord

pytestmark = pytest.mark.integration

APP_KEY, ADMIN_KEY = "app-key-123", "admin-key-456"
ADMIN = {"X-API-Key": ADMIN_KEY}


def _settings(namespace: dict[str, str]) -> Settings:
    return Settings(
        kafka_bootstrap=namespace["KAFKA_BOOTSTRAP"],
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
        api_keys_app=[APP_KEY],
        api_keys_admin=[ADMIN_KEY],
    )


@pytest.fixture
async def client(namespace: dict[str, str], stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    s = _settings(namespace)
    store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), "ingest")

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
            "attributes": {"stars": 3 + i % 3},
            "updated_at": now - 3600,
        }
        for i in range(8)
    ] + [
        {
            "v": 1,
            "item_id": f"t-tokyo-{i}",
            "item_type": "tour",
            "destination": "tokyo",
            "price": 300.0,
            "currency": "CNY",
            "updated_at": now - 3600,
        }
        for i in range(4)
    ]
    await ingest.apply(
        [RawRecord(s.topic("catalog"), 0, i, b"c", orjson.dumps(c)) for i, c in enumerate(catalog)]
    )
    others = [
        {
            "v": 1,
            "event_id": f"o{i}",
            "user_id": f"u{100 + i}",
            "session_id": "s9",
            "action": "view",
            "item_id": f"t-tokyo-{i % 4}",
            "item_type": "tour",
            "destination": "tokyo",
            "ts": now - 30,
        }
        for i in range(6)
    ]
    await ingest.apply(
        [RawRecord(s.topic("clicks"), 1, i, b"o", orjson.dumps(c)) for i, c in enumerate(others)]
    )
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
            "price": 600.0,
            "currency": "CNY",
            "ts": now - 60 + i,
        }
        for i in range(5)
    ]
    await ingest.apply(
        [RawRecord(s.topic("clicks"), 0, i, b"u1", orjson.dumps(c)) for i, c in enumerate(clicks)]
    )
    app = create_app(s, store)
    await start_services(app)
    # Through the fast path, as `python -m recommender serve` runs it.
    transport = httpx.ASGITransport(app=FastPath(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        c.app = app  # type: ignore[attr-defined]
        c.ingest = ingest  # type: ignore[attr-defined]
        yield c
    await stop_services(app)
    await store.close()


async def test_profile_of_a_known_user(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/u1/profile", headers={"X-API-Key": APP_KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["events"] == 5
    assert body["affinities"]["dest"][0]["key"] == "sanya"
    assert body["recent_items"][0]["item_id"] == "h-sanya-4"
    assert body["has_embedding"] and 0 <= body["seconds_since_active"] < 120


async def test_profile_shows_segments_lifecycle_and_loyalty(client: httpx.AsyncClient) -> None:
    from recommender.engagement import codec
    from recommender.engagement.config import EngagementPolicy
    from recommender.engagement.loyalty import apply_booking
    from recommender.engagement.segments import touch
    from recommender.engagement.signals import apply_feedback
    from recommender.engagement.state import CustomerState

    h = {"X-API-Key": APP_KEY}
    before = (await client.get("/v1/users/u1/profile", headers=h)).json()
    assert before["segments"] is None  # engagement has not seen u1 yet
    url = "/v1/users/u1/recommendations?k=20"
    order_before = [i["item_id"] for i in (await client.get(url, headers=h)).json()["items"]]
    policy, now = EngagementPolicy(), time.time()
    s = touch(CustomerState(), now - 120, policy)
    s = apply_booking(
        s,
        booking_id="b1",
        status="confirmed",
        ts=now - 100,
        amount=2000.0,
        item_id="h-sanya-1",
        item_type="hotel",
        destination="sanya",
        policy=policy,
    )
    s = apply_feedback(
        s, kind="complaint", ts=now - 50, item_id="h-sanya-2", rating=None, policy=policy
    )
    store = client.app.state.store  # type: ignore[attr-defined]
    await store.r.set(store.keys.customer("u1"), codec.dumps(s))
    seg = (await client.get("/v1/users/u1/profile", headers=h)).json()["segments"]
    assert seg["lifecycle_stage"] == "new"
    assert seg["loyalty"]["points"] == s.points > 0
    assert seg["value_tier"] in ("high_value", "potential", "at_risk", "dormant")
    assert seg["marketing_hold_until"] > now
    assert "h-sanya-2" in seg["feedback_penalties"]
    # The complaint moves that hotel down u1's list.
    order_after = [i["item_id"] for i in (await client.get(url, headers=h)).json()["items"]]
    assert order_after.index("h-sanya-2") > order_before.index("h-sanya-2")
    # A customer engagement knows but the profile does not still gets a 200.
    await store.r.set(store.keys.customer("only-crm"), codec.dumps(s))
    r = await client.get("/v1/users/only-crm/profile", headers=h)
    assert r.status_code == 200 and r.json()["segments"]["bookings"] == 1


async def test_unknown_user_is_404_with_a_message(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/nobody/profile", headers={"X-API-Key": APP_KEY})
    assert r.status_code == 404
    assert "nobody" in r.json()["error"]


async def test_bad_user_id_names_the_parameter(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/a@b.com/profile", headers={"X-API-Key": APP_KEY})
    assert r.status_code == 400
    assert "user_id" in r.json()["error"]


async def test_keys_are_required_and_checked(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/u1/profile")
    assert r.status_code == 401 and "X-API-Key" in r.json()["error"]
    r = await client.get("/v1/users/u1/profile", headers={"X-API-Key": "wrong"})
    assert r.status_code == 401
    r = await client.get("/v1/users/u1/profile", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200


async def test_app_key_cannot_use_admin_scope(namespace: dict[str, str]) -> None:
    app = FastAPI()
    app.state.settings = _settings(namespace)

    @app.get("/admin-only", dependencies=[Depends(require("admin"))])
    async def admin_only() -> dict[str, str]:
        return {"ok": "yes"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        assert (await c.get("/admin-only", headers={"X-API-Key": APP_KEY})).status_code == 403
        assert (await c.get("/admin-only", headers={"X-API-Key": ADMIN_KEY})).status_code == 200


async def test_recommendations_for_a_known_user(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/u1/recommendations?k=5", headers={"X-API-Key": APP_KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["known_user"] and len(body["items"]) == 5
    ids = [i["item_id"] for i in body["items"]]
    assert "h-sanya-4" not in ids  # the item just viewed is not offered back first
    assert all(i["reason"] for i in body["items"])
    # The user only looked at Sanya hotels: they lead the list, with at most 3 per group.
    assert body["items"][0]["destination"] == "sanya"
    assert sum(1 for i in body["items"] if i["item_type"] == "hotel") <= 3 or len(ids) > 5


async def test_fast_path_and_fastapi_route_agree(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]
    plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plain")
    h = {"X-API-Key": APP_KEY}
    async with plain:
        for query in ("k=5", "k=3&item_types=tour", "k=0", "item_types=boat", "destination=X!"):
            fast = await client.get(f"/v1/users/u1/recommendations?{query}", headers=h)
            slow = await plain.get(f"/v1/users/u1/recommendations?{query}", headers=h)
            assert fast.status_code == slow.status_code, query
            if fast.status_code == 200:
                assert fast.json() == slow.json(), query
            else:
                assert fast.json()["error"].split(":")[0] == slow.json()["error"].split(":")[0]
        for headers in ({}, {"X-API-Key": "nope"}):
            fast = await client.get("/v1/users/u1/recommendations", headers=headers)
            slow = await plain.get("/v1/users/u1/recommendations", headers=headers)
            assert fast.status_code == slow.status_code == 401
            assert fast.json() == slow.json()


async def test_unknown_user_gets_fallback_offers(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/newcomer/recommendations?k=3", headers={"X-API-Key": APP_KEY})
    assert r.status_code == 200
    body = r.json()
    assert body["fallback"] and not body["known_user"]
    assert [i["item_id"] for i in body["items"]] and all(
        i["item_id"].startswith(("t-tokyo", "h-sanya")) for i in body["items"]
    )
    assert body["items"][0]["reason"] == "trending now"


async def test_filters_and_bad_parameters(client: httpx.AsyncClient) -> None:
    h = {"X-API-Key": APP_KEY}
    r = await client.get("/v1/users/u1/recommendations?item_types=tour&k=3", headers=h)
    assert r.status_code == 200 and {i["item_type"] for i in r.json()["items"]} == {"tour"}
    r = await client.get("/v1/users/u1/recommendations?exclude=h-sanya-3,h-sanya-2", headers=h)
    assert not {"h-sanya-3", "h-sanya-2"} & {i["item_id"] for i in r.json()["items"]}
    r = await client.get("/v1/users/u1/recommendations?k=0", headers=h)
    assert r.status_code == 400 and "'k'" in r.json()["error"]
    r = await client.get("/v1/users/u1/recommendations?item_types=boat", headers=h)
    assert r.status_code == 400 and "item_types" in r.json()["error"]
    r = await client.get("/v1/users/u1/recommendations?destination=Sanya!", headers=h)
    assert r.status_code == 400 and "destination" in r.json()["error"]


async def test_similar_items_and_deactivation(client: httpx.AsyncClient) -> None:
    h = {"X-API-Key": APP_KEY}
    r = await client.get("/v1/items/h-sanya-1/similar?k=3", headers=h)
    assert r.status_code == 200
    similar = [i["item_id"] for i in r.json()["items"]]
    assert len(similar) == 3 and "h-sanya-1" not in similar
    assert all(i.startswith("h-sanya") for i in similar)
    assert (await client.get("/v1/items/nope/similar", headers=h)).status_code == 404
    # Deactivate the best neighbour through the worker path; the API follows the change log.
    gone = similar[0]
    s = client.app.state.settings  # type: ignore[attr-defined]
    off = {
        "v": 1,
        "item_id": gone,
        "item_type": "hotel",
        "destination": "sanya",
        "price": 500.0,
        "currency": "CNY",
        "active": False,
        "updated_at": time.time(),
    }
    await client.ingest.apply([RawRecord(s.topic("catalog"), 0, 100, b"c", orjson.dumps(off))])  # type: ignore[attr-defined]
    await client.app.state.recommender.catalog.apply_changes(block_ms=100)  # type: ignore[attr-defined]
    r = await client.get("/v1/items/h-sanya-1/similar?k=10", headers=h)
    assert gone not in [i["item_id"] for i in r.json()["items"]]
    r = await client.get("/v1/users/u1/recommendations?k=20", headers=h)
    assert gone not in [i["item_id"] for i in r.json()["items"]]
    assert (await client.get(f"/v1/items/{gone}/similar", headers=h)).status_code == 404


async def test_health_ready_metrics_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    await client.get("/v1/users/u1/profile", headers={"X-API-Key": APP_KEY})
    hot = "/v1/users/{user_id}/recommendations"

    def count(text: str, status: str) -> float:
        line = f'reco_api_requests_total{{route="{hot}",status="{status}"}} '
        found = [ln for ln in text.splitlines() if ln.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    before = (await client.get("/metrics")).text
    await client.get("/v1/users/u1/recommendations", headers={"X-API-Key": APP_KEY})
    await client.get("/v1/users/u1/recommendations?k=0", headers={"X-API-Key": APP_KEY})
    metrics = (await client.get("/metrics")).text
    assert 'reco_api_requests_total{route="/v1/users/{user_id}/profile",status="200"}' in metrics
    # The hot route is answered in front of FastAPI (fastpath.py) and still counted.
    assert count(metrics, "200") == count(before, "200") + 1
    assert count(metrics, "400") == count(before, "400") + 1
    assert f'reco_api_request_seconds_count{{route="{hot}"}}' in metrics
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/users/{user_id}/profile" in spec["paths"]


async def test_not_ready_without_redis(namespace: dict[str, str]) -> None:
    s = _settings(namespace)
    dead = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", Keys("x"), "ingest")
    app = create_app(s, dead)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        r = await c.get("/readyz")
        assert "index" in r.json()["checks"]
        assert r.status_code == 503 and r.json()["ready"] is False
        r = await c.get("/v1/users/u1/profile", headers={"X-API-Key": APP_KEY})
        assert r.status_code == 503 and "unavailable" in r.json()["error"]
    await dead.close()


def test_serve_starts_answers_and_stops(namespace: dict[str, str]) -> None:
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    env = {
        **os.environ,
        **namespace,
        "RECO_API_PORT": str(port),
        "RECO_API_KEYS_APP": f'["{APP_KEY}"]',
    }
    no_keys = subprocess.run(
        [sys.executable, "-m", "recommender", "serve"],
        env={**env, "RECO_API_KEYS_APP": "[]"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert no_keys.returncode == 2 and "RECO_API_KEYS_APP" in no_keys.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "recommender", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "API did not start"
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        r = httpx.get(f"http://127.0.0.1:{port}/v1/users/u1/profile", headers={"X-API-Key": "x"})
        assert r.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15).
        assert proc.wait(15) in (0, -signal.SIGTERM)


async def test_published_model_is_picked_up_without_restart(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    import numpy as np

    from recommender.model import Model, NextItems, publish, save
    from recommender.model_sessions import Sessions
    from recommender.sessionrec import SequentialRules

    app = client.app  # type: ignore[attr-defined]
    h = {"X-API-Key": APP_KEY}
    before = (await client.get("/v1/users/u1/recommendations?k=5", headers=h)).json()
    assert before["model_version"] is None
    # Travellers who look at h-sanya-3 go on to the Tokyo tour t-tokyo-2.
    rules = SequentialRules()
    for _ in range(5):
        rules.add_session(["h-sanya-3", "t-tokyo-2"], 0.0)
    ids = ["h-sanya-3", "t-tokyo-2"]
    index = {i: n for n, i in enumerate(ids)}
    model = Model.create(
        ids,
        np.eye(2, 32, dtype=np.float32),
        {"sr": NextItems.from_rules(rules.rules, index, 10)},
        {},
        created_at=time.time(),
        sessions=Sessions.from_lists([ids] * 5, index, keep=100),
    )
    save(model, tmp_path)
    store = app.state.store
    await publish(tmp_path, model.version, store.r, store.keys)
    # What the background poll does every few seconds:
    await app.state.model_view.refresh(app.state.model_watcher)
    # u1's recent items are h-sanya-4 (newest), h-sanya-3, ...: the past sessions through
    # h-sanya-3 lead to the tour, and the reason names the item viewed last.
    after = (await client.get("/v1/users/u1/recommendations?k=5", headers=h)).json()
    assert after["model_version"] == model.version
    tour = next(i for i in after["items"] if i["item_id"] == "t-tokyo-2")
    assert tour["source"] == "session"
    assert tour["reason"] == "because you viewed Sanya Bay Hotel 4"


async def test_admin_consent_change_is_published_as_a_consent_event(
    client: httpx.AsyncClient,
) -> None:
    from aiokafka import AIOKafkaConsumer

    from schemas import decode
    from streams.topics import ensure_topics

    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    await ensure_topics(settings)
    url = "/v1/admin/users/u1/consent"
    body = {"channel": "push", "granted": True, "timezone": "Asia/Shanghai"}
    r = await client.put(url, json=body, headers={"X-API-Key": APP_KEY})
    assert r.status_code == 403  # the app backend's key may not change consent
    r = await client.put(url, json={**body, "timezone": "Mars/Olympus"}, headers=ADMIN)
    assert r.status_code == 400 and "timezone" in r.json()["error"]
    r = await client.put(url, json={**body, "channel": "fax"}, headers=ADMIN)
    assert r.status_code == 400 and "channel" in r.json()["error"]
    r = await client.put(url, json=body, headers=ADMIN)
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    consumer = AIOKafkaConsumer(
        settings.topic("consent"),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    events = [decode("consent", m.value) for msgs in got.values() for m in msgs]
    assert [(e.event_id, e.user_id, e.channel, e.granted, e.timezone) for e in events] == [
        (event_id, "u1", "push", True, "Asia/Shanghai")
    ]
    # The change is on the audit trail: who (a key digest, not the key), whom, what.
    store = client.app.state.store  # type: ignore[attr-defined]
    entries = [f for _, f in await store.r.xrange(store.keys.audit())]
    assert [(f[b"action"], f[b"subject"], f[b"detail"]) for f in entries] == [
        (b"consent_change", b"u1", b"push=granted")
    ]
    assert entries[0][b"actor"].startswith(b"admin-api:")
    assert ADMIN_KEY.encode() not in entries[0][b"actor"]
