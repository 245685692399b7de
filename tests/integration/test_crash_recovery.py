"""kill -9 in the middle of a stream, twice: Redis ends as if every event was applied once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from loadtest.workers import WorkerProcess, processed, wait_processed
from loadtest.world import World
from recommender.keys import Keys
from tests.streaming import (
    BackgroundProducer,
    assert_ingest_exact,
    counters,
    create_topics,
    send,
    settings_of,
)

pytestmark = pytest.mark.integration

N_EVENTS = 24_000


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
    s = settings_of(env)
    keys = Keys(s.key_prefix)
    world = World(seed=11, n_users=400, n_items=600)
    now = time.time()
    catalog = world.catalog_records(updated_at=now)
    events = list(world.events(N_EVENTS, start_ts=now - 3 * 86400, speed=20.0))
    assert all(r.valid for r in events)

    create_topics(s, 4)
    send(catalog, s)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    workers = [worker]
    try:
        wait_processed(rclient, keys, len(catalog), 60, workers)

        # Produce in the background at a bounded rate so the kills land mid-stream.
        producer = BackgroundProducer(events, s, rate=6000).start()
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
        stats = counters(rclient, keys.stats())
        assert stats.get("applied:clicks", 0) + stats.get("applied:bookings", 0) == N_EVENTS
        assert kills == 2
    finally:
        for w in workers:
            w.stop()

    # Popularity counters were committed with the batches: every item event counted once;
    # and every profile equals the ground truth.
    assert_ingest_exact(rclient, s, catalog, events)
