"""Erasure with a real worker: afterwards no Redis key or index entry names the user, a
tombstone is on `erasures`, the erasure itself is on record (without the id), and later
events from the same id start a fresh profile with consent off."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer

from loadtest.workers import WorkerProcess
from recommender.api.app import create_app, start_services, stop_services
from recommender.engagement import codec
from recommender.engagement.offers import candidate
from recommender.keys import Keys
from recommender.popularity import day_of
from recommender.settings import Settings
from schemas import OfferItem
from streams.engage_offers import candidate_blob
from streams.topics import ensure_topics
from tests.integration.test_engage_pipeline import NOON, booking, click, complaint, consent
from tests.integration.test_engage_worker import produce, wait_for

pytestmark = pytest.mark.integration
GONE, STAYS = "erase-me-7f3a", "stays-2b9c"
ADMIN = "erasure-admin-key"


def mentions(client: redis.Redis, prefix: str, needle: bytes) -> list[str]:
    """Every key of the namespace whose name or content contains `needle` (brute force)."""
    found: list[str] = []
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        kind = client.type(key)
        if needle in key:
            found.append(key.decode())
            continue
        if kind == b"string":
            parts = [client.get(key) or b""]
        elif kind == b"hash":
            parts = [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == b"zset":
            parts = client.zrange(key, 0, -1)
        elif kind == b"set":
            parts = list(client.smembers(key))
        elif kind == b"list":
            parts = client.lrange(key, 0, -1)
        elif kind == b"stream":
            parts = [b for _, f in client.xrange(key) for kv in f.items() for b in kv]
        else:
            parts = []
        if any(needle in p for p in parts):
            found.append(f"{key.decode()} ({kind.decode()})")
    return found


async def _erase(s: Settings, user: str) -> httpx.Response:
    app = create_app(s)
    await start_services(app)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            r = await c.delete(f"/v1/admin/users/{user}", headers={"X-API-Key": "app-only"})
            assert r.status_code == 403  # an app key may not erase
            return await c.delete(f"/v1/admin/users/{user}", headers={"X-API-Key": ADMIN})
    finally:
        await stop_services(app)


async def _tombstones(s: Settings) -> list[tuple[bytes | None, bytes | None]]:
    c = AIOKafkaConsumer(
        s.topic("erasures"), bootstrap_servers=s.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await c.start()
    try:
        got = await c.getmany(timeout_ms=5000)
        return [(m.key, m.value) for msgs in got.values() for m in msgs]
    finally:
        await c.stop()


def test_erasure_leaves_nothing_behind_and_a_record_that_it_happened(
    namespace: dict[str, str], rclient: redis.Redis, tmp_path: Path
) -> None:
    s = Settings(
        kafka_bootstrap=namespace["KAFKA_BOOTSTRAP"],
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
        app_id=namespace["RECO_APP_ID"],
        api_keys_app=["app-only"],
        api_keys_admin=[ADMIN],
    )
    keys = Keys(s.key_prefix)
    hotel = {"item_id": "h1", "item_type": "hotel", "destination": "paris", "price": 100.0}
    rclient.set(keys.item("h1"), orjson.dumps({**hotel, "currency": "CNY", "active": True}))
    rclient.zadd(keys.popularity(day_of(NOON), "paris"), {"h1": 5.0})
    asyncio.run(ensure_topics(s))
    env = {**namespace, "RECO_ENGAGE_CLOCK": "event"}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        events = []
        for u in (GONE, STAYS):
            events += [
                consent(u, NOON - 600),
                click(u, NOON - 500, price=120.0),  # a watcher of h1
                click(u, NOON - 400, action="search", destination="rome"),  # abandoned search
                booking(u, NOON),  # a flight: cross-sell offer, decision log
                complaint(u, NOON + 10),
            ]
        asyncio.run(produce(s.kafka_bootstrap, s.topic_prefix, events))
        wait_for(
            lambda: rclient.hget(keys.engage_stats(), "applied:feedback") == b"2",
            60,
            worker,
            "the engagement events",
        )
        wait_for(lambda: rclient.exists(keys.user(GONE)) == 1, 30, worker, "the profile")
        # What else would name the user: a held offer and a console lookup.
        item = OfferItem(item_id="h1", item_type="hotel", score=1.0, reason="for you")
        held = candidate(GONE, "price_drop", "h1", NOON, [item], now=NOON, policy=s.engagement)
        rclient.zadd(keys.held_offers(), {candidate_blob(held): NOON + 3600})
        rclient.xadd(
            keys.audit(), {"actor": "ana", "action": "customer_lookup", "subject": GONE, "ts": "1"}
        )
        before = mentions(rclient, s.key_prefix, GONE.encode())
        assert len(before) >= 6, before  # profile, customer, facts, watchers, due, held, ...

        r = asyncio.run(_erase(s, GONE))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["keys_deleted"] >= 3 and body["index_entries_removed"]["watchers"] == 1
        assert mentions(rclient, s.key_prefix, GONE.encode()) == []
        # The item's highest seen price stays (it names nobody; an over-estimate is harmless).
        assert rclient.zrange(keys.watcher_max_price("h1"), 0, -1, withscores=True) == [
            (b"max", 120.0)
        ]
        # The other customer is untouched.
        assert rclient.exists(keys.user(STAYS), keys.customer(STAYS)) == 2
        assert rclient.zscore(keys.watchers("h1"), STAYS) is not None
        # The erasure is on record, naming nobody.
        records = [f for _, f in rclient.xrange(keys.audit()) if f[b"action"] == b"erasure"]
        assert len(records) == 1 and records[0][b"subject"].startswith(b"erased:")
        assert asyncio.run(_tombstones(s)) == [(GONE.encode(), None)]

        # Later events from the same id: a fresh profile, no consent, no history.
        asyncio.run(produce(s.kafka_bootstrap, s.topic_prefix, [click(GONE, NOON + 3600)]))
        wait_for(lambda: rclient.exists(keys.customer(GONE)) == 1, 30, worker, "a fresh state")
        fresh = codec.loads(rclient.get(keys.customer(GONE)) or b"")
        assert fresh.granted() == {} and fresh.n_bookings == 0 and fresh.points == 0
        time.sleep(0.5)
    finally:
        worker.stop()


async def _second_pass(url: str, keys: Keys, user: str, erased_at: float) -> None:
    import redis.asyncio as aioredis

    from recommender.erasure import erase_later

    client = aioredis.Redis.from_url(url)
    try:
        await erase_later(client, keys, user, erased_at, delay_s=0)
    finally:
        await client.aclose()


def test_second_pass_removes_write_backs_but_not_a_fresh_start(
    namespace: dict[str, str], rclient: redis.Redis
) -> None:
    from recommender.engagement.config import EngagementPolicy
    from recommender.engagement.segments import touch
    from recommender.engagement.state import CustomerState

    keys, policy = Keys(namespace["RECO_KEY_PREFIX"]), EngagementPolicy()
    erased_at = 1_000_000.0
    # A batch read before the erasure writes the old state back: the second pass removes it.
    rclient.set(keys.customer(GONE), codec.dumps(touch(CustomerState(), erased_at - 60, policy)))
    asyncio.run(_second_pass(namespace["REDIS_URL"], keys, GONE, erased_at))
    assert rclient.exists(keys.customer(GONE)) == 0
    # Activity after the erasure is the user's fresh start: left alone.
    rclient.set(keys.customer(GONE), codec.dumps(touch(CustomerState(), erased_at + 60, policy)))
    asyncio.run(_second_pass(namespace["REDIS_URL"], keys, GONE, erased_at))
    assert rclient.exists(keys.customer(GONE)) == 1
