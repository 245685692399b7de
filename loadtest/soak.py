"""`python -m loadtest soak`: the whole product at a steady share of its capacity, for long.

Starts the embedded stack (unless KAFKA_BOOTSTRAP / REDIS_URL are set), one worker (ingest
and engagement) and one API process, then for `--minutes`:
- produces synthetic traffic at `--rate` events/s (a pre-generated synthetic week, replayed
  in a loop: replays are new offsets, so every event is applied again);
- sends `--api-rps` recommendation requests per second, open loop;
- every `--sample-s` seconds records worker, API, broker and Redis memory, worker and broker
  CPU, events handed to the producer and events applied by the ingest and the engagement
  groups (lag = the difference, per group), dead letters and API errors.

The report holds the series and a summary (`loadtest.soak_summary`): memory growth after the
first minute (a least-squares slope, MB per 10 minutes), lag per third of the run and its
trend, and the error counts. The baseline of the run is its own first minute: memory flat
means the slope is within noise of zero. The rate to soak at comes from `--find-capacity`
(`loadtest.capacity`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from loadtest.apiproc import ApiProcess
from loadtest.bench_ingest import proc_cpu_s
from loadtest.capacity import group_counts
from loadtest.httpload import run_load
from loadtest.produce import ensure_topics, produce
from loadtest.soak_summary import summarise
from loadtest.stack import Stack
from loadtest.workers import WorkerProcess, wait_processed
from loadtest.world import Record, World
from recommender.keys import Keys
from recommender.settings import Settings

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


def _dead(client: redis.Redis, keys: Keys) -> int:
    total = 0
    for key in (keys.stats(), keys.engage_stats()):
        stats: dict[bytes, bytes] = client.hgetall(key)  # type: ignore[assignment]
        total += sum(int(float(v)) for k, v in stats.items() if k.startswith(b"dead:"))
    return total


class Replay:
    """The pool replayed in a loop, counting the records handed to the producer."""

    def __init__(self, records: list[Record]) -> None:
        self.handed = 0
        self._it: Iterator[Record] = itertools.cycle(records)

    def __iter__(self) -> Replay:
        return self

    def __next__(self) -> Record:
        self.handed += 1
        return next(self._it)


def run(
    *,
    minutes: float,
    rate: float,
    api_rps: float,
    sample_s: float = 10.0,
    seed: int = 1,
    fetch_max_wait_ms: int | None = None,
    redis_pool: int | None = None,
) -> dict[str, Any]:
    """Run the soak; returns the JSON-able report.

    `fetch_max_wait_ms` (RECO_FETCH_MAX_WAIT_MS) and `redis_pool` (redis-py's max_connections,
    in the URL) override the product's defaults, for runs that isolate a known limit.
    """
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
        if fetch_max_wait_ms is not None:
            env["RECO_FETCH_MAX_WAIT_MS"] = str(fetch_max_wait_ms)
        if redis_pool is not None:
            sep = "&" if "?" in env["REDIS_URL"] else "?"
            env["REDIS_URL"] += f"{sep}max_connections={redis_pool}"
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
            assert api.proc is not None
            procs = {"worker": worker.pid, "api": api.proc.pid}
            broker = next((x for x in stack.services if x.name == "tansu"), None)
            if broker is not None:
                procs["broker"] = broker.proc.pid
            report = asyncio.run(
                _drive(
                    s,
                    client,
                    keys,
                    worker,
                    api,
                    procs,
                    pool,
                    users,
                    minutes,
                    rate,
                    api_rps,
                    sample_s,
                )
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
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "redis_pool": redis_pool,
        "logs": str(work),
    }
    return report


async def _drive(
    s: Settings,
    client: redis.Redis,
    keys: Keys,
    worker: WorkerProcess,
    api: ApiProcess,
    procs: dict[str, int],
    pool: list[Record],
    users: list[str],
    minutes: float,
    rate: float,
    api_rps: float,
    sample_s: float,
) -> dict[str, Any]:
    duration = minutes * 60.0
    base = group_counts(client, keys)  # the catalog, applied before the clock starts
    samples: list[dict[str, float]] = []
    replay = Replay(pool)
    produced = asyncio.create_task(
        produce(
            replay,
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
    cpu = {name: proc_cpu_s(pid) for name, pid in procs.items()}
    t_prev = t0
    while not produced.done():
        await asyncio.sleep(sample_s)
        now = time.monotonic()
        counts = group_counts(client, keys)
        done = {g: counts[g] - base[g] for g in ("ingest", "engage")}
        info = client.info("memory")
        smp: dict[str, float] = {
            "t_s": round(now - t0, 1),
            "produced": replay.handed,
            "applied_ingest": done["ingest"],
            "applied_engage": done["engage"],
            "lag_ingest": max(0, replay.handed - done["ingest"]),
            "lag_engage": max(0, replay.handed - done["engage"]),
            "redis_mb": round(int(info["used_memory"]) / 2**20, 1),
            "dead_letters": _dead(client, keys),
            "loadavg_1min": round(os.getloadavg()[0], 2),
        }
        for name, pid in procs.items():
            smp[f"{name}_rss_mb"] = round(rss_mb(pid), 1)
            used = proc_cpu_s(pid)
            smp[f"{name}_cpu_cores"] = round((used - cpu[name]) / (now - t_prev), 2)
            cpu[name] = used
        t_prev = now
        samples.append(smp)
        _say(
            f"{smp['t_s']:6.0f} s  produced {replay.handed:,}  lag ingest {smp['lag_ingest']:,} "
            f"engage {smp['lag_engage']:,}  worker {smp['worker_rss_mb']} MB "
            f"{smp['worker_cpu_cores']} cores  broker {smp.get('broker_rss_mb')} MB  "
            f"api {smp['api_rss_mb']} MB  redis {smp['redis_mb']} MB  load {smp['loadavg_1min']}"
        )
        if not worker.alive():  # fail now rather than produce into the void until the end
            raise RuntimeError(f"the worker exited after {smp['t_s']} s:\n{worker.tail()}")
    stats = await produced
    result = await load
    final = group_counts(client, keys)
    summary = summarise(samples, rate)
    summary["api_errors"] = result.summary()["errors"]
    return {
        "produced": stats.total,
        "applied": {g: final[g] - base[g] for g in ("ingest", "engage")},
        "worker_alive": worker.alive(),
        "api": result.summary(),
        "summary": summary,
        "samples": samples,
    }
