"""`python -m loadtest bench price-drop`: one price drop, N watchers, until the last offer.

Setup goes through the real worker: N users each consent to push (time zone UTC) and view
one hotel; the engagement pipeline builds their customer states and the item's watcher
index from those events. Then one PriceUpdate 20% below the price they saw is produced,
and a raw aiokafka consumer (no group, positioned at the end of the offers topic) reads
until it has N price-drop offers for that item. The update's time is a weekday noon in UTC,
so no watcher is in quiet hours, capped or cooled down: every watcher gets one offer.

Baseline, same run and broker: N offer messages of the same size produced with the worker's
offer-producer settings and read back by the same kind of consumer: the broker's floor.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from loadtest import sim_worker
from loadtest.stack import Stack
from loadtest.world import Record
from recommender.settings import LOGICAL_TOPICS

ITEM = {"item_id": "h-bench-0001", "item_type": "hotel", "destination": "sanya"}
PRICE = 1000.0
PARTITIONS = 4
TARGET_S = 5.0
# The worker's offer producer settings (streams/runtime.py), for a like-for-like baseline.
OFFER_LINGER_MS = 5
OFFER_BATCH_BYTES = 512 * 1024


def _progress(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def drop_time(now: float) -> float:
    """Noon UTC of the latest past day: daytime for watchers in UTC, and already past."""
    day = datetime.fromtimestamp(now, UTC).date()
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    if noon.timestamp() > now:
        noon -= timedelta(days=1)
    return noon.timestamp()


def setup_records(n: int, ts: float, run: str) -> list[Record]:
    """Catalog item, then per watcher a consent to push and a view of the item."""
    out = [
        Record(
            "catalog",
            ITEM["item_id"].encode(),
            orjson.dumps(
                {"v": 1, **ITEM, "price": PRICE, "currency": "CNY", "updated_at": ts - 86_400}
            ),
            True,
            "ok",
        )
    ]
    for u in range(n):
        uid = f"w{u:07d}"
        consent = {"v": 1, "event_id": f"c{run}-{u}", "user_id": uid, "channel": "push"}
        consent |= {"granted": True, "timezone": "UTC", "ts": ts - 7200 + u * 1e-3}
        view = {"v": 1, "event_id": f"v{run}-{u}", "user_id": uid, "session_id": f"s{u}"}
        view |= {"action": "view", **ITEM, "price": PRICE, "currency": "CNY"}
        view["ts"] = ts - 3600 + u * 1e-3
        out.append(Record("consent", uid.encode(), orjson.dumps(consent), True, "ok"))
        out.append(Record("clicks", uid.encode(), orjson.dumps(view), True, "ok"))
    return out


async def _end_consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    """A group-less consumer of every partition of topic, positioned at its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        max_poll_records=10_000,
        fetch_max_wait_ms=5,
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    await consumer.topics()
    parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:  # resolve the end offsets now, not when the first fetch happens
        await consumer.position(tp)
    return consumer


async def _read(
    consumer: AIOKafkaConsumer, n: int, t0: float, limit_s: float, item: str | None
) -> dict[str, Any]:
    """Read until n matching messages arrived; times relative to t0 (perf_counter)."""
    seen = 0
    first = last = 0.0
    deadline = t0 + limit_s
    while seen < n and time.perf_counter() < deadline:
        batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
        now = time.perf_counter()
        for msgs in batch.values():
            for m in msgs:
                if item is not None:
                    doc = orjson.loads(m.value)
                    if doc.get("kind") != "price_drop" or doc["items"][0]["item_id"] != item:
                        continue
                seen += 1
                first = first or now
                last = now
    return {
        "messages": seen,
        "first_s": round(first - t0, 4) if first else None,
        "last_s": round(last - t0, 4) if last else None,
        "rate_per_s": round(seen / max(last - t0, 1e-9)) if last else 0,
    }


async def _price_drop(bootstrap: str, prefix: str, n: int, ts: float) -> dict[str, Any]:
    consumer = await _end_consumer(bootstrap, prefix + "offers")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        update = {"v": 1, "event_id": f"p{uuid.uuid4().hex[:8]}", "item_id": ITEM["item_id"]}
        update |= {"price": PRICE * 0.8, "currency": "CNY", "previous_price": PRICE, "ts": ts}
        t0 = time.perf_counter()
        await producer.send_and_wait(
            prefix + "prices", orjson.dumps(update), key=ITEM["item_id"].encode()
        )
        return await _read(consumer, n, t0, 120.0, ITEM["item_id"])
    finally:
        await producer.stop()
        await consumer.stop()


async def _broker_floor(bootstrap: str, topic: str, n: int, sample: bytes) -> dict[str, Any]:
    consumer = await _end_consumer(bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=OFFER_LINGER_MS, max_batch_size=OFFER_BATCH_BYTES
    )
    await producer.start()
    try:
        t0 = time.perf_counter()
        reader = asyncio.ensure_future(_read(consumer, n, t0, 120.0, None))
        futures = [await producer.send(topic, sample, key=f"w{u:07d}".encode()) for u in range(n)]
        await asyncio.gather(*futures)
        out = await reader
        out["produce_acked_s"] = round(time.perf_counter() - t0, 4)
        return out
    finally:
        await producer.stop()
        await consumer.stop()


def _sample_offer(n: int) -> bytes:
    """An offer message of the size the worker produces for this benchmark."""
    item = {**ITEM, "score": 1.0, "reason": "Price dropped", "price": PRICE * 0.8}
    context = {"old_price": PRICE, "new_price": PRICE * 0.8, "currency": "CNY", "drop_pct": 20.0}
    doc: dict[str, Any] = {"v": 1, "offer_id": "0" * 32, "user_id": f"w{n:07d}"}
    doc |= {"kind": "price_drop", "channel": "push", "items": [{**item, "currency": "CNY"}]}
    doc |= {"created_at": 1.0e9, "expires_at": 1.0e9 + 172_800, "context": context}
    return orjson.dumps(doc)


def run(watchers: int) -> dict[str, Any]:
    """Set up, measure the drop and the baseline, return the report."""
    workdir = Path(tempfile.mkdtemp(prefix="reco-bench-pd-"))
    ts = drop_time(time.time())
    with Stack(private_redis=True) as stack:
        tag = f"pd{uuid.uuid4().hex[:8]}"
        env = {
            **stack.env(),
            "RECO_TOPIC_PREFIX": f"{tag}.",
            "RECO_KEY_PREFIX": tag,
            "RECO_APP_ID": f"{tag}-worker",
            "RECO_TOPIC_PARTITIONS": str(PARTITIONS),
        }
        driver = sim_worker.Driver(stack, env, workdir / "worker.log", timeout_s=600)
        try:
            topics = [f"{tag}.{t}" for t in (*LOGICAL_TOPICS, "floor")]
            asyncio.run(driver.start(topics, PARTITIONS))
            _progress(f"setting up {watchers} watchers through the worker")
            t0 = time.monotonic()
            asyncio.run(driver.produce_and_wait(setup_records(watchers, ts, tag)))
            setup_s = time.monotonic() - t0
            _progress("price drop")
            drop = asyncio.run(_price_drop(stack.kafka_bootstrap, f"{tag}.", watchers, ts))
            worker = driver.scrape()
            deadline = time.monotonic() + 10  # the fan-out is timed after its last ack
            while "price_drop" not in worker["trigger_seconds"] and time.monotonic() < deadline:
                time.sleep(0.1)
                worker = driver.scrape()
            _progress("baseline: raw aiokafka produce + consume of as many offer messages")
            floor = asyncio.run(
                _broker_floor(stack.kafka_bootstrap, f"{tag}.floor", watchers, _sample_offer(0))
            )
        finally:
            driver.stop()
    last = drop["last_s"]
    return {
        "command": "python -m loadtest bench price-drop " + " ".join(sys.argv[3:]),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "watchers": watchers,
        "partitions": PARTITIONS,
        "setup": {
            "how": "consent + view events through the real worker (engage pipeline)",
            "events": 2 * watchers + 1,
            "seconds": round(setup_s, 2),
        },
        "price_drop": {
            **drop,
            "offers_produced_by_worker": worker["produced"],
            # The worker's own fan-out time (reco_trigger_sweep_seconds, kind price_drop):
            # watcher index read to the last broker ack.
            "worker_fan_out_s": worker["trigger_seconds"].get("price_drop"),
        },
        "baseline_raw_aiokafka": floor,
        "target_s": TARGET_S,
        "met": last is not None and drop["messages"] == watchers and last <= TARGET_S,
        "vs_baseline": round(last / floor["last_s"], 2) if last and floor["last_s"] else None,
        "worker_suppressed": worker["suppressed"],
        "logs": str(workdir),
    }
