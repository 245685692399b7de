"""The ingest pipeline against real Redis: redelivery is skipped, concurrent writers retry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import orjson
import pytest

from loadtest.stack import Stack
from recommender import popularity
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from schemas import DeadLetter
from streams.pipeline import Ingest, RawRecord

pytestmark = pytest.mark.integration


def click(i: int, user: str = "u1", item: str = "h1") -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "event_id": f"e{i}",
            "user_id": user,
            "session_id": "s1",
            "action": "view",
            "item_id": item,
            "item_type": "hotel",
            "destination": "sanya",
            "price": 420.0,
            "currency": "CNY",
            "ts": 1_000.0 + i,
        }
    )


def booking(i: int, user: str = "u1") -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "event_id": f"b{i}",
            "user_id": user,
            "booking_id": f"bk{i}",
            "status": "confirmed",
            "item_id": f"h{i}",
            "item_type": "hotel",
            "destination": "lijiang",
            "amount": 100.0,
            "currency": "CNY",
            "travel_start": "2026-12-01",
            "ts": 1_000.5 + i,
        }
    )


class Sink:
    """Collects dead letters in memory (the broker path is covered by test_dead_letters)."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def __call__(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


def make(namespace: dict[str, str]) -> tuple[Settings, RedisStore, Sink, Ingest]:
    s = Settings(
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
    )
    store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), "ingest")
    sink = Sink()
    return s, store, sink, Ingest(s, store, sink, consumer_name="test", clock=time.time)


async def test_redelivered_batch_is_skipped(namespace: dict[str, str], stack: Stack) -> None:
    s, store, sink, ingest = make(namespace)
    topic = s.topic("clicks")
    batch = [RawRecord(topic, 0, i, b"u1", click(i)) for i in range(10)]
    batch.append(RawRecord(topic, 0, 10, b"u1", b"{not json"))
    try:
        first = await ingest.apply(batch)
        again = await ingest.apply(batch)  # what Kafka does after a crash before its commit
        overlap = await ingest.apply([*batch[5:], RawRecord(topic, 0, 11, b"u1", click(11))])
        profiles = await store.read_profiles(["u1"])
    finally:
        await store.close()
    assert first.applied == {"clicks": 10} and first.dead == {"clicks": 1}
    assert again.applied == {} and again.skipped == 10 and again.dead == {}
    assert overlap.applied == {"clicks": 1}
    assert profiles["u1"].n_events == 11
    assert len(sink.letters) == 1 and "JSON" in sink.letters[0].reason
    assert sink.letters[0].original_value() == b"{not json"
    assert profiles["u1"].recent[0][0] == "h1"


async def test_concurrent_writers_on_one_user_lose_nothing(
    namespace: dict[str, str], stack: Stack
) -> None:
    # Clicks and bookings of one user may sit on two workers; both write the same profile.
    s, store_a, _, a = make(namespace)
    _, store_b, _, b = make(namespace)
    ta, tb = s.topic("clicks"), s.topic("bookings")

    async def clicks() -> int:
        conflicts = 0
        for i in range(40):
            conflicts += (await a.apply([RawRecord(ta, 0, i, b"u1", click(i))])).conflicts
        return conflicts

    async def bookings() -> int:
        conflicts = 0
        for i in range(40):
            conflicts += (await b.apply([RawRecord(tb, 0, i, b"u1", booking(i))])).conflicts
        return conflicts

    try:
        conflicts = await asyncio.gather(clicks(), bookings())
        profiles = await store_a.read_profiles(["u1"])
    finally:
        await store_a.close()
        await store_b.close()
    p = profiles["u1"]
    assert p.n_events == 80 and p.n_bookings == 40 and p.monetary == 4000.0
    assert sum(conflicts) > 0, "the two writers never raced; the test proves nothing"


async def test_unknown_item_is_applied_and_recorded(
    namespace: dict[str, str], stack: Stack
) -> None:
    s, store, _, ingest = make(namespace)
    try:
        res = await ingest.apply(
            [RawRecord(s.topic("clicks"), 0, 0, b"u9", click(0, "u9", "h-new"))]
        )
        unknown = await store.r.hgetall(Keys(s.key_prefix).unknown_items())
        profiles = await store.read_profiles(["u9"])
    finally:
        await store.close()
    assert res.unknown_items == 1
    assert unknown == {b"h-new": b"1"}
    assert profiles["u9"].embedding() is not None
    assert profiles["u9"].aff["dest"] == {"sanya": 1.0}


async def test_popularity_counts_once_per_event(namespace: dict[str, str], stack: Stack) -> None:
    s, store, _, ingest = make(namespace)
    keys = Keys(s.key_prefix)
    batch = [RawRecord(s.topic("clicks"), 0, i, b"u1", click(i)) for i in range(4)]
    try:
        await ingest.apply(batch)
        await ingest.apply(batch)  # redelivered: must not count again
        day = popularity.day_of(1_000.0)
        in_sanya = await store.r.zscore(keys.popularity(day, "sanya"), "h1")
        everywhere = await store.r.zscore(keys.popularity(day, popularity.ALL_MARKETS), "h1")
        ttl = await store.r.ttl(keys.popularity(day, "sanya"))
    finally:
        await store.close()
    assert in_sanya == everywhere == 4.0  # four views of weight 1
    assert 0 < ttl <= 8 * 86_400
