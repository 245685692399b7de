"""`python -m loadtest soak --find-capacity`: what one whole worker sustains, for the soak's rate.

A fixed backlog of the soak's own traffic (the same synthetic week, `events` records) is put
on the broker as fast as possible; then one worker is started as the soak runs it (ingest,
both engagement groups, the sweeps) and every consumer group's applied counter in Redis is
polled until all of them have drained the backlog. The whole worker's capacity is the
backlog divided by the time until its slowest group had drained it (all groups share one
process's CPU, so a group that finishes early hands its share to the others; the slowest
group's time is what the worker sustains).

Baseline from the same run, on the same backlog and broker: a second worker with engagement
off (ingest only, as `bench ingest` measures it), in fresh consumer groups and a fresh key
prefix. The load average is recorded with the figures because the machine is shared.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from loadtest.bench_ingest import proc_cpu_s
from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack
from loadtest.workers import WorkerProcess
from loadtest.world import World
from recommender.keys import Keys
from recommender.settings import Settings
from streams.engage import ENGAGE_TOPICS
from streams.engage_prices import PRICE_TOPICS

POLL_S = 0.25
# A backlog hands the engagement group batches of up to batch_size bookings (one fetch per
# partition), and it looks up cross-sell items for every confirmed flight in a batch at
# once: more than redis-py's default pool of 100 connections, and the group crashes with
# MaxConnectionsError. Steady traffic never batches that many. (Since fixed: those lookups
# and the gate calls are bounded per batch; the pool is kept raised so the capacity figure
# in BENCHMARKS.md stays reproducible as measured.)
DRAIN_REDIS_QUERY = "max_connections=4000"
Series = list[tuple[float, int]]  # (seconds since the worker started, events applied)


def _say(msg: str) -> None:
    print(f"[capacity] {msg}", file=sys.stderr, flush=True)


def drain_summary(series: Sequence[tuple[float, int]], target: int) -> dict[str, Any]:
    """How fast one group drained `target` events, from its (t, applied) samples.

    `start_s` is the last sample before the first progress (the group was idle until then:
    process start, group join); `done_s` the first sample at or over the target. The 10-90%
    rate leaves out the start and the tail, where batches are partial.
    """
    if target <= 0:
        return {"events": 0, "start_s": None, "done_s": None, "events_per_s": None}
    start = next((i for i, (_, n) in enumerate(series) if n > 0), None)
    done = next((t for t, n in series if n >= target), None)
    if start is None or done is None:
        last = series[-1][1] if series else 0
        return {"events": target, "applied": last, "start_s": None, "done_s": None}
    t0 = series[max(0, start - 1)][0]
    return {
        "events": target,
        "start_s": round(t0, 2),
        "done_s": round(done, 2),
        "events_per_s": round(target / (done - t0), 1) if done > t0 else None,
        "events_per_s_10_90": _window_rate(series, 0.1 * target, 0.9 * target),
    }


def _window_rate(series: Sequence[tuple[float, int]], lo: float, hi: float) -> float | None:
    """Events/s between the first samples at or over lo and hi (None if not reached)."""
    a = next(((t, n) for t, n in series if n >= lo), None)
    b = next(((t, n) for t, n in series if n >= hi), None)
    if a is None or b is None or b[0] <= a[0]:
        return None
    return round((b[1] - a[1]) / (b[0] - a[0]), 1)


def whole_capacity(groups: dict[str, dict[str, Any]], events: int) -> float | None:
    """Backlog / time from the first group's start to the slowest group's end (None if any
    group with work never finished)."""
    busy = [g for g in groups.values() if g["events"] > 0]
    if not busy or any(g.get("done_s") is None for g in busy):
        return None
    t0 = min(g["start_s"] for g in busy)
    t1 = max(g["done_s"] for g in busy)
    return round(events / (t1 - t0), 1) if t1 > t0 else None


def group_counts(client: redis.Redis, keys: Keys) -> dict[str, int]:
    """Applied + dead-lettered events per consumer group, from the counters in Redis."""
    out = {"ingest": 0, "engage": 0, "engage-prices": 0}
    for key, groups in ((keys.stats(), ("ingest",)), (keys.engage_stats(), ("engage",))):
        raw: dict[bytes, bytes] = client.hgetall(key)  # type: ignore[assignment]
        for k, v in raw.items():
            kind, _, topic = k.decode().partition(":")
            if kind not in ("applied", "dead"):
                continue
            group = "engage-prices" if topic in PRICE_TOPICS else groups[0]
            out[group] += int(float(v))
    return out


def _drain(
    env: dict[str, str],
    tag: str,
    targets: dict[str, int],
    log: Path,
    broker_pid: int | None,
    timeout_s: float,
) -> dict[str, Any]:
    """Start one worker on a fresh key prefix and consumer groups; time every group's drain."""
    env = {**env, "RECO_KEY_PREFIX": tag, "RECO_APP_ID": f"{tag}-worker"}
    keys = Keys(tag)
    client = redis.Redis.from_url(env["REDIS_URL"])
    series: dict[str, Series] = {g: [] for g in targets}
    load0 = os.getloadavg()
    worker = WorkerProcess(env, log).start()
    t0 = time.monotonic()
    busy_from: tuple[float, float, float] | None = None  # (t, worker cpu, broker cpu)
    try:
        while True:
            time.sleep(POLL_S)
            t = time.monotonic() - t0
            counts = group_counts(client, keys)
            for g in targets:
                series[g].append((t, counts[g]))
            if busy_from is None and any(counts.values()):
                busy_from = (
                    t,
                    proc_cpu_s(worker.pid),
                    proc_cpu_s(broker_pid) if broker_pid else 0.0,
                )
            if all(counts[g] >= n for g, n in targets.items()):
                break
            if not worker.alive():
                raise RuntimeError(f"worker exited:\n{worker.tail()}")
            if t > timeout_s:
                _say(f"timeout after {t:.0f} s: {counts} of {targets}")
                break
        end = (
            time.monotonic() - t0,
            proc_cpu_s(worker.pid),
            proc_cpu_s(broker_pid) if broker_pid else 0.0,
        )
    finally:
        worker.stop()
        client.close()
    groups = {g: drain_summary(series[g], n) for g, n in targets.items()}
    first = busy_from or end
    span = max(end[0] - first[0], 1e-9)
    return {
        "groups": groups,
        # CPU used while draining (from the first applied event on), in cores.
        "worker_cpu_cores": round((end[1] - first[1]) / span, 2),
        "broker_cpu_cores": round((end[2] - first[2]) / span, 2) if broker_pid else None,
        "loadavg_1_5_15_before": [round(x, 2) for x in load0],
        "loadavg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
    }


def run(*, events: int = 300_000, seed: int = 1, timeout_s: float = 600.0) -> dict[str, Any]:
    """Measure the whole worker's and the ingest-only drain rate; returns the JSON report."""
    tag = f"cap{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="reco-capacity-"))
    with Stack(private_redis=True) as stack:
        env = {**stack.env(), "RECO_TOPIC_PREFIX": f"{tag}."}
        env["REDIS_URL"] += ("&" if "?" in env["REDIS_URL"] else "?") + DRAIN_REDIS_QUERY
        s = Settings(
            kafka_bootstrap=env["KAFKA_BOOTSTRAP"],
            redis_url=env["REDIS_URL"],
            topic_prefix=env["RECO_TOPIC_PREFIX"],
        )
        world = World(seed, n_users=20_000, n_items=2_000)  # as the soak's traffic
        now = time.time()
        catalog = world.catalog_records(updated_at=now)
        _say(f"generating {events:,} events")
        backlog = [r for r in world.events(events, start_ts=now - 3600) if r.valid]
        topics = [s.topic(t) for t in ("clicks", "bookings", "catalog")]
        asyncio.run(ensure_topics(s.kafka_bootstrap, topics, s.topic_partitions))
        stats = asyncio.run(
            produce(
                [*catalog, *backlog],
                bootstrap=s.kafka_bootstrap,
                topic_prefix=s.topic_prefix,
                progress=False,
            )
        )
        _say(f"backlog on the broker: {stats.total:,} records at {stats.rate:,.0f}/s")
        broker = next((x.proc.pid for x in stack.services if x.name == "tansu"), None)
        engage_n = sum(1 for r in backlog if r.topic in ENGAGE_TOPICS)
        whole_targets = {
            "ingest": len(catalog) + len(backlog),
            "engage": engage_n,
            "engage-prices": sum(1 for r in backlog if r.topic in PRICE_TOPICS),
        }
        _say("whole worker (ingest + engagement)")
        whole = _drain(env, f"{tag}w", whole_targets, work / "whole.log", broker, timeout_s)
        whole["capacity_events_per_s"] = whole_capacity(whole["groups"], len(backlog))
        _say(f"whole worker: {whole['capacity_events_per_s']} events/s")
        _say("baseline: ingest only")
        base_env = {**env, "RECO_ENGAGE_ENABLED": "false"}
        base = _drain(
            base_env,
            f"{tag}i",
            {"ingest": len(catalog) + len(backlog)},
            work / "ingest.log",
            broker,
            timeout_s,
        )
        base["capacity_events_per_s"] = whole_capacity(base["groups"], len(backlog))
    cap = whole["capacity_events_per_s"]
    return {
        "backlog": {
            "events": len(backlog),
            "catalog_records": len(catalog),
            "per_topic": dict(stats.per_topic),
            "produce_events_per_s": round(stats.rate, 1),
        },
        "whole_worker": whole,
        "baseline_ingest_only": base,
        "soak_rate_half_capacity": round(cap / 2) if cap else None,
        "redis_url_option": DRAIN_REDIS_QUERY,
        "cpus": os.cpu_count(),
        "logs": str(work),
    }
