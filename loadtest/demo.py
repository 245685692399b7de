"""`make demo`: the embedded stack, a worker and synthetic travellers, with live profiles."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import redis.asyncio as aioredis

from loadtest.apiproc import ApiProcess
from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack
from loadtest.workers import WorkerProcess
from loadtest.world import Record, World
from recommender.console.passwords import hash_password
from recommender.keys import Keys
from recommender.profile import Profile
from recommender.profile_codec import loads
from recommender.settings import LOGICAL_TOPICS

SHOWN_USERS = 3
# The demo's console sign-ins (name, role, password): for this local demo only.
CONSOLE_USERS = (("demo", "analyst", "demo-password"), ("admin", "admin", "admin-password"))
CONSOLE_HINT_ROUND = 3  # refresh that prints console links to the busiest customers
REFRESH_S = 2.0
TRAIN_AFTER_S = 20.0  # enough sessions for next-item rules; the API picks the model up live


def _fmt_profile(user_id: str, p: Profile, now: float) -> list[str]:
    dests = ", ".join(f"{k} {v:.1f}" for k, v in p.top("dest", 3)) or "-"
    types = ", ".join(f"{k} {v:.1f}" for k, v in p.top("type", 2)) or "-"
    band = p.top("band", 1)
    recent = ", ".join(i for i, _ in p.recent[:3]) or "-"
    booked = ", ".join(p.booked_items()[:2]) or "-"
    return [
        f"  {user_id}  events {p.n_events:<5} last active {max(now - p.last_active, 0):5.0f} s ago"
        f"  bookings {p.n_bookings} ({p.monetary:,.0f} CNY)",
        f"      top destinations: {dests}",
        f"      types: {types}   budget: {band[0][0] if band else '-'}",
        f"      recent: {recent}",
        f"      booked: {booked}",
    ]


def console_env() -> dict[str, str]:
    """Console users and a fresh cookie secret for the demo's API process."""
    users = {n: {"role": r, "password": hash_password(pw)} for n, r, pw in CONSOLE_USERS}
    return {
        "RECO_CONSOLE_USERS": orjson.dumps(users).decode(),
        "RECO_CONSOLE_SECRET": secrets.token_urlsafe(32),
    }


async def _offers(http: httpx.AsyncClient, api: ApiProcess, user_id: str) -> list[str]:
    try:
        r = await http.get(
            f"{api.url}/v1/users/{user_id}/recommendations",
            params={"k": 3},
            headers={"X-API-Key": api.key},
        )
    except httpx.HTTPError as exc:
        return [f"      (API error: {exc})"]
    if r.status_code != 200:
        return [f"      (API answered {r.status_code}: {r.text[:100]})"]
    return [
        f"      offer: {i['title'] or i['item_id']} ({i['item_type']}) - {i['reason']}"
        for i in r.json()["items"]
    ]


async def _show(
    client: aioredis.Redis,
    keys: Keys,
    active: collections.Counter[str],
    started: float,
    rounds: list[int],
    http: httpx.AsyncClient,
    api: ApiProcess,
) -> None:
    raw = await client.hgetall(keys.stats())
    stats = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}
    applied = sum(v for k, v in stats.items() if k.startswith("applied:"))
    dead = sum(v for k, v in stats.items() if k.startswith("dead:"))
    users = [u for u, _ in active.most_common(SHOWN_USERS)]
    blobs = await client.mget([keys.user(u) for u in users]) if users else []
    now = time.time()
    lines = [
        f"-- {now - started:5.0f} s  applied {applied:,.0f} events, "
        f"dead letters {dead:,.0f}  (refresh #{rounds[0]})",
    ]
    for u, blob in zip(users, blobs, strict=True):
        if isinstance(blob, bytes):
            lines += _fmt_profile(u, loads(blob), now)
            lines += await _offers(http, api, u)
    if rounds[0] == CONSOLE_HINT_ROUND and users:
        lines.append("  look them up in the console:")
        lines += [f"    {api.url}/console/customers/{u}" for u in users[:2]]
    rounds[0] += 1
    print("\n".join(lines), flush=True)


async def _run(stack: Stack, duration: float, rate: float, users: int, seed: int) -> int:
    tag = "demo"
    keys = Keys(tag)
    env = {**stack.env(), "RECO_TOPIC_PREFIX": "demo.", "RECO_KEY_PREFIX": tag}
    workdir = Path(tempfile.mkdtemp(prefix="reco-demo-"))
    client = aioredis.Redis.from_url(stack.redis_url)
    # A fresh start each time: the embedded broker forgets topics, so must Redis.
    old = [k async for k in client.scan_iter(keys.all_pattern(), count=1000)]
    for i in range(0, len(old), 1000):
        await client.delete(*old[i : i + 1000])
    await ensure_topics(stack.kafka_bootstrap, [f"demo.{t}" for t in LOGICAL_TOPICS], 4)
    worker = WorkerProcess(env, workdir / "worker.log").start()
    print(f"worker pid {worker.pid} (log: {worker.log})", flush=True)
    api = ApiProcess({**env, **console_env()}, workdir / "api.log")
    http = httpx.AsyncClient(timeout=5)
    world = World(seed=seed, n_users=users, n_items=max(500, users // 2))
    now = time.time()
    await produce(
        world.catalog_records(now),
        bootstrap=stack.kafka_bootstrap,
        topic_prefix="demo.",
        progress=False,
    )
    await asyncio.to_thread(api.start)
    print(f"API on {api.url} (key {api.key}; log: {api.log})", flush=True)
    print(
        f"CRM console on {api.url}/console — sign in as {CONSOLE_USERS[0][0]} / "
        f"{CONSOLE_USERS[0][2]} (analyst) or {CONSOLE_USERS[1][0]} / {CONSOLE_USERS[1][2]} "
        "(admin); customer ids worth a look follow below",
        flush=True,
    )
    speed = rate / world.base_event_rate
    active: collections.Counter[str] = collections.Counter()

    def events() -> Iterator[Record]:
        for rec in world.events(sys.maxsize, now, speed=speed, bad_fraction=0.002):
            if rec.valid:
                active[orjson.loads(rec.value)["user_id"]] += 1
            yield rec

    producer = asyncio.ensure_future(
        produce(
            events(),
            bootstrap=stack.kafka_bootstrap,
            topic_prefix="demo.",
            rate=rate,
            progress=False,
            duration=duration if duration > 0 else None,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.time()
    rounds = [1]
    code = 0
    trainer: asyncio.subprocess.Process | None = None
    try:
        while not stop.is_set():
            if trainer is None and time.time() - started > TRAIN_AFTER_S:
                trainer = await _train(env, workdir)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REFRESH_S)
            if not worker.alive():
                print(f"worker exited:\n{worker.tail()}", file=sys.stderr)
                code = 1
                break
            await _show(client, keys, active, started, rounds, http, api)
            if producer.done():
                producer.result()  # surfaces a producer failure
                break
    finally:
        if trainer is not None and trainer.returncode is None:
            trainer.kill()
            await trainer.wait()
        producer.cancel()
        with contextlib.suppress(BaseException):
            await producer
        worker.stop()
        api.stop()
        await http.aclose()
        await client.aclose()
    print(f"demo finished after {time.time() - started:.0f} s", flush=True)
    return code


async def _train(env: dict[str, str], workdir: Path) -> asyncio.subprocess.Process:
    """Train and publish a model from the traffic so far, in the background."""
    print("training a model on the events so far (python -m recommender train)...", flush=True)
    with (workdir / "train.log").open("ab") as log:  # the child keeps its own copy
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "recommender",
            "train",
            "--out",
            str(workdir / "models"),
            env={**os.environ, **env},
            stdout=log,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
        )


def run(*, duration: float, rate: float, users: int, seed: int) -> int:
    """Start everything, stream synthetic traffic, print live profiles, tear down."""
    print("starting the embedded stack (Tansu broker + Redis)...", flush=True)
    with Stack() as stack:
        print(f"broker {stack.kafka_bootstrap}, redis {stack.redis_url}", flush=True)
        return asyncio.run(_run(stack, duration, rate, users, seed))
