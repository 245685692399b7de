"""`python -m loadtest soak`: the whole product at a steady share of its capacity, for long.

Starts the embedded stack (unless KAFKA_BOOTSTRAP / REDIS_URL are set), one worker (ingest
and engagement) and one API process, then for `--minutes`:
- produces synthetic traffic at `--rate` events/s (a pre-generated synthetic week, replayed
  in a loop: replays are new offsets, so every event is applied again);
- sends `--api-rps` recommendation requests per second, open loop;
- every `--sample-s` seconds records worker and API resident memory, Redis memory, events
  produced and processed (lag = the difference), dead letters and API errors.

The report holds the series and a summary: memory growth after the first minute (a least-
squares slope, MB per 10 minutes), lag bounds and the error counts. The baseline of the run
is its own first minute: memory flat means the slope is within noise of zero.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import redis

from loadtest.apiproc import ApiProcess
from loadtest.httpload import run_load
from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack
from loadtest.workers import WorkerProcess, processed, wait_processed
from loadtest.world import Record, World
from recommender.keys import Keys
from recommender.settings import Settings

WARMUP_S = 60.0
EVENTS_POOL = 400_000


def _say(msg: str) -> None:
    print(f"[soak] {msg}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), MB."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    try:
        raw = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(c) for c in raw]
    return out + [g for c in out for g in _children(c)]


def slope_mb_per_10min(ts: list[float], mb: list[float]) -> float:
    """Least-squares growth of a memory series, MB per 10 minutes (0 for < 2 points)."""
    if len(ts) < 2:
        return 0.0
    a = np.polyfit(np.asarray(ts) - ts[0], np.asarray(mb), 1)[0]
    return float(a * 600.0)


def _dead(client: redis.Redis, keys: Keys) -> int:
    stats: dict[bytes, bytes] = client.hgetall(keys.stats())  # type: ignore[assignment]
    return sum(int(float(v)) for k, v in stats.items() if k.startswith(b"dead:"))


def _loop(records: list[Record]) -> Iterator[Record]:
    return itertools.cycle(records)


def run(
    *,
    minutes: float,
    rate: float,
    api_rps: float,
    sample_s: float = 10.0,
    seed: int = 1,
) -> dict[str, Any]:
    """Run the soak; returns the JSON-able report."""
    tag = f"soak{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="reco-soak-"))
    with Stack(private_redis=True) as stack:
        env = {
            **stack.env(),
            "RECO_TOPIC_PREFIX": f"{tag}.",
            "RECO_KEY_PREFIX": tag,
            "RECO_APP_ID": f"{tag}-worker",
            "RECO_API_RATE_LIMIT_RPS": "0",
        }
        s = Settings(
            kafka_bootstrap=env["KAFKA_BOOTSTRAP"],
            redis_url=env["REDIS_URL"],
            topic_prefix=env["RECO_TOPIC_PREFIX"],
            key_prefix=tag,
        )
        keys = Keys(tag)
        client = redis.Redis.from_url(s.redis_url)
        world = World(seed, n_users=20_000, n_items=2_000)
        now = time.time()
        catalog = world.catalog_records(updated_at=now)
        _say(f"generating {EVENTS_POOL:,} events to replay")
        pool = [r for r in world.events(EVENTS_POOL, start_ts=now - 3600) if r.valid]
        users = sorted({r.key.decode() for r in pool if r.topic == "clicks" and r.key})[:5000]
        topics = [s.topic(t) for t in ("clicks", "bookings", "catalog")]
        asyncio.run(ensure_topics(s.kafka_bootstrap, topics, s.topic_partitions))
        asyncio.run(
            produce(
                catalog, bootstrap=s.kafka_bootstrap, topic_prefix=s.topic_prefix, progress=False
            )
        )
        worker = WorkerProcess(env, work / "worker.log").start()
        api: ApiProcess | None = None
        try:
            wait_processed(client, keys, len(catalog), 120, [worker])
            api = ApiProcess(env, work / "api.log").start()
            report = asyncio.run(
                _drive(s, client, keys, worker, api, pool, users, minutes, rate, api_rps, sample_s)
            )
        finally:
            if api is not None:
                api.stop()
            worker.stop()
            client.close()
    report["config"] = {
        "minutes": minutes,
        "rate_events_per_s": rate,
        "api_rps": api_rps,
        "sample_s": sample_s,
        "logs": str(work),
    }
    return report


async def _drive(
    s: Settings,
    client: redis.Redis,
    keys: Keys,
    worker: WorkerProcess,
    api: ApiProcess,
    pool: list[Record],
    users: list[str],
    minutes: float,
    rate: float,
    api_rps: float,
    sample_s: float,
) -> dict[str, Any]:
    duration = minutes * 60.0
    base = processed(client, keys)
    samples: list[dict[str, float]] = []
    produced = asyncio.create_task(
        produce(
            _loop(pool),
            bootstrap=s.kafka_bootstrap,
            topic_prefix=s.topic_prefix,
            rate=rate,
            duration=duration,
            progress=False,
        )
    )
    load = asyncio.create_task(
        run_load(
            "127.0.0.1",
            api.port,
            lambda i: f"/v1/users/{users[i % len(users)]}/recommendations?k=10",
            rps=api_rps,
            duration_s=duration,
            headers={"X-API-Key": api.key},
            connections=16,
            progress=False,
        )
    )
    t0 = time.monotonic()
    assert worker.proc is not None and api.proc is not None
    while not produced.done():
        await asyncio.sleep(sample_s)
        elapsed = time.monotonic() - t0
        done = processed(client, keys) - base
        info = client.info("memory")
        samples.append(
            {
                "t_s": round(elapsed, 1),
                "processed": done,
                "expected": min(rate * elapsed, rate * duration),
                "worker_rss_mb": round(rss_mb(worker.pid), 1),
                "api_rss_mb": round(rss_mb(api.proc.pid), 1),
                "redis_mb": round(int(info["used_memory"]) / 2**20, 1),
                "dead_letters": _dead(client, keys),
            }
        )
        last = samples[-1]
        _say(
            f"{elapsed:6.0f} s  processed {done:,}  worker {last['worker_rss_mb']} MB  "
            f"api {last['api_rss_mb']} MB  redis {last['redis_mb']} MB"
        )
        if not worker.alive():
            break
    stats = await produced
    result = await load
    # Lag: events produced but not yet processed, at each sample (produced is ~rate x t).
    for smp in samples:
        smp["lag"] = max(0.0, smp["expected"] - smp["processed"])
    steady = [x for x in samples if x["t_s"] >= WARMUP_S] or samples
    ts = [x["t_s"] for x in steady]
    lags = [x["lag"] for x in samples]
    return {
        "produced": stats.total,
        "processed": processed(client, keys) - base,
        "worker_alive": worker.alive(),
        "api": result.summary(),
        "summary": {
            "worker_rss_mb_first_last": [steady[0]["worker_rss_mb"], steady[-1]["worker_rss_mb"]]
            if steady
            else None,
            "worker_rss_growth_mb_per_10min": slope_mb_per_10min(
                ts, [x["worker_rss_mb"] for x in steady]
            ),
            "api_rss_growth_mb_per_10min": slope_mb_per_10min(
                ts, [x["api_rss_mb"] for x in steady]
            ),
            "redis_growth_mb_per_10min": slope_mb_per_10min(ts, [x["redis_mb"] for x in steady]),
            "lag_max_events": max(lags, default=0.0),
            "lag_last_events": lags[-1] if lags else 0.0,
            "dead_letters": samples[-1]["dead_letters"] if samples else 0,
            "api_errors": result.summary()["errors"],
        },
        "samples": samples,
    }
