"""Good and bad events mixed: every good one applied, every bad one dead-lettered with a reason."""

from __future__ import annotations

import asyncio
import base64
import collections
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from loadtest.produce import ensure_topics, produce
from loadtest.workers import WorkerProcess, wait_processed
from loadtest.world import BAD_KINDS, World
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore

pytestmark = pytest.mark.integration


def _scrape(port: int) -> dict[tuple[str, ...], float]:
    """Samples of the reco_worker_* counters as {(name, topic[, reason]): value}."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name.startswith("reco_worker_events_"):
                key = (sample.name, sample.labels.get("topic", ""), sample.labels.get("reason", ""))
                out[tuple(k for k in key if k)] = sample.value
    return out


async def _drain(bootstrap: str, topic: str, expected: int, wait_s: float) -> list[dict]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[dict] = []
    deadline = time.monotonic() + wait_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            out += [orjson.loads(m.value) for msgs in batch.values() for m in msgs]
        # Linger briefly: more than expected would mean a bad event dead-lettered twice.
        batch = await consumer.getmany(timeout_ms=1000)
        out += [orjson.loads(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    return out


@pytest.mark.parametrize("engine", ["batch", "faust"])
def test_bad_events_go_to_dead_letters_and_good_ones_apply(
    engine: str, namespace: dict[str, str], rclient: redis.Redis, tmp_path: Path
) -> None:
    s = Settings(
        kafka_bootstrap=namespace["KAFKA_BOOTSTRAP"],
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
    )
    keys = Keys(s.key_prefix)
    world = World(seed=5, n_users=200, n_items=300)
    now = time.time()
    catalog = world.catalog_records(updated_at=now)
    events = list(world.events(4000, start_ts=now - 86400, speed=20.0, bad_fraction=0.1))
    good = [r for r in events if r.valid]
    bad = [r for r in events if not r.valid]
    assert {r.kind for r in bad} == set(BAD_KINDS)

    asyncio.run(
        ensure_topics(
            s.kafka_bootstrap,
            [s.topic(t) for t in ("clicks", "bookings", "catalog", "deadletters")],
            4,
        )
    )
    asyncio.run(
        produce(
            [*catalog, *events],
            bootstrap=s.kafka_bootstrap,
            topic_prefix=s.topic_prefix,
            progress=False,
        )
    )
    env = {**namespace, "RECO_BROKER_REBALANCE_TIMEOUT_S": "4"}
    worker = WorkerProcess(env, tmp_path / "worker.log", engine=engine).start()
    try:
        wait_processed(rclient, keys, len(catalog) + len(events), 90, [worker])
        letters = asyncio.run(_drain(s.kafka_bootstrap, s.topic("deadletters"), len(bad), 30))
        assert worker.alive(), worker.tail()
        scraped = _scrape(worker.metrics_port)
    finally:
        worker.stop()

    stats = {k.decode(): int(float(v)) for k, v in rclient.hgetall(keys.stats()).items()}
    assert stats["applied:clicks"] + stats["applied:bookings"] == len(good)
    assert stats["dead:clicks"] + stats.get("dead:bookings", 0) == len(bad)

    # Every bad record is there once, with its original bytes, source and a reason.
    assert len(letters) == len(bad)
    got = collections.Counter(base64.b64decode(d["value_b64"]) for d in letters)
    assert got == collections.Counter(r.value for r in bad)
    for d in letters:
        assert d["reason"] and d["source_topic"] in (s.topic("clicks"), s.topic("bookings"))
        assert d["offset"] >= 0 and d["partition"] >= 0
    pii = [d for d in letters if b"a@b.com" in base64.b64decode(d["value_b64"])]
    assert pii and all("personal data" in d["reason"] for d in pii)

    # The worker's /metrics agrees with what happened.
    applied = scraped.get(("reco_worker_events_applied_total", "clicks"), 0) + scraped.get(
        ("reco_worker_events_applied_total", "bookings"), 0
    )
    assert applied == len(good)
    dead_by_reason: collections.Counter[str] = collections.Counter()
    for key, value in scraped.items():
        if key[0] == "reco_worker_events_dead_lettered_total":
            dead_by_reason[key[2]] += int(value)
    assert sum(dead_by_reason.values()) == len(bad)
    assert dead_by_reason.get("personal_data", 0) > 0 and dead_by_reason.get("empty", 0) > 0

    # Every good event reached its user's profile.
    per_user = collections.Counter(orjson.loads(r.value)["user_id"] for r in good)
    store = RedisStore.from_url(s.redis_url, keys, "ingest")

    async def read() -> dict:
        try:
            return await store.read_profiles(sorted(per_user))
        finally:
            await store.close()

    profiles = asyncio.run(read())
    assert {u: p.n_events for u, p in profiles.items()} == dict(per_user)
