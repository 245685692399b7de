"""Whole stack (broker, worker, Redis, API): a click changes that traveller's next offers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from loadtest.apiproc import ApiProcess
from loadtest.bench_freshness import click, wait_reflected
from loadtest.produce import ensure_topics, produce
from loadtest.workers import WorkerProcess, wait_processed
from loadtest.world import World
from recommender.keys import Keys
from recommender.settings import LOGICAL_TOPICS

pytestmark = pytest.mark.e2e


def test_click_changes_offers_and_deactivated_items_vanish(
    namespace: dict[str, str], rclient: redis.Redis, tmp_path: Path
) -> None:
    prefix = namespace["RECO_TOPIC_PREFIX"]
    bootstrap = namespace["KAFKA_BOOTSTRAP"]
    asyncio.run(ensure_topics(bootstrap, [prefix + t for t in LOGICAL_TOPICS], 4))
    records = World(seed=3, n_users=200, n_items=400).catalog_records(time.time())
    catalog = [orjson.loads(r.value) for r in records]
    asyncio.run(produce(records, bootstrap=bootstrap, topic_prefix=prefix, progress=False))
    worker = WorkerProcess(namespace, tmp_path / "worker.log").start()
    api = ApiProcess(namespace, tmp_path / "api.log")
    try:
        wait_processed(rclient, Keys(namespace["RECO_KEY_PREFIX"]), len(records), 90, [worker])
        api.start()
        hotel = next(c for c in catalog if c["item_type"] == "hotel")
        result = asyncio.run(_click_then_deactivate(api, bootstrap, prefix, hotel, catalog))
    finally:
        api.stop()
        worker.stop()
    before, after, vanished = result
    assert before["fallback"] and not before["known_user"]
    assert after["known_user"] and not after["fallback"]
    assert any(i["destination"] == hotel["destination"] for i in after["items"])
    assert vanished


async def _click_then_deactivate(
    api: ApiProcess, bootstrap: str, prefix: str, hotel: dict, catalog: list[dict]
) -> tuple[dict, dict, bool]:
    from aiokafka import AIOKafkaProducer

    h = {"X-API-Key": api.key}
    url = f"{api.url}/v1/users/traveller-1/recommendations"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            before = (await http.get(url, headers=h, params={"k": 10})).json()
            await producer.send_and_wait(
                prefix + "clicks", click("traveller-1", hotel, time.time()), key=b"traveller-1"
            )
            await wait_reflected(http, api, "traveller-1", hotel["destination"], 10.0)
            after = (await http.get(url, headers=h, params={"k": 10})).json()
            # Deactivate the best offer through the catalog topic; it must leave the answer.
            target = after["items"][0]["item_id"]
            item = next(c for c in catalog if c["item_id"] == target)
            off = {**item, "active": False, "updated_at": time.time()}
            await producer.send_and_wait(prefix + "catalog", orjson.dumps(off), key=target.encode())
            deadline = time.monotonic() + 10
            vanished = False
            while time.monotonic() < deadline and not vanished:
                body = (await http.get(url, headers=h, params={"k": 10})).json()
                similar = await http.get(f"{api.url}/v1/items/{target}/similar", headers=h)
                vanished = target not in {i["item_id"] for i in body["items"]} and (
                    similar.status_code == 404
                )
                await asyncio.sleep(0.05)
    finally:
        await producer.stop()
    return before, after, vanished
