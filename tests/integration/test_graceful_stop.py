"""SIGTERM mid-stream: the worker finishes and commits the batch in hand, exits 0, and
every log line it wrote is one JSON object."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from loadtest.workers import WorkerProcess, processed, wait_processed
from loadtest.world import World
from recommender.keys import Keys
from recommender.settings import Settings
from tests.streaming import INGEST_TOPICS, BackgroundProducer, create_topics, settings_of

pytestmark = pytest.mark.integration
N_EVENTS = 30_000


async def _committed(s: Settings, group: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=group)
    await consumer.start()
    try:
        out: dict[tuple[str, int], int] = {}
        for t in topics:
            for p in consumer.partitions_for_topic(t) or await _partitions(consumer, t):
                off = await consumer.committed(TopicPartition(t, p))
                if off is not None:
                    out[(t, p)] = off
        return out
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()
    return consumer.partitions_for_topic(topic) or set()


def test_sigterm_commits_the_batch_in_hand_and_logs_are_json(
    namespace: dict[str, str], rclient: redis.Redis, tmp_path: Path
) -> None:
    env = {**namespace, "RECO_BATCH_SIZE": "500", "RECO_ENGAGE_ENABLED": "false"}
    s = settings_of(env)
    keys = Keys(s.key_prefix)
    world = World(seed=5, n_users=200, n_items=300)
    now = time.time()
    events = list(world.events(N_EVENTS, start_ts=now - 86400, speed=20.0))
    topics = [s.topic(t) for t in INGEST_TOPICS]
    create_topics(s, 4)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        producer = BackgroundProducer(events, s, rate=3000).start()
        wait_processed(rclient, keys, N_EVENTS // 4, 60, [worker])
        t0 = time.monotonic()
        code = worker.stop(timeout=30)  # SIGTERM while events keep arriving
        stopped_in = time.monotonic() - t0
        producer.join(60)
    finally:
        worker.stop()
    assert code == 0, worker.tail()
    assert stopped_in < 20, f"graceful stop took {stopped_in:.1f} s"
    # What Redis holds and what the group committed agree: the batch in hand was finished
    # and both commits happened (a half-done batch would leave Kafka behind Redis).
    marks = {}
    for key in rclient.scan_iter(keys.offsets_pattern("ingest"), count=1000):
        name = key.decode()
        topic, part = name.rsplit(":", 2)[-2:]
        marks[(topic, int(part))] = int(rclient.get(key) or -1) + 1
    committed = asyncio.run(_committed(s, f"{s.app_id}-ingest", topics))
    assert marks and {tp: off for tp, off in committed.items() if tp in marks} == marks
    done = processed(rclient, keys)
    assert 0 < done < N_EVENTS, f"stopped after {stopped_in:.1f} s with all {done} applied"
    lines = [ln for ln in worker.log.read_text().splitlines() if ln.strip()]
    assert lines, "the worker logged nothing"
    for ln in lines:
        doc = orjson.loads(ln)  # every line is one JSON object
        assert {"ts", "level", "logger", "msg"} <= set(doc)
