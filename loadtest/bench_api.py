"""`python -m loadtest bench api`: recommendation latency at a steady rate over a large catalog.

Setup goes through the worker's own ingest pipeline (in process, straight to Redis): the
synthetic catalog (1M items by default) and enough events to give the requesting users real
profiles. Then the API starts as its own process, loads the catalog and builds its index,
and the open-loop generator (`loadtest.httpload`) sends a steady rate. In the same run, at the
same rate: `/healthz` (the HTTP floor of server and client) and the recall@50 of the served
index configuration against exact search over the same vectors.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import redis

from loadtest.apiproc import ApiProcess
from loadtest.bench_ingest import proc_cpu_s
from loadtest.httpload import run_load
from loadtest.stack import Stack
from loadtest.world import Record, World
from recommender.index import IndexParams, ItemIndex
from recommender.keys import Keys
from recommender.recommend import taste_query
from recommender.settings import Settings
from recommender.store import RedisStore
from schemas import DeadLetter
from streams.pipeline import Ingest, RawRecord

BATCH = 5_000


def _say(msg: str) -> None:
    print(f"[bench api] {msg}", file=sys.stderr, flush=True)


async def _ingest(s: Settings, records: Sequence[Record]) -> None:
    store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), "ingest")

    async def no_letters(letters: Sequence[DeadLetter]) -> None:
        raise RuntimeError(f"unexpected dead letter: {letters[0].reason}")

    ingest = Ingest(s, store, no_letters, consumer_name="bench")
    offsets: dict[str, int] = {}
    try:
        for start in range(0, len(records), BATCH):
            raws = []
            for r in records[start : start + BATCH]:
                off = offsets.get(r.topic, -1) + 1
                offsets[r.topic] = off
                raws.append(RawRecord(s.topic(r.topic), 0, off, r.key, r.value))
            await ingest.apply(raws)
    finally:
        await store.close()


async def _recall(s: Settings, users: list[str], k: int = 50) -> dict[str, Any]:
    """recall@k of the served index configuration vs exact search, on user embeddings."""
    store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), "ingest")
    try:
        ids = [i.decode() async for i in store.r.sscan_iter(store.keys.items(), count=10_000)]
        vecs: list[Any] = []
        for start in range(0, len(ids), 10_000):
            chunk = ids[start : start + 10_000]
            vecs += await store.r.mget([store.keys.item_vector(i) for i in chunk])
        profiles = await store.read_profiles(users[:1000])
    finally:
        await store.close()
    matrix = np.frombuffer(b"".join(vecs), dtype="<f4").reshape(len(ids), s.vector_dim)
    # The query the API sends for each user.
    queries = np.stack([q[1] for p in profiles.values() if (q := taste_query(p)) is not None])
    served = ItemIndex.build(ids, matrix, IndexParams(nprobe=s.index_nprobe))
    exact = ItemIndex.build(ids, matrix, IndexParams(exact_below=len(ids) + 1))
    got = served.search_batch(queries, k)
    want = exact.search_batch(queries, k)
    hits = sum(len({i for i, _ in g} & {i for i, _ in w}) for g, w in zip(got, want, strict=True))
    return {
        "recall_at_50": hits / (k * len(queries)),
        "queries": len(queries),
        "structure": served.structure,
        "nprobe": s.index_nprobe,
    }


def _cpu(api: ApiProcess, client: redis.Redis) -> dict[str, float]:
    assert api.proc is not None
    pids = [api.proc.pid, *_children(api.proc.pid)]
    info = client.info("cpu")
    return {
        "api": sum(proc_cpu_s(p) for p in pids),
        "load_generator": time.process_time(),
        "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
    }


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def run(
    items: int,
    rps: float,
    duration_s: float,
    seed: int,
    api_workers: int = 1,
    connections: int = 32,
) -> dict[str, Any]:
    """Set up, load, measure; returns the report."""
    workdir = Path(tempfile.mkdtemp(prefix="reco-bench-api-"))
    with Stack(private_redis=True) as stack:
        tag = f"ba{uuid.uuid4().hex[:6]}"
        env = {
            **stack.env(),
            "RECO_TOPIC_PREFIX": f"{tag}.",
            "RECO_KEY_PREFIX": tag,
            "RECO_API_WORKERS": str(api_workers),
        }
        s = Settings(
            kafka_bootstrap=stack.kafka_bootstrap,
            redis_url=stack.redis_url,
            topic_prefix=f"{tag}.",
            key_prefix=tag,
        )
        t0 = time.perf_counter()
        world = World(seed=seed, n_users=20_000, n_items=items)
        catalog = world.catalog_records(time.time())
        _say(f"{len(catalog)} catalog items through the ingest pipeline")
        asyncio.run(_ingest(s, catalog))
        events = list(world.events(100_000, time.time() - 3 * 86_400, speed=5.0))
        _say("100,000 events for user profiles")
        asyncio.run(_ingest(s, events))
        users = sorted({r.key.decode() for r in events})
        setup_s = time.perf_counter() - t0
        api = ApiProcess(env, workdir / "api.log")
        client = redis.Redis.from_url(stack.redis_url)
        _say("starting the API (loads the catalog, builds the index)")
        t1 = time.perf_counter()
        api.start(ready_timeout=600)
        start_s = time.perf_counter() - t1
        headers = {"X-API-Key": api.key}
        rnd = random.Random(seed)
        picks = [rnd.choice(users) for _ in range(int(rps * duration_s) + 1)]
        try:
            _say("warm-up")
            asyncio.run(
                run_load(
                    "127.0.0.1",
                    api.port,
                    lambda i: f"/v1/users/{picks[i]}/recommendations",
                    rps=rps,
                    duration_s=3,
                    headers=headers,
                    progress=False,
                )
            )
            _say(f"baseline: /healthz at {rps:.0f} req/s")
            floor = asyncio.run(
                run_load(
                    "127.0.0.1",
                    api.port,
                    lambda i: "/healthz",
                    rps=rps,
                    duration_s=min(duration_s, 10),
                )
            )
            _say(f"recommendations at {rps:.0f} req/s for {duration_s:.0f} s")
            cpu0 = _cpu(api, client)
            main = asyncio.run(
                run_load(
                    "127.0.0.1",
                    api.port,
                    lambda i: f"/v1/users/{picks[i]}/recommendations",
                    rps=rps,
                    duration_s=duration_s,
                    headers=headers,
                    connections=connections,
                )
            )
            cpu1 = _cpu(api, client)
        finally:
            api.stop()
        cpu = {k: (cpu1[k] - cpu0[k]) / main.elapsed_s for k in cpu0}
        _say("recall of the served index configuration vs exact search")
        recall = asyncio.run(_recall(s, users))
        store = RedisStore.from_url(s.redis_url, Keys(tag), "ingest")

        async def clear() -> None:
            keys = [k async for k in store.r.scan_iter(Keys(tag).all_pattern(), count=10_000)]
            for i in range(0, len(keys), 10_000):
                await store.r.delete(*keys[i : i + 10_000])
            await store.close()

        asyncio.run(clear())
    return {
        "command": f"python -m loadtest bench api --items {items} --rps {rps:.0f} "
        f"--duration {duration_s:.0f} --api-workers {api_workers} --connections {connections}",
        "connections": connections,
        "api_workers": api_workers,
        "catalog_items": len(catalog),
        "users_with_profiles": len(users),
        "setup_s": setup_s,
        "api_start_s": start_s,
        "recommendations": main.summary(),
        "baseline_healthz": floor.summary(),
        # Cores busy during the measured load, per process group (the machine has 2).
        "cores_busy": cpu,
        "index": recall,
        "logs": str(workdir),
    }
