"""Price updates -> price-drop offers to every recent watcher (consumer group engage-prices).

Prices run in their own consumer group, not in the user-event one, because one update can
fan out to 100,000 watchers and take seconds: that must neither hold up the cross-sell of
the next booking nor be held up by it. Price updates are keyed by item, so nothing ties
them to the partitions of user events either.

An update fans out only when it can qualify someone (``price_drop_may_hit``): its drop from
the previous price or, measuring against the price each user saw, its drop from the highest
price any watcher saw (kept per item by the user-event commits, engage_index.py) reaches the
threshold. Tiny price steps stay cheap, yet a user who saw 1000 hears of 1000 -> 950 -> 900.
A fan-out reads the item's watcher index (one ZRANGEBYSCORE with the prices seen) and then,
per chunk of ``engage_fanout_chunk`` watchers: their facts records (one MGET), the pure
trigger, the gate (one pipeline), and the offers handed to the producer without waiting for
each ack; all acks are awaited before the batch's watermark is committed. A redelivered
update makes the same offer ids, which the gate answers 'duplicate'.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from recommender.engagement.config import DAY_S
from recommender.engagement.gate import PushGate
from recommender.engagement.store import EngageStore, Op, WatcherRow
from recommender.engagement.triggers import (
    Watcher,
    price_drop_hits,
    price_drop_may_hit,
    price_drop_offers,
)
from recommender.errors import ConflictError, StoreError
from recommender.keys import Keys
from recommender.settings import Settings
from schemas import OfferItem, PriceUpdate
from streams import metrics
from streams.engage_common import (
    EventClock,
    Where,
    decode_records,
    letter,
    new_watermarks,
    to_letter,
    with_retry,
)
from streams.engage_offers import OfferSink, Pending, hold_ops
from streams.engagement_metrics import TRIGGER_SWEEP_SECONDS, count_decision
from streams.pipeline import DeadLetterSink, RawRecord

log = logging.getLogger(__name__)

PRICE_TOPICS = ("prices",)
_MAX_CONFLICTS = 20
_CHUNKS_IN_FLIGHT = 3


_gc_pauses = 0  # fan-outs running with the cyclic garbage collector paused


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a fan-out runs (reentrant; process-wide).

    A fan-out to 100,000 watchers holds hundreds of thousands of objects until it ends, and
    allocating them triggers full collections that trace them all again: measured in-process,
    14 full collections and 3.2 s of a 7 s fan-out. Reference counting still frees what the
    fan-out drops; a cycle made meanwhile (by any task) waits until the last fan-out ends,
    seconds. A collector someone else turned off stays off.
    """
    global _gc_pauses
    if _gc_pauses == 0 and not gc.isenabled():
        yield
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()


@dataclass(slots=True)
class FanOut:
    """What one price drop did."""

    watchers: int = 0
    hits: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # send / hold / suppress


def previous_price(
    update: PriceUpdate, last: tuple[float, float] | None, meta: dict[str, Any] | None
) -> float | None:
    """The price before this update: the event's, else the last price update's, else the
    catalog's."""
    if update.previous_price is not None:
        return update.previous_price
    if last is not None and last[1] <= update.ts:
        return last[0]
    if meta is not None and isinstance(meta.get("price"), int | float):
        return float(meta["price"])
    return None


def dropped_item(update: PriceUpdate, meta: dict[str, Any] | None) -> OfferItem:
    """The item of a price-drop offer, at its new price."""
    return OfferItem(
        item_id=update.item_id,
        item_type=(meta or {}).get("item_type", "hotel"),
        destination=(meta or {}).get("destination"),
        score=1.0,
        reason="Price dropped",
        price=update.price,
        currency=update.currency,
    )


class PriceDrops:
    """Applies batches of price updates; ``fan_out`` is the price-drop trigger on its own."""

    def __init__(
        self,
        settings: Settings,
        store: EngageStore,
        gate: PushGate,
        offers: OfferSink,
        dead_letters: DeadLetterSink,
        *,
        consumer_name: str,
        clock: EventClock,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.s = settings
        self.store = store
        self.gate = gate
        self.offers = offers
        self.dead_letters = dead_letters
        self.consumer_name = consumer_name
        self.clock = clock
        self.wall = wall
        self.logical = {settings.topic(t): t for t in PRICE_TOPICS}

    @classmethod
    def connect(cls, settings: Settings, producer: AIOKafkaProducer) -> PriceDrops:
        """A standalone instance for benchmarks: its own Redis pool (``close()`` it) and a
        gate that counts into the offer metrics; call ``fan_out`` with a PriceUpdate."""
        keys = Keys(settings.key_prefix)
        store = EngageStore.from_url(settings.redis_url, keys)
        gate = PushGate(store.r, keys, settings.engagement, on_decision=count_decision)
        sink = OfferSink(producer, settings.topic("offers"))

        async def no_letters(_: Sequence[object]) -> None:
            raise RuntimeError("a standalone PriceDrops takes PriceUpdate objects, not records")

        return cls(
            settings,
            store,
            gate,
            sink,
            no_letters,
            consumer_name="price-drops",
            clock=EventClock(settings.engage_clock),
        )

    async def close(self) -> None:
        """Release the Redis pool (instances made by ``connect``)."""
        await self.store.close()

    async def apply(self, records: Sequence[RawRecord]) -> dict[str, int]:
        """Apply one batch of price updates; returns once offers are acked and Redis holds it."""
        good, bad = decode_records(records, self.logical)
        items = sorted({d.event.item_id for d in good})  # type: ignore[attr-defined]
        tps = {(r.topic, r.partition) for r in records}
        done: set[Where] = set()
        lettered: set[Where] = set()
        for attempt in range(_MAX_CONFLICTS):
            snap = await with_retry(
                functools.partial(self.store.load_states, tps, ()),
                "engage_load",
                self.s.redis_retry_s,
            )
            metas = await self.store.item_metas(items)
            last = await self.store.last_prices(items)
            max_seen = await self.store.max_seen_prices(items)
            fresh = sorted(
                (
                    d
                    for d in good
                    if d.rec.offset > snap.watermarks.get((d.rec.topic, d.rec.partition), -1)
                ),
                key=lambda d: (d.event.ts, d.rec.offset),  # type: ignore[attr-defined]
            )
            ops: list[Op] = []
            newest = 0.0
            for d in fresh:
                u = d.event
                assert isinstance(u, PriceUpdate)
                prev = previous_price(u, last.get(u.item_id), metas.get(u.item_id))
                where = (d.rec.topic, d.rec.partition, d.rec.offset)
                if where not in done and price_drop_may_hit(
                    u.price, prev, max_seen.get(u.item_id), policy=self.s.engagement
                ):
                    await self.fan_out(u, metas.get(u.item_id), prev)
                done.add(where)
                if u.item_id not in last or last[u.item_id][1] <= u.ts:
                    last[u.item_id] = (u.price, u.ts)
                    ops.append(
                        (
                            "SET",
                            self.store.keys.item_price(u.item_id),
                            orjson.dumps([u.price, u.ts]),
                        )
                    )
                ops += await self._stale(u)
                newest = max(newest, u.ts)
            rejected = to_letter(bad, snap.watermarks, lettered)
            if rejected:
                await self.dead_letters(
                    [letter(r, self.consumer_name, self.wall()) for r in rejected]
                )
                lettered.update(r.where for r in rejected)
            stats = self.store.keys.engage_stats()
            if fresh:
                ops.append(("HINCRBY", stats, "applied:prices", len(fresh)))
            dead = [
                r
                for r in bad
                if r.where in lettered
                and r.rec.offset > snap.watermarks.get((r.rec.topic, r.rec.partition), -1)
            ]
            if dead:
                ops.append(("HINCRBY", stats, "dead:prices", len(dead)))
            try:
                await with_retry(
                    functools.partial(
                        self.store.commit, snap, {}, new_watermarks(records, snap.watermarks), ops
                    ),
                    "engage_commit",
                    self.s.redis_retry_s,
                )
            except ConflictError as exc:
                log.info("price batch conflicted (%s); reloading", exc)
                await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.2)))
                continue
            for r in dead:
                metrics.EVENTS_DEAD.labels(r.logical, r.code).inc()
            self.clock.advance(newest)
            return {"applied": len(fresh), "dead": len(dead)}
        raise StoreError(f"price batch kept conflicting after {_MAX_CONFLICTS} attempts")

    async def _stale(self, u: PriceUpdate) -> list[Op]:
        """Drop watchers older than the window from the item's index (bounded memory)."""
        before = u.ts - self.s.engagement.price_drop_watch_days * DAY_S
        stale = await self.store.stale_watchers(u.item_id, before)
        if not stale:
            return []
        keys = self.store.keys
        return [
            ("ZREM", keys.watchers(u.item_id), *stale),
            ("HDEL", keys.watcher_prices(u.item_id), *stale),
        ]

    async def fan_out(
        self, update: PriceUpdate, meta: dict[str, Any] | None, previous: float | None
    ) -> FanOut:
        """Offers for every qualifying watcher of a dropped price, decided at the update's time.

        Returns after the broker acked every offer sent.
        """
        started = time.perf_counter()
        with gc_paused():
            out = await self._fan_out(update, meta, previous)
        TRIGGER_SWEEP_SECONDS.labels("price_drop").observe(time.perf_counter() - started)
        return out

    async def _fan_out(
        self, update: PriceUpdate, meta: dict[str, Any] | None, previous: float | None
    ) -> FanOut:
        policy, now = self.s.engagement, update.ts
        rows = await self.store.watchers(update.item_id, now - policy.price_drop_watch_days * DAY_S)
        # Users whose keys share a Redis slot share one gate script call when they are in
        # one chunk: ~16k calls instead of ~92k for 100k watchers (see gate.py).
        rows = [rows[i] for i in self.gate.call_order([r.user_id for r in rows])]
        item = dropped_item(update, meta)
        out = FanOut(watchers=len(rows))
        pending: list[Pending] = []
        # A few chunks in flight: Redis runs one chunk's gate scripts while Python prepares
        # or produces another (one core each on a 2-core machine).
        slots = asyncio.Semaphore(_CHUNKS_IN_FLIGHT)

        async def step(chunk: Sequence[WatcherRow]) -> None:
            async with slots:
                watchers = [Watcher(r.user_id, r.seen_at, r.price) for r in chunk]
                hits = price_drop_hits(update.price, previous, watchers, now=now, policy=policy)
                if not hits:
                    return
                facts = await self.store.facts([h.user_id for h in hits], now)
                cands = price_drop_offers(update, item, hits, now=now, policy=policy)
                decisions = await self.gate.decide_and_reserve_many(
                    list(zip(cands, facts, strict=True)), now=now
                )
                out.hits += len(hits)
                sends = []
                held = []
                for c, d in zip(cands, decisions, strict=True):
                    out.outcomes[d.outcome] = out.outcomes.get(d.outcome, 0) + 1
                    if d.outcome == "send":
                        sends.append((c, d))
                    elif d.outcome == "hold":
                        held.append((c, d))
                pending.extend(await self.offers.send_nowait(sends))
                # Holds need no watermark: the same update parks the same member, same score.
                await self.store.write(hold_ops(self.store.keys, held))

        n = self.s.engage_fanout_chunk
        await asyncio.gather(*(step(rows[i : i + n]) for i in range(0, len(rows), n)))
        if pending:
            await asyncio.gather(*pending)
        return out
