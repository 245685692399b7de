"""kill -9 in the middle of a stream, twice: Redis ends as if every event was applied once."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import orjson
import pytest
import redis

from loadtest.produce import ensure_topics, produce
from loadtest.workers import WorkerProcess, processed, wait_processed
from loadtest.world import World
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from tests.reference import BOOK_WEIGHT, WEIGHTS, assert_matches_truth, ground_truth

pytestmark = pytest.mark.integration

N_EVENTS = 24_000


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        kafka_bootstrap=env["KAFKA_BOOTSTRAP"],
        redis_url=env["REDIS_URL"],
        topic_prefix=env["RECO_TOPIC_PREFIX"],
        key_prefix=env["RECO_KEY_PREFIX"],
        affinity_max_keys=int(env["RECO_AFFINITY_MAX_KEYS"]),
    )


def test_kill9_mid_stream_loses_nothing_and_counts_nothing_twice(
    namespace: dict[str, str], rclient: redis.Redis, tmp_path: Path
) -> None:
    env = {
        **namespace,
        "RECO_BATCH_SIZE": "300",
        # Large enough that pruning (batch-boundary dependent by design) never happens here.
        "RECO_AFFINITY_MAX_KEYS": "500",
        "RECO_BROKER_SESSION_TIMEOUT_S": "6",
        "RECO_BROKER_REBALANCE_TIMEOUT_S": "4",
    }
    s = _settings(env)
    keys = Keys(s.key_prefix)
    world = World(seed=11, n_users=400, n_items=600)
    now = time.time()
    catalog = world.catalog_records(updated_at=now)
    events = list(world.events(N_EVENTS, start_ts=now - 3 * 86400, speed=20.0))
    assert all(r.valid for r in events)

    asyncio.run(
        ensure_topics(s.kafka_bootstrap, [s.topic(t) for t in ("clicks", "bookings", "catalog")], 4)
    )
    asyncio.run(
        produce(catalog, bootstrap=s.kafka_bootstrap, topic_prefix=s.topic_prefix, progress=False)
    )
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    workers = [worker]
    try:
        wait_processed(rclient, keys, len(catalog), 60, workers)

        # Produce in the background at a bounded rate so the kills land mid-stream.
        producer = threading.Thread(
            target=lambda: asyncio.run(
                produce(
                    events,
                    bootstrap=s.kafka_bootstrap,
                    topic_prefix=s.topic_prefix,
                    rate=6000,
                    progress=False,
                )
            )
        )
        producer.start()
        kills = 0
        for fraction in (0.2, 0.55):
            wait_processed(rclient, keys, len(catalog) + int(fraction * N_EVENTS), 60, workers)
            worker.kill9()
            kills += 1
            worker = WorkerProcess(env, tmp_path / "worker.log").start()
            workers = [worker]
        producer.join(60)
        target = len(catalog) + N_EVENTS
        wait_processed(rclient, keys, target, 120, workers)
        time.sleep(1.0)  # anything redelivered after the last batch would show up now
        assert processed(rclient, keys) == target, "an event was applied twice"
        stats = {k.decode(): int(float(v)) for k, v in rclient.hgetall(keys.stats()).items()}
        assert stats.get("applied:clicks", 0) + stats.get("applied:bookings", 0) == N_EVENTS
        assert kills == 2
    finally:
        for w in workers:
            w.stop()

    # Popularity counters were committed with the batches: every item event counted once.
    expected_weight = sum(
        (BOOK_WEIGHT if r.topic == "bookings" else WEIGHTS[e["action"]])
        for r in events
        if (e := orjson.loads(r.value)).get("item_id")
        and (r.topic == "clicks" or e["status"] == "confirmed")
    )
    counted = 0.0
    for key in rclient.scan_iter(f"{s.key_prefix}:pop:*:_all", count=1000):
        counted += sum(score for _, score in rclient.zrange(key, 0, -1, withscores=True))
    assert counted == pytest.approx(expected_weight, rel=1e-12)

    truth = ground_truth([r.value for r in catalog], [(r.topic, r.value) for r in events], s)
    store = RedisStore.from_url(s.redis_url, keys, "ingest")
    got = asyncio.run(_read(store, sorted(truth)))
    assert_matches_truth(got, truth, s)


async def _read(store: RedisStore, users: list[str]) -> dict:
    try:
        return await store.read_profiles(users)
    finally:
        await store.close()
