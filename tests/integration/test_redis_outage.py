"""Redis stops answering in the middle of ingest (the process is paused, as in a network
partition): the worker backs off without committing offsets and catches up afterwards,
ending exactly at the ground truth; meanwhile the API answers 200 from what it has, says
so in a header, and /readyz reports not ready.

RECO_FAULT_OUTAGE_S sets the outage (8 s here; `make soak` runs 30 s).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack, start_redis
from loadtest.workers import WorkerProcess, processed, wait_processed
from loadtest.world import World
from recommender.api.app import create_app, start_services, stop_services
from recommender.api.fastpath import FastPath
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from tests.reference import assert_matches_truth, ground_truth

pytestmark = pytest.mark.integration
OUTAGE_S = float(os.environ.get("RECO_FAULT_OUTAGE_S", "8"))
N_EVENTS = 16_000
KEY = "outage-key"


async def _wait(event: threading.Event) -> None:
    await asyncio.to_thread(event.wait, 120)


async def _api_during_outage(
    s: Settings, warmed: threading.Event, paused: threading.Event, resumed: threading.Event
) -> dict[str, object]:
    app = create_app(s)
    await start_services(app)  # while Redis still answers: catalog and index are loaded
    seen: dict[str, object] = {}
    try:
        transport = httpx.ASGITransport(app=FastPath(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            h = {"X-API-Key": KEY}
            # Warm the popular-items cache, as traffic would have before the outage.
            r = await c.get("/v1/users/nobody/recommendations", headers=h)
            seen["before"] = (r.status_code, len(r.json()["items"]))
            warmed.set()
            await _wait(paused)
            await asyncio.sleep(1.0)
            t0 = time.monotonic()
            r = await c.get("/v1/users/u00001/recommendations", headers=h)
            seen["during"] = (
                r.status_code,
                r.headers.get("x-reco-degraded"),
                len(r.json()["items"]),
            )
            seen["during_s"] = time.monotonic() - t0
            r = await c.get("/readyz")
            seen["ready_during"] = (r.status_code, r.json()["checks"]["redis"])
            await _wait(resumed)
            await asyncio.sleep(0.5)
            r = await c.get("/readyz")
            seen["ready_after"] = r.status_code
            r = await c.get("/v1/users/u00001/recommendations", headers=h)
            seen["after"] = (r.status_code, r.headers.get("x-reco-degraded"))
    finally:
        await stop_services(app)
    return seen


def test_redis_outage_mid_ingest_loses_nothing_and_the_api_degrades(
    namespace: dict[str, str], stack: Stack, tmp_path: Path
) -> None:
    redis_url, redis_svc = start_redis(workdir=tmp_path)
    env = {
        **namespace,
        "REDIS_URL": redis_url,
        "RECO_BATCH_SIZE": "400",
        "RECO_REDIS_RETRY_S": str(OUTAGE_S * 4 + 30),
        "RECO_ENGAGE_ENABLED": "false",
        "RECO_AFFINITY_MAX_KEYS": "500",
    }
    s = Settings(
        kafka_bootstrap=env["KAFKA_BOOTSTRAP"],
        redis_url=redis_url,
        topic_prefix=env["RECO_TOPIC_PREFIX"],
        key_prefix=env["RECO_KEY_PREFIX"],
        affinity_max_keys=500,
        api_keys_app=[KEY],
    )
    keys = Keys(s.key_prefix)
    world = World(seed=21, n_users=300, n_items=400)
    now = time.time()
    catalog = world.catalog_records(updated_at=now)
    events = list(world.events(N_EVENTS, start_ts=now - 3600, speed=20.0))
    asyncio.run(
        ensure_topics(s.kafka_bootstrap, [s.topic(t) for t in ("clicks", "bookings", "catalog")], 4)
    )
    asyncio.run(
        produce(catalog, bootstrap=s.kafka_bootstrap, topic_prefix=s.topic_prefix, progress=False)
    )
    import redis as redis_sync

    client = redis_sync.Redis.from_url(redis_url, socket_timeout=2)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    warmed, paused, resumed = threading.Event(), threading.Event(), threading.Event()
    api_seen: dict[str, object] = {}
    try:
        wait_processed(client, keys, len(catalog), 60, [worker])
        producer = threading.Thread(
            target=lambda: asyncio.run(
                produce(
                    events,
                    bootstrap=s.kafka_bootstrap,
                    topic_prefix=s.topic_prefix,
                    rate=4000,
                    progress=False,
                )
            )
        )
        producer.start()
        wait_processed(client, keys, len(catalog) + N_EVENTS // 4, 60, [worker])
        api = threading.Thread(
            target=lambda: api_seen.update(
                asyncio.run(_api_during_outage(s, warmed, paused, resumed))
            )
        )
        api.start()
        assert warmed.wait(60), api_seen
        os.kill(redis_svc.proc.pid, signal.SIGSTOP)
        paused.set()
        time.sleep(OUTAGE_S)
        assert worker.alive(), "the worker gave up during the outage:\n" + worker.tail()
        os.kill(redis_svc.proc.pid, signal.SIGCONT)
        resumed.set()
        producer.join(60)
        api.join(60)
        wait_processed(client, keys, len(catalog) + N_EVENTS, 90, [worker])
        time.sleep(1.0)
        assert processed(client, keys) == len(catalog) + N_EVENTS, "an event was applied twice"
        log = worker.log.read_text()
        assert "Redis unavailable" in log  # the outage is in the logs, with the retries
    finally:
        worker.stop()
        os.kill(redis_svc.proc.pid, signal.SIGCONT)
    truth = ground_truth([r.value for r in catalog], [(r.topic, r.value) for r in events], s)
    store = RedisStore.from_url(redis_url, keys, "ingest")

    async def read() -> dict[str, object]:
        try:
            return dict(await store.read_profiles(sorted(truth)))
        finally:
            await store.close()

    assert_matches_truth(asyncio.run(read()), truth, s)
    client.close()
    redis_svc.stop()
    # The API, meanwhile: served from what it had, said so, and was not ready.
    assert api_seen["before"] == (200, 10), api_seen
    status, degraded, n_items = api_seen["during"]  # type: ignore[misc]
    assert status == 200 and degraded == "redis-unavailable" and n_items > 0, api_seen
    assert float(api_seen["during_s"]) < 2.0, api_seen  # type: ignore[arg-type]
    assert api_seen["ready_during"][0] == 503, api_seen  # type: ignore[index]
    assert api_seen["ready_after"] == 200 and api_seen["after"] == (200, None), api_seen
