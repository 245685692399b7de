"""`python -m loadtest bench freshness`: a click, until that user's recommendations show it.

Each trial takes a traveller the system has never seen, asks for their offers (the fallback
list), produces one click on a hotel in a destination, and polls the API every few ms until
the offers change to personal ones that include that destination. The same run measures the
broker alone (produce -> a raw consumer sees the record) as the baseline.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from loadtest.apiproc import ApiProcess
from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack
from loadtest.workers import WorkerProcess, wait_processed
from loadtest.world import World
from recommender.keys import Keys
from recommender.settings import LOGICAL_TOPICS

POLL_S = 0.005


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_s": _pct(values, 0.50),
        "p99_s": _pct(values, 0.99),
        "max_s": max(values),
        "mean_s": statistics.fmean(values),
    }


def click(user: str, item: dict[str, Any], ts: float) -> bytes:
    """A view of a catalog item, as the tracker would send it."""
    return orjson.dumps(
        {
            "v": 1,
            "event_id": f"f-{uuid.uuid4().hex}",
            "user_id": user,
            "session_id": f"s-{user}",
            "action": "view",
            "item_id": item["item_id"],
            "item_type": item["item_type"],
            "destination": item["destination"],
            "price": item["price"],
            "currency": item["currency"],
            "ts": ts,
        }
    )


async def wait_reflected(
    http: httpx.AsyncClient, api: ApiProcess, user: str, destination: str, limit_s: float
) -> float:
    """Poll until the user's offers are personal and include destination; returns when."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        r = await http.get(
            f"{api.url}/v1/users/{user}/recommendations",
            params={"k": 5},
            headers={"X-API-Key": api.key},
        )
        body = r.json()
        # Reflected: the offers are now personal and built from that click's destination.
        if body["known_user"] and any(i["destination"] == destination for i in body["items"]):
            return time.perf_counter()
        await asyncio.sleep(POLL_S)
    raise TimeoutError(
        f"offers of {user} did not reflect the click within {limit_s} s: {r.text[:600]}"
    )


async def _broker_baseline(bootstrap: str, topic: str, trials: int) -> list[float]:
    # Same fetch wait as the worker's default, so this is the broker's floor for the worker.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="latest", fetch_max_wait_ms=20
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    out = []
    try:
        await consumer.getmany(timeout_ms=500)  # join and position at the end
        for i in range(trials):
            t0 = time.perf_counter()
            await producer.send_and_wait(topic, f"{i}".encode())
            while not await consumer.getmany(timeout_ms=1000):
                pass
            out.append(time.perf_counter() - t0)
    finally:
        await producer.stop()
        await consumer.stop()
    return out


async def _trials(
    stack: Stack, prefix: str, api: ApiProcess, catalog: list[dict[str, Any]], n: int
) -> list[float]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=0)
    await producer.start()
    hotels = [c for c in catalog if c["item_type"] == "hotel"]
    out = []
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for i in range(n):
                user = f"fresh-{uuid.uuid4().hex[:10]}"
                item = hotels[(i * 7919) % len(hotels)]
                await http.get(  # the "before" answer: fallback offers
                    f"{api.url}/v1/users/{user}/recommendations", headers={"X-API-Key": api.key}
                )
                t0 = time.perf_counter()
                await producer.send_and_wait(
                    prefix + "clicks", click(user, item, time.time()), key=user.encode()
                )
                t1 = await wait_reflected(http, api, user, item["destination"], 10.0)
                out.append(t1 - t0)
    finally:
        await producer.stop()
    return out


def run(trials: int, seed: int) -> dict[str, Any]:
    """Start the stack, a worker and the API; measure `trials` clicks end to end."""
    workdir = Path(tempfile.mkdtemp(prefix="reco-fresh-"))
    with Stack(private_redis=True) as stack:
        tag = f"fr{uuid.uuid4().hex[:6]}"
        prefix = f"{tag}."
        env = {
            **stack.env(),
            "RECO_TOPIC_PREFIX": prefix,
            "RECO_KEY_PREFIX": tag,
            "RECO_APP_ID": f"{tag}-w",
        }
        asyncio.run(ensure_topics(stack.kafka_bootstrap, [prefix + t for t in LOGICAL_TOPICS], 4))
        world = World(seed=seed, n_users=2000, n_items=2000)
        records = world.catalog_records(time.time())
        catalog = [orjson.loads(r.value) for r in records]
        asyncio.run(
            produce(records, bootstrap=stack.kafka_bootstrap, topic_prefix=prefix, progress=False)
        )
        worker = WorkerProcess(env, workdir / "worker.log").start()
        api = ApiProcess(env, workdir / "api.log")
        client = redis.Redis.from_url(stack.redis_url)
        try:
            wait_processed(client, Keys(tag), len(records), 120, [worker])
            api.start()
            broker = asyncio.run(_broker_baseline(stack.kafka_bootstrap, f"{prefix}probe", trials))
            end_to_end = asyncio.run(_trials(stack, prefix, api, catalog, trials))
        finally:
            api.stop()
            worker.stop()
            for key in client.scan_iter(Keys(tag).all_pattern(), count=1000):
                client.delete(key)
            client.close()
    return {
        "command": f"python -m loadtest bench freshness --trials {trials}",
        "poll_interval_s": POLL_S,
        "click_to_recommendations": _summary(end_to_end),
        "baseline_broker_produce_to_consume": _summary(broker),
        "logs": str(workdir),
    }
