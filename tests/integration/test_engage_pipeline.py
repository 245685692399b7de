"""Engagement pipelines against the real broker and Redis: offers out, dead letters, dedupe.

The pipelines are driven in-process with records as the consumer would hand them over
(topic, partition, offset, key, value), so each test controls redelivery exactly; offers
and dead letters go to the real broker and are read back with a raw consumer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from recommender.engagement.gate import PushGate
from recommender.engagement.store import EngageStore
from recommender.keys import Keys
from recommender.popularity import ALL_MARKETS, day_of
from recommender.settings import Settings
from schemas import Booking, Click, Consent, Contract, Feedback, PriceUpdate, decode, encode
from streams.deadletters import DeadLetterProducer
from streams.engage import Engage
from streams.engage_common import EventClock
from streams.engage_items import ItemPicker
from streams.engage_offers import Decider, OfferSink
from streams.engage_prices import PriceDrops
from streams.engage_sweeps import Sweeps
from streams.engagement_metrics import count_decision
from streams.pipeline import RawRecord
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

DAY = 86_400.0
NOON = datetime(2024, 6, 3, 12, tzinfo=UTC).timestamp()  # outside quiet hours in UTC
_ids = itertools.count()


def click(user: str, ts: float, action: str = "view", **kw: Any) -> Click:
    if action != "search":
        kw.setdefault("item_id", "h1")
        kw.setdefault("item_type", "hotel")
    if "price" in kw:
        kw.setdefault("currency", "CNY")
    return Click(
        event_id=f"c{next(_ids)}", user_id=user, session_id="s1", action=action, ts=ts, **kw
    )


def booking(user: str, ts: float, **kw: Any) -> Booking:
    doc: dict[str, Any] = {
        "booking_id": f"b-{user}",
        "status": "confirmed",
        "item_id": "f1",
        "item_type": "flight",
        "destination": "paris",
        "amount": 2000.0,
        "currency": "CNY",
        "travel_start": date(2024, 7, 1),
        "travel_end": date(2024, 7, 8),
        **kw,
    }
    return Booking(event_id=f"b{next(_ids)}", user_id=user, ts=ts, **doc)


def consent(user: str, ts: float, granted: bool = True, tz: str = "UTC") -> Consent:
    return Consent(
        event_id=f"k{next(_ids)}", user_id=user, channel="push", granted=granted, timezone=tz, ts=ts
    )


def complaint(user: str, ts: float) -> Feedback:
    return Feedback(
        event_id=f"f{next(_ids)}", user_id=user, kind="complaint", category="service", ts=ts
    )


def price(item: str, new: float, previous: float | None, ts: float) -> PriceUpdate:
    return PriceUpdate(
        event_id=f"p{next(_ids)}",
        item_id=item,
        price=new,
        previous_price=previous,
        currency="CNY",
        ts=ts,
    )


class Harness:
    """The engagement side of one worker, in-process, on a fresh namespace."""

    def __init__(self, s: Settings, store: EngageStore, producer: AIOKafkaProducer) -> None:
        self.s = s
        self.store = store
        self.keys = store.keys
        self.producer = producer
        self.decisions: Counter[tuple[str, str, str | None]] = Counter()
        self.gate = PushGate(store.r, self.keys, s.engagement, on_decision=self._count)
        self.clock = EventClock(s.engage_clock)
        sink = DeadLetterProducer(producer, s.topic("deadletters"))
        offers = OfferSink(producer, s.topic("offers"))
        items = ItemPicker(store, ttl_s=0.0)
        self.engage = Engage(
            s, store, Decider(self.gate), offers, items, sink, consumer_name="t", clock=self.clock
        )
        self.prices = PriceDrops(
            s, store, self.gate, offers, sink, consumer_name="t", clock=self.clock
        )
        self.sweeps = Sweeps(s, store, self.gate, offers, items, self.clock)
        self.offsets: Counter[str] = Counter()
        self.consumers: dict[str, AIOKafkaConsumer] = {}

    def _count(self, kind: str, outcome: str, reason: str | None) -> None:
        self.decisions[(kind, outcome, reason)] += 1
        count_decision(kind, outcome, reason)

    def record(self, logical: str, value: bytes, key: bytes | None = None) -> RawRecord:
        """The next record of a topic's partition 0."""
        off = self.offsets[logical]
        self.offsets[logical] += 1
        return RawRecord(self.s.topic(logical), 0, off, key, value)

    def records(self, *events: Contract) -> list[RawRecord]:
        return [self.record(e.KIND, encode(e)) for e in events]

    async def apply(self, *events: Contract) -> list[RawRecord]:
        """Events through the pipeline their topic belongs to; returns the records."""
        recs = self.records(*events)
        await self.feed(recs)
        return recs

    async def feed(self, recs: Sequence[RawRecord]) -> None:
        prices = [r for r in recs if r.topic == self.s.topic("prices")]
        users = [r for r in recs if r.topic != self.s.topic("prices")]
        if users:
            await self.engage.apply(users)
        if prices:
            await self.prices.apply(prices)

    async def read(self, logical: str, expect: int, linger_s: float = 0.5) -> list[dict[str, Any]]:
        """Messages of a topic not read before: waits for ``expect``, then lingers for more."""
        consumer = self.consumers.get(logical)
        if consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.s.kafka_bootstrap, enable_auto_commit=False
            )
            self.consumers[logical] = consumer
            await consumer.start()
            await consumer.topics()  # loads partition metadata
            topic = self.s.topic(logical)
            parts = sorted(consumer.partitions_for_topic(topic) or ())
            tps = [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        out: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        quiet_until = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            for msgs in batch.values():
                for m in msgs:
                    if logical == "offers":
                        decode("offers", m.value)  # every offer satisfies the contract
                    out.append(orjson.loads(m.value))
            if len(out) >= expect:
                quiet_until = quiet_until or loop.time() + linger_s
                if loop.time() >= quiet_until:
                    break
        return out

    async def close(self) -> None:
        for c in self.consumers.values():
            await c.stop()


def settings_of(namespace: dict[str, str], **kw: Any) -> Settings:
    return Settings(
        kafka_bootstrap=namespace["KAFKA_BOOTSTRAP"],
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
        app_id=namespace["RECO_APP_ID"],
        engage_clock="event",
        **kw,
    )


async def seed_catalog(store: EngageStore, now: float) -> None:
    """Hotels, cars and tours in paris (and a flight), popular today."""
    items = [
        ("h1", "hotel", 100.0),
        ("h2", "hotel", 300.0),
        ("c1", "car", 50.0),
        ("t1", "tour", 80.0),
        ("f1", "flight", 2000.0),
    ]
    k = store.keys
    for n, (item, itype, p) in enumerate(items):
        meta = {
            "item_id": item,
            "item_type": itype,
            "destination": "paris",
            "price": p,
            "currency": "CNY",
            "active": True,
        }
        await store.r.set(k.item(item), orjson.dumps(meta))
        for market in ("paris", ALL_MARKETS):
            await store.r.zadd(k.popularity(day_of(now), market), {item: 10.0 - n})


@contextlib.asynccontextmanager
async def harness_for(s: Settings) -> AsyncIterator[Harness]:
    """A Harness on its topics, store, producer and seeded catalog; all closed afterwards."""
    await ensure_topics(s)
    store = EngageStore.from_url(s.redis_url, Keys(s.key_prefix))
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, linger_ms=2)
    await producer.start()
    await seed_catalog(store, NOON)
    harness = Harness(s, store, producer)
    try:
        yield harness
    finally:
        await harness.close()
        await producer.stop()
        await store.close()


@pytest.fixture
async def h(namespace: dict[str, str]) -> AsyncIterator[Harness]:
    async with harness_for(settings_of(namespace)) as harness:
        yield harness


async def test_a_flight_booking_cross_sells_once_to_a_consenting_user_only(h: Harness) -> None:
    recs = await h.apply(
        consent("yes", NOON - 3600),
        booking("yes", NOON),
        booking("no", NOON + 1),  # never consented
    )
    offers = await h.read("offers", 1)
    assert len(offers) == 1
    o = offers[0]
    assert (o["user_id"], o["kind"], o["channel"]) == ("yes", "cross_sell", "push")
    assert o["created_at"] == NOON  # decided at the booking's time, not the wall clock
    assert {i["item_type"] for i in o["items"]} == {"hotel", "car", "tour"}
    assert all(i["destination"] == "paris" for i in o["items"])
    assert o["context"]["travel_start"] == "2024-07-01"
    assert h.decisions[("cross_sell", "suppress", "no_consent")] == 1
    assert h.decisions[("cross_sell", "send", None)] == 1

    # Redelivery of the same records: below the watermark, skipped.
    await h.feed(recs)
    # A crash after the offer was produced but before the commit: the batch is applied
    # again from scratch, and the gate remembers the offer.
    await h.store.r.delete(
        h.keys.offsets("engage", recs[0].topic, 0),
        h.keys.offsets("engage", recs[1].topic, 0),
        h.keys.customer("yes"),
    )
    await h.feed(recs)
    assert await h.read("offers", 0) == []
    assert h.decisions[("cross_sell", "suppress", "duplicate")] == 1
    assert h.decisions[("cross_sell", "send", None)] == 1


async def test_a_complaint_pauses_marketing_offers(h: Harness) -> None:
    await h.apply(consent("u1", NOON - 7200), complaint("u1", NOON - 3600), booking("u1", NOON))
    assert await h.read("offers", 0) == []
    assert h.decisions == {("cross_sell", "suppress", "complaint_hold"): 1}
    facts = (await h.store.facts(["u1"]))[0]
    assert facts.complaint_until == pytest.approx(NOON - 3600 + 30 * DAY)


async def test_price_drop_reaches_recent_consenting_watchers_once(h: Harness) -> None:
    await h.apply(
        *(consent(u, NOON - 30 * DAY) for u in ("a", "b", "c", "e")),
        click("a", NOON - DAY, price=100.0),  # watcher
        click("b", NOON - DAY, price=100.0),
        booking("b", NOON - 3600, item_id="h1", item_type="hotel", booking_id="bb"),  # bought it
        click("c", NOON - 20 * DAY, price=100.0),  # outside the 14-day window
        click("d", NOON - DAY, price=100.0),  # no consent
        click("e", NOON - 2 * DAY, action="wishlist"),  # no price seen: previous price counts
        click("f", NOON - DAY, item_id="h2", price=300.0),  # watches another item
    )
    watchers = await h.store.watchers("h1", NOON - 14 * DAY)
    assert sorted(w.user_id for w in watchers) == ["a", "d", "e"]  # b booked, c too old

    small = await h.apply(price("h1", 95.0, 100.0, NOON))  # 5%: below the 10% threshold
    assert await h.read("offers", 0, linger_s=0.3) == []
    drop = await h.apply(price("h1", 80.0, 95.0, NOON + 60))  # vs seen 100: 20%
    offers = await h.read("offers", 2)
    assert sorted(o["user_id"] for o in offers) == ["a", "e"]
    assert {o["kind"] for o in offers} == {"price_drop"}
    a = next(o for o in offers if o["user_id"] == "a")
    assert a["context"]["old_price"] == 100.0 and a["context"]["new_price"] == 80.0
    assert a["items"][0]["item_id"] == "h1" and a["items"][0]["price"] == 80.0
    assert h.decisions[("price_drop", "suppress", "no_consent")] == 1

    # The same update again: skipped by the watermark; after a crash before the commit,
    # decided again and answered 'duplicate' by the gate.
    await h.feed(drop)
    await h.store.r.delete(h.keys.offsets("engage", drop[0].topic, 0))
    await h.feed([*small, *drop])
    assert await h.read("offers", 0) == []
    assert h.decisions[("price_drop", "suppress", "duplicate")] == 2
    assert h.decisions[("price_drop", "send", None)] == 2
    # The item's last price is kept for updates that do not carry the previous one.
    assert orjson.loads(await h.store.r.get(h.keys.item_price("h1"))) == [80.0, NOON + 60]


async def test_bad_records_are_dead_lettered_once_and_good_ones_applied(h: Harness) -> None:
    good = [consent("u1", NOON), complaint("u1", NOON + 1)]
    bad_consent = h.record("consent", b'{"event_id": "x", "user_id": "u2"}', b"u2")
    bad_feedback = h.record("feedback", b"not json", b"u3")
    bad_price = h.record("prices", b"", b"h1")
    bad_click = h.record("clicks", b"{}", b"u4")  # ingest dead-letters clicks, not engage
    recs = [*h.records(*good), bad_consent, bad_feedback, bad_click, bad_price]
    await h.feed(recs)
    await h.feed(recs)  # redelivered: no second dead letter
    letters = await h.read("deadletters", 3)
    assert len(letters) == 3
    by_topic = {d["source_topic"]: d for d in letters}
    assert set(by_topic) == {h.s.topic(t) for t in ("consent", "feedback", "prices")}
    for d, rec in ((by_topic[r.topic], r) for r in (bad_consent, bad_feedback, bad_price)):
        assert d["reason"] and d["offset"] == rec.offset
        assert base64.b64decode(d["value_b64"]) == rec.value
    stats = {
        k.decode(): int(v) for k, v in (await h.store.r.hgetall(h.keys.engage_stats())).items()
    }
    assert stats == {
        "applied:consent": 1,
        "applied:feedback": 1,
        "dead:consent": 1,
        "dead:feedback": 1,
        "dead:prices": 1,
    }
    facts = (await h.store.facts(["u1"]))[0]
    assert facts.consent == {"push": True} and facts.complaint_until > NOON


async def test_small_steps_that_add_up_to_a_drop_below_the_price_seen_reach_the_watcher(
    h: Harness,
) -> None:
    await h.apply(
        *(consent(u, NOON - 30 * DAY) for u in ("saw-1000", "saw-950")),
        click("saw-1000", NOON - DAY, price=1000.0),
        click("saw-950", NOON - DAY, price=950.0),
    )
    assert await h.store.r.zscore(h.keys.watcher_max_price("h1"), "max") == 1000.0
    await h.apply(price("h1", 950.0, 1000.0, NOON))  # 5% step, 5% below what anyone saw
    assert await h.read("offers", 0, linger_s=0.3) == []
    await h.apply(price("h1", 900.0, 950.0, NOON + 60))  # 5% step, 10% below 1000
    offers = await h.read("offers", 1)
    assert [o["user_id"] for o in offers] == ["saw-1000"]  # 900 is 5.3% below 950
    ctx = offers[0]["context"]
    assert (ctx["old_price"], ctx["new_price"], ctx["drop_pct"]) == (1000.0, 900.0, 10.0)
    assert h.decisions == {("price_drop", "send", None): 1}
