"""Sweeps over users who are still receiving events: contention never stops the worker.

A user due for a reminder is often still browsing, so the event pipeline keeps changing the
customer states a sweep step read. The sweep must go on (that is contention, not broken
infrastructure), leave a user who keeps changing due for a later sweep, and still decide
every offer once and lose no state update. Real broker and Redis; the sweeping worker runs
in-process, the other worker's event pipeline in a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from multiprocessing.synchronize import Event as EventT

import pytest
from aiokafka import AIOKafkaProducer

from recommender.engagement.store import EngageStore, StateSnapshot
from recommender.keys import Keys
from recommender.settings import Settings
from schemas import encode
from streams.engage_index import ABANDONED_SEARCH, REACTIVATION
from streams.pipeline import RawRecord
from streams.topics import ensure_topics
from tests.integration.test_engage_pipeline import (
    DAY,
    NOON,
    Harness,
    click,
    consent,
    seed_catalog,
    settings_of,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4  # of the other worker's clicks (partition 0 is the setup's)
CONSENTED = NOON - 2 * DAY  # consent given long before; busy users re-confirm it after this
# What the other worker applied: clicks per user, newest click per user, its error if any.
Report = tuple[dict[str, int], dict[str, float], str | None]


@contextlib.asynccontextmanager
async def harness(namespace: dict[str, str], batch: int) -> AsyncIterator[Harness]:
    """The engagement side of one worker whose sweeps read ``batch`` due users a step."""
    s = settings_of(namespace, engage_sweep_batch=batch)
    await ensure_topics(s)
    store = EngageStore.from_url(s.redis_url, Keys(s.key_prefix))
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, linger_ms=2)
    await producer.start()
    h = Harness(s, store, producer)
    try:
        yield h
    finally:
        await h.close()
        await producer.stop()
        await store.close()


@pytest.fixture
async def h(namespace: dict[str, str]) -> AsyncIterator[Harness]:
    """Small sweep steps, so that a sweep takes several steps over the users."""
    async with harness(namespace, 25) as h:
        yield h


@pytest.fixture
async def big(namespace: dict[str, str]) -> AsyncIterator[Harness]:
    """Sweep steps of the default size (every due user of these tests in one step)."""
    async with harness(namespace, 1000) as h:
        yield h


async def due_for(h: Harness, kind: str, users: list[str]) -> float:
    """Users due for ``kind`` at the returned sweep time (their state set up, clock moved)."""
    await h.apply(*(consent(u, CONSENTED) for u in users))
    if kind == ABANDONED_SEARCH:
        await seed_catalog(h.store, NOON)
        await h.apply(*(click(u, NOON, action="search", destination="paris") for u in users))
        now = NOON + DAY + 60
    else:  # idle since NOON: at risk after 45 days
        await seed_catalog(h.store, NOON + 46 * DAY)
        await h.apply(*(click(u, NOON) for u in users))
        now = NOON + 46 * DAY
    await h.apply(click("clock", now, item_id="h2"))  # moves the event clock
    due = await h.store.due(kind, now, 10_000)
    assert set(users) <= set(due)
    return now


def recorded(kind: str, snap: StateSnapshot, u: str) -> bool:
    """True when the user's state records the offer of ``kind`` as sent."""
    s = snap.states[u]
    if kind == ABANDONED_SEARCH:
        return s.searches["paris"].reminded_at > 0
    return s.reactivation_sent > 0


@pytest.mark.parametrize("kind", [ABANDONED_SEARCH, REACTIVATION])
async def test_users_changing_under_every_commit_stay_due_and_the_rest_are_settled(
    h: Harness, kind: str
) -> None:
    users = [f"u{i:02d}" for i in range(60)]
    hot = set(users[:7])  # an event for each of them lands between every read and commit
    now = await due_for(h, kind, users)
    ticks = itertools.count(1)
    last: dict[str, float] = {}
    racing = True
    real_load = h.store.load_states

    async def load_then_race(
        partitions: Iterable[tuple[str, int]], user_ids: Iterable[str]
    ) -> StateSnapshot:
        tps, ids = list(partitions), list(user_ids)
        snap = await real_load(tps, ids)
        busy = [u for u in ids if u in hot]
        if racing and not tps and busy:  # a sweep's read (the event pipeline reads offsets)
            events = [consent(u, CONSENTED + next(ticks)) for u in busy]
            last.update((e.user_id, e.ts) for e in events)
            await h.apply(*events)
        return snap

    h.store.load_states = load_then_race  # type: ignore[method-assign]

    done = await h.sweeps.run_once()  # before the fix: StoreError after 20 attempts
    # In steps of 25, each user read once: the hot ones left due are not read again.
    assert done[kind] == h.sweeps.read[kind] == len(users)
    assert h.sweeps.conflicts[kind] >= len(hot)
    offers = await h.read("offers", len(users))
    assert sorted(o["user_id"] for o in offers) == users  # decided and sent once each
    snap = await real_load((), users)
    for u in users:
        score = await h.store.r.zscore(h.keys.due(kind), u)
        if u in hot:  # the sent offer is not recorded yet; the user is still due
            assert not recorded(kind, snap, u)
            assert score is not None and score <= now
        else:
            assert recorded(kind, snap, u)
            assert score is None if kind == ABANDONED_SEARCH else score == now + 30 * DAY

    # Quiet again: the next sweep settles them, and the gate remembers their offers.
    racing = False
    await h.sweeps.run_once()
    assert await h.read("offers", 0, linger_s=0.3) == []
    assert h.decisions[(kind, "send", None)] == len(users)
    assert h.decisions[(kind, "suppress", "duplicate")] == len(hot)
    snap = await real_load((), users)
    for u in users:
        assert recorded(kind, snap, u)
        if u in hot:  # every event that raced the sweep is in the state: none lost
            assert snap.states[u].consent["push"] == (True, last[u])
    assert not set(users) & set(await h.store.due(kind, now, 10_000))


class OtherWorker:
    """Another worker's event pipeline, in a process of its own (as in production): views by
    every user, in batches of 10, on partitions of its own, until stopped."""

    def __init__(self, s: Settings, users: list[str], since: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.started = ctx.Event()
        self.stopping = ctx.Event()
        self.results: multiprocessing.Queue[Report] = ctx.Queue()
        self.proc = ctx.Process(
            target=browse,
            args=(s, users, since, self.started, self.stopping, self.results),
            daemon=True,
        )

    def start(self) -> None:
        self.proc.start()

    def stop(self) -> Report:
        """Stop browsing and report what was applied."""
        self.stopping.set()
        try:
            return self.results.get(timeout=60)
        finally:
            self.proc.join(30)
            if self.proc.is_alive():
                self.proc.kill()


def browse(
    s: Settings,
    users: list[str],
    since: float,
    started: EventT,
    stopping: EventT,
    results: multiprocessing.Queue[Report],
) -> None:
    """The other worker's process: applies views until ``stopping``, then reports them."""
    sent: Counter[str] = Counter()
    newest: dict[str, float] = {}
    error: str | None = None

    async def main() -> None:
        store = EngageStore.from_url(s.redis_url, Keys(s.key_prefix))
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, linger_ms=2)
        await producer.start()
        try:
            other = Harness(s, store, producer)
            await asyncio.gather(*(one(other, p) for p in range(1, PARTITIONS + 1)))  # 0: setup
        finally:
            await producer.stop()
            await store.close()

    async def one(other: Harness, partition: int) -> None:
        topic = s.topic("clicks")
        offsets = itertools.count()
        mine = users[partition - 1 :: PARTITIONS]  # a user's events are on one partition
        ts = since
        while not stopping.is_set():
            for i in range(0, len(mine), 10):
                ts += 1.0
                events = [click(u, ts, item_id="h1") for u in mine[i : i + 10]]
                recs = [
                    RawRecord(topic, partition, next(offsets), e.user_id.encode(), encode(e))
                    for e in events
                ]
                await other.engage.apply(recs)
                for e in events:
                    sent[e.user_id] += 1
                    newest[e.user_id] = max(newest.get(e.user_id, 0.0), e.ts)
                started.set()

    try:
        asyncio.run(main())
    except Exception as exc:  # reported to the test, which fails on it
        error = repr(exc)
    finally:
        started.set()
        results.put((dict(sent), newest, error))


async def test_an_abandoned_search_sweep_runs_on_while_its_users_keep_clicking(
    big: Harness,
) -> None:
    h = big
    users = [f"u{i:03d}" for i in range(600)]
    now = await due_for(h, ABANDONED_SEARCH, users)
    other = OtherWorker(h.s, users, now)
    other.start()
    try:
        assert await asyncio.to_thread(other.started.wait, 60)
        ends = time.monotonic() + 1.5
        while time.monotonic() < ends:  # before the fix: StoreError (the worker exits)
            await h.sweeps.run_once()
    finally:
        sent, newest, error = await asyncio.to_thread(other.stop)
    assert error is None  # the event pipeline never gave up either
    assert h.sweeps.conflicts[ABANDONED_SEARCH] > 0  # the contention was real

    for _ in range(5):  # quiet: later sweeps settle whoever was left due
        await h.sweeps.run_once()
        if not set(users) & set(await h.store.due(ABANDONED_SEARCH, now, 10_000)):
            break
    assert not set(users) & set(await h.store.due(ABANDONED_SEARCH, now, 10_000))

    offers = await h.read("offers", len(users))
    assert Counter(o["user_id"] for o in offers) == Counter(users)  # one reminder each
    assert len({o["offer_id"] for o in offers}) == len(users)
    assert h.decisions[(ABANDONED_SEARCH, "send", None)] == len(users)
    snap = await h.store.load_states((), users)
    for u in users:  # reminder recorded, and every click applied: no update lost
        assert snap.states[u].searches["paris"].reminded_at > 0
        assert snap.states[u].last_active == newest[u]
    stats = await h.store.r.hget(h.keys.engage_stats(), "applied:clicks")
    assert stats is not None
    assert int(stats) == len(users) + 1 + sum(sent.values())  # searches, clock, views
