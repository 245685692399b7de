"""`python -m loadtest bench ingest`: events/s from Kafka to applied Redis state.

One run pre-produces the same synthetic events once, then measures on that data:
raw aiokafka consume + orjson decode, a bare Faust agent that does nothing, and the worker
(batch engine with 1 and 2 processes, and the Faust-agent engine with 1). Rates are timed
from the first applied event to the last, so process start-up and group joins are excluded.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaConsumer

from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack
from loadtest.workers import WorkerProcess, processed
from loadtest.world import World
from recommender.keys import Keys

PARTITIONS = 4


@dataclass(frozen=True)
class Plan:
    """What to measure."""

    events: int
    users: int
    items: int
    seed: int
    faust_baselines: bool = True


def _progress(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


async def _raw_aiokafka(bootstrap: str, topics: list[str], n: int) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    t0 = 0.0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for msgs in batch.values():
                if msgs and not t0:
                    t0 = time.perf_counter()
                for m in msgs:
                    orjson.loads(m.value)
                seen += len(msgs)
        elapsed = time.perf_counter() - t0
    finally:
        await consumer.stop()
    return {"events": seen, "seconds": elapsed, "rate": seen / elapsed}


def _bare_faust(bootstrap: str, topics: list[str], n: int, log: Path) -> dict[str, float]:
    out_file = log.with_suffix(".json")
    with log.open("ab") as err:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "loadtest.faust_baseline",
                "--bootstrap",
                bootstrap,
                "--topics",
                ",".join(topics),
                "--count",
                str(n),
                "--app-id",
                f"bare-{uuid.uuid4().hex[:8]}",
                "--out",
                str(out_file),
            ],
            stdout=err,
            stderr=err,
            timeout=600,
            check=False,
        )
    if not out_file.exists():
        raise RuntimeError(f"bare faust baseline wrote no result; see {log}")
    result: dict[str, float] = orjson.loads(out_file.read_bytes())
    return result


def _clear(client: redis.Redis, keys: Keys) -> None:
    batch: list[Any] = []
    for k in client.scan_iter(keys.all_pattern(), count=2000):
        batch.append(k)
        if len(batch) >= 2000:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)


def _at(samples: list[tuple[float, int]], target: float) -> float:
    """Interpolated time at which the processed count reached target."""
    prev_t, prev_n = samples[0]
    for t, n in samples:
        if n >= target:
            if n == prev_n:
                return t
            return prev_t + (t - prev_t) * (target - prev_n) / (n - prev_n)
        prev_t, prev_n = t, n
    return samples[-1][0]


def _steady_rate(samples: list[tuple[float, int]], total: int) -> float:
    """Rate between 10% and 90% of the events: without process start-up skew and the tail.

    Two processes started together still begin consuming up to a few hundred ms apart, and
    the partition holding the most events finishes last; both distort a short run's average.
    """
    t10, t90 = _at(samples, 0.1 * total), _at(samples, 0.9 * total)
    return 0.8 * total / max(t90 - t10, 1e-9)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_sample(client: redis.Redis, stack: Stack, procs: list[WorkerProcess]) -> dict[str, float]:
    info = client.info("cpu")
    broker = [s.proc.pid for s in stack.services if s.name == "tansu"]
    return {
        "workers": sum(proc_cpu_s(p.pid) for p in procs),
        "broker": sum(proc_cpu_s(pid) for pid in broker),
        "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        "bench": time.process_time(),
    }


def _bytes_per_user(client: redis.Redis, keys: Keys, sample: int = 500) -> float:
    sizes = []
    for k in client.scan_iter(keys.user("*"), count=1000):
        sizes.append(int(client.memory_usage(k) or 0))
        if len(sizes) >= sample:
            break
    return sum(sizes) / max(len(sizes), 1)


def _workers(
    stack: Stack,
    topic_prefix: str,
    total: int,
    n_events: int,
    *,
    processes: int,
    engine: str,
    workdir: Path,
) -> dict[str, Any]:
    tag = f"b{uuid.uuid4().hex[:8]}"
    keys = Keys(tag)
    env = {
        **stack.env(),
        "RECO_TOPIC_PREFIX": topic_prefix,
        "RECO_KEY_PREFIX": tag,
        "RECO_APP_ID": f"{tag}-worker",
        "RECO_TOPIC_PARTITIONS": str(PARTITIONS),
    }
    if engine == "batch":
        # Static assignment: both processes consume from their first second, with no
        # rebalance in the measured window (a group join on the dev broker takes seconds).
        env |= {"RECO_ASSIGNMENT": "static", "RECO_WORKER_COUNT": str(processes)}
    client = redis.Redis.from_url(stack.redis_url)
    procs = [
        WorkerProcess(
            {**env, "RECO_WORKER_INDEX": str(i)}, workdir / f"{tag}-{i}.log", engine
        ).start()
        for i in range(processes)
    ]
    try:
        deadline = time.monotonic() + 600
        t0 = 0.0
        cpu0: dict[str, float] = {}
        samples: list[tuple[float, int]] = []
        while True:
            n = processed(client, keys)
            now = time.perf_counter()
            samples.append((now, n))
            if n and not t0:
                t0 = now
                cpu0 = _cpu_sample(client, stack, procs)
            if n >= total:
                cpu1 = _cpu_sample(client, stack, procs)
                break
            if time.monotonic() > deadline or not all(p.alive() for p in procs):
                raise RuntimeError(
                    f"{engine}x{processes}: {n}/{total} processed\n"
                    + "\n".join(p.tail() for p in procs)
                )
            time.sleep(0.02)
        elapsed = now - t0
        cpu = {k: cpu1[k] - cpu0[k] for k in cpu1}
        per_user = _bytes_per_user(client, keys)
        users = sum(1 for _ in client.scan_iter(keys.user("*"), count=5000))
    finally:
        for p in procs:
            p.stop()
        _clear(client, keys)
        client.close()
    return {
        "processes": processes,
        "events": n_events,
        "seconds": elapsed,
        "rate": total / elapsed,
        "rate_per_process": total / elapsed / processes,
        "steady_rate": _steady_rate(samples, total),
        "users": users,
        "redis_bytes_per_user": per_user,
        # CPU seconds spent in the measured window; the machine has os.cpu_count() cores.
        "cpu_seconds": cpu,
        "cpu_us_per_event": {k: 1e6 * v / total for k, v in cpu.items()},
    }


def run(plan: Plan) -> dict[str, Any]:
    """Run every measurement and return the report."""
    workdir = Path(tempfile.mkdtemp(prefix="reco-bench-"))
    with Stack(private_redis=True) as stack:
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        world = World(seed=plan.seed, n_users=plan.users, n_items=plan.items)
        now = time.time()
        catalog = world.catalog_records(updated_at=now)
        _progress(f"generating {plan.events} events")
        events = list(world.events(plan.events, start_ts=now - 7 * 86400, speed=50.0))
        logical = ("clicks", "bookings", "catalog", "deadletters")
        asyncio.run(ensure_topics(stack.kafka_bootstrap, [prefix + t for t in logical], PARTITIONS))
        _progress("producing")
        asyncio.run(
            produce(
                [*catalog, *events],
                bootstrap=stack.kafka_bootstrap,
                topic_prefix=prefix,
                progress=False,
            )
        )
        topics = [prefix + "clicks", prefix + "bookings"]
        total = len(catalog) + len(events)
        report: dict[str, Any] = {
            "command": "python -m loadtest bench ingest " + " ".join(sys.argv[3:]),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "events": plan.events,
            "catalog_items": len(catalog),
            "users": plan.users,
            "partitions": PARTITIONS,
            "baselines": {},
            "worker": {},
        }
        _progress("baseline: raw aiokafka")
        report["baselines"]["raw_aiokafka"] = asyncio.run(
            _raw_aiokafka(stack.kafka_bootstrap, topics, len(events))
        )
        if plan.faust_baselines:
            _progress("baseline: bare faust agent")
            report["baselines"]["bare_faust"] = _bare_faust(
                stack.kafka_bootstrap, topics, len(events), workdir / "faust.log"
            )
        runs = [("batch", 1), ("batch", 2)]
        if plan.faust_baselines:
            runs.append(("faust", 1))
        for engine, n in runs:
            _progress(f"worker: engine={engine} processes={n}")
            report["worker"][f"{engine}_x{n}"] = _workers(
                stack, prefix, total, len(events), processes=n, engine=engine, workdir=workdir
            )
    w, b = report["worker"], report["baselines"]
    report["ratios"] = {
        "two_vs_one_process": w["batch_x2"]["rate"] / w["batch_x1"]["rate"],
        "two_vs_one_process_steady": w["batch_x2"]["steady_rate"] / w["batch_x1"]["steady_rate"],
        "batch_worker_vs_raw_aiokafka": w["batch_x1"]["rate"] / b["raw_aiokafka"]["rate"],
    }
    if "bare_faust" in b:
        report["ratios"]["batch_worker_vs_bare_faust"] = (
            w["batch_x1"]["rate"] / b["bare_faust"]["rate"]
        )
        report["ratios"]["faust_worker_vs_bare_faust"] = (
            w["faust_x1"]["rate"] / b["bare_faust"]["rate"]
        )
    report["logs"] = str(workdir)
    return report
