"""A real worker process: consent and bookings in, one cross-sell out, counted on /metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from loadtest.workers import WorkerProcess
from recommender.keys import Keys
from recommender.popularity import day_of
from schemas import Contract, encode, message_key
from tests.integration.test_engage_pipeline import NOON, booking, consent, settings_of

pytestmark = pytest.mark.integration


def offer_metrics(port: int) -> dict[tuple[str, ...], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name.startswith("reco_offers_"):
                out[(s.name, *sorted(s.labels.values()))] = s.value
    return out


async def produce(bootstrap: str, prefix: str, events: list[Contract | tuple[str, bytes]]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await p.start()
    try:
        for e in events:
            if isinstance(e, tuple):
                await p.send_and_wait(prefix + e[0], e[1], key=b"u9")
            else:
                await p.send_and_wait(prefix + e.KIND, encode(e), key=message_key(e))
    finally:
        await p.stop()


async def drain(bootstrap: str, topic: str, expect: int, wait_s: float) -> list[dict]:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await c.start()
    out: list[dict] = []
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline and len(out) < expect:
            batch = await c.getmany(timeout_ms=300)
            out += [orjson.loads(m.value) for msgs in batch.values() for m in msgs]
        batch = await c.getmany(timeout_ms=1000)  # more than expected would be a duplicate
        out += [orjson.loads(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await c.stop()
    return out


def wait_for(pred: object, timeout: float, worker: WorkerProcess, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        assert worker.alive(), worker.tail()
        assert time.monotonic() < deadline, f"{what} not seen in {timeout:.0f} s\n{worker.tail()}"
        time.sleep(0.1)


def test_worker_sends_a_cross_sell_and_counts_offers(
    namespace: dict[str, str], rclient: redis.Redis, tmp_path: Path
) -> None:
    s = settings_of(namespace)
    keys = Keys(s.key_prefix)
    hotel = {"item_id": "h1", "item_type": "hotel", "destination": "paris", "price": 100.0}
    rclient.set(keys.item("h1"), orjson.dumps({**hotel, "currency": "CNY", "active": True}))
    rclient.zadd(keys.popularity(day_of(NOON), "paris"), {"h1": 5.0})
    env = {**namespace, "RECO_BROKER_REBALANCE_TIMEOUT_S": "4"}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    prefix = s.topic_prefix
    try:
        asyncio.run(
            produce(s.kafka_bootstrap, prefix, [consent("yes", NOON - 60), ("consent", b"{bad")])
        )
        wait_for(
            lambda: rclient.hget(keys.engage_stats(), "applied:consent") == b"1",
            60,
            worker,
            "the consent",
        )
        asyncio.run(
            produce(s.kafka_bootstrap, prefix, [booking("yes", NOON), booking("no", NOON + 1)])
        )
        offers = asyncio.run(drain(s.kafka_bootstrap, s.topic("offers"), 1, 30))
        letters = asyncio.run(drain(s.kafka_bootstrap, s.topic("deadletters"), 1, 10))
        produced = ("reco_offers_produced_total", "cross_sell")
        suppressed = ("reco_offers_suppressed_total", "cross_sell", "no_consent")
        wait_for(
            lambda: offer_metrics(worker.metrics_port).get(suppressed) == 1.0,
            10,
            worker,
            "the suppression on /metrics",
        )
        scraped = offer_metrics(worker.metrics_port)
    finally:
        worker.stop()
    assert [(o["user_id"], o["kind"]) for o in offers] == [("yes", "cross_sell")]
    assert [(d["source_topic"], d["error_type"]) for d in letters] == [
        (prefix + "consent", "schema")
    ]
    assert scraped[produced] == 1.0
    assert scraped[suppressed] == 1.0
    assert not any(k[0] == "reco_offers_held_total" and v for k, v in scraped.items())
