"""One batch of raw records -> dead letters + one atomic Redis commit (effectively once).

Order of effects, and why:
1. decode and validate everything (pure);
2. read watermarks, profiles and items in one round trip; records at or below their
   partition's watermark were applied before a crash or rebalance and are skipped;
3. send the dead letters and wait for the broker's ack, *before* committing, so a crash can
   only duplicate a dead letter (each names its topic/partition/offset), never lose one;
4. commit profiles, items and the new watermarks in one Lua script that first checks that
   nobody else moved them (a zombie worker after a rebalance, or clicks and bookings of one
   user on two workers); on conflict, reload and apply again.
Only after this returns may the caller commit the Kafka offsets.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from recommender import popularity
from recommender.catalog import ItemResolver, catalog_upsert
from recommender.errors import BadEvent, ConflictError, StoreError
from recommender.params import profile_params
from recommender.profile import Touch, apply_touches
from recommender.settings import Settings
from recommender.store import RedisStore, Snapshot, WriteSet
from schemas import Booking, CatalogItem, Click, DeadLetter, SchemaError, decode
from streams import metrics
from streams.item_cache import ItemCache
from streams.redis_retry import with_retry

log = logging.getLogger(__name__)

DeadLetterSink = Callable[[Sequence[DeadLetter]], Awaitable[None]]
INGEST_TOPICS = ("clicks", "bookings", "catalog")
_MAX_CONFLICTS = 20
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A message as it came off the broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class BatchResult:
    """What one batch did."""

    applied: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    conflicts: int = 0
    unknown_items: int = 0


@dataclass(slots=True)
class _Decoded:
    rec: RawRecord
    logical: str
    event: Click | Booking | CatalogItem


@dataclass(slots=True)
class _Rejected:
    rec: RawRecord
    logical: str
    reason: str
    error_type: str
    code: str = "invalid"  # short, bounded: the metrics label


class Ingest:
    """Applies batches of clicks, bookings and catalog records to the online store."""

    def __init__(
        self,
        settings: Settings,
        store: RedisStore,
        dead_letters: DeadLetterSink,
        *,
        consumer_name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s = settings
        self.store = store
        self.dead_letters = dead_letters
        self.consumer_name = consumer_name
        self.clock = clock
        self.params = profile_params(settings)
        self.logical = {settings.topic(t): t for t in INGEST_TOPICS}
        self.items = ItemCache(settings.item_cache_ttl_s)

    def _decode(self, records: Sequence[RawRecord]) -> tuple[list[_Decoded], list[_Rejected]]:
        good: list[_Decoded] = []
        bad: list[_Rejected] = []
        for rec in records:
            logical = self.logical.get(rec.topic)
            if logical is None:
                bad.append(
                    _Rejected(rec, rec.topic, f"unexpected topic {rec.topic!r}", "topic", "topic")
                )
                continue
            try:
                event = decode(logical, rec.value)
            except SchemaError as exc:
                bad.append(_Rejected(rec, logical, exc.reason, "schema", exc.code))
                continue
            good.append(_Decoded(rec, logical, event))  # type: ignore[arg-type]
        return good, bad

    async def apply(self, records: Sequence[RawRecord]) -> BatchResult:
        """Apply one batch; returns once it is durable in Redis (dead letters acked)."""
        started = time.perf_counter()
        good, bad = self._decode(records)
        users = {d.event.user_id for d in good if not isinstance(d.event, CatalogItem)}
        items = {d.event.item_id for d in good if d.event.item_id}
        tps = {(r.topic, r.partition) for r in records}
        result = BatchResult()
        sent: set[tuple[str, int, int]] = set()
        for attempt in range(_MAX_CONFLICTS):
            now_m = time.monotonic()
            cached, missing = self.items.split(items, now_m)
            metrics.ITEM_CACHE.labels("hit").inc(len(cached))
            metrics.ITEM_CACHE.labels("miss").inc(len(missing))
            snap = await self._retry(
                functools.partial(self.store.load, tps, users, missing), "load"
            )
            self.items.put(snap.items, now_m)
            snap.items.update(cached)
            writes, rejected = self._build(snap, records, good, result)
            letters = [
                self._letter(r)
                for r in [*bad, *rejected]
                if r.rec.offset > snap.watermarks.get((r.rec.topic, r.rec.partition), -1)
                and (r.rec.topic, r.rec.partition, r.rec.offset) not in sent
            ]
            if letters:
                await self.dead_letters(letters)
                sent.update((d.source_topic, d.partition, d.offset) for d in letters)
            for r in [*bad, *rejected]:
                if (r.rec.topic, r.rec.partition, r.rec.offset) in sent:
                    result.dead[r.logical] = result.dead.get(r.logical, 0) + 1
            for name, n in result.dead.items():
                writes.stats[f"dead:{name}"] = n
            try:
                if writes.watermarks:
                    now = self.clock()
                    await self._retry(
                        functools.partial(self.store.commit, snap, writes, now=now), "commit"
                    )
                    self.items.put(writes.items, time.monotonic())
                self._observe(records, good, [*bad, *rejected], sent, result, started)
                return result
            except ConflictError as exc:
                result.conflicts += 1
                metrics.CONFLICTS.inc()
                result.applied.clear()
                result.dead.clear()
                log.info("batch conflicted (%s); reloading", exc)
                # Jittered backoff: two writers of one hot profile must not lock-step forever.
                await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.2)))
        raise StoreError(f"batch kept conflicting after {_MAX_CONFLICTS} attempts")

    def _build(
        self,
        snap: Snapshot,
        records: Sequence[RawRecord],
        good: Sequence[_Decoded],
        result: BatchResult,
    ) -> tuple[WriteSet, list[_Rejected]]:
        """Pure part of a batch: what to write given what was read."""
        writes = WriteSet()
        for rec in records:
            tp = (rec.topic, rec.partition)
            if rec.offset > max(snap.watermarks.get(tp, -1), writes.watermarks.get(tp, -1)):
                writes.watermarks[tp] = rec.offset
        fresh = [
            d
            for d in good
            if d.rec.offset > snap.watermarks.get((d.rec.topic, d.rec.partition), -1)
        ]
        result.skipped = len(good) - len(fresh)
        rejected: list[_Rejected] = []
        resolver = ItemResolver(snap.items, dim=self.s.vector_dim, rates=self.s.fx_rates)
        applied: dict[str, int] = {}
        # Catalog first: a click on an item created in the same batch sees its metadata.
        for d in sorted((d for d in fresh if d.logical == "catalog"), key=lambda d: d.rec.offset):
            assert isinstance(d.event, CatalogItem)
            try:
                upsert = catalog_upsert(
                    d.event,
                    resolver.stored(d.event.item_id),
                    dim=self.s.vector_dim,
                    rates=self.s.fx_rates,
                )
            except BadEvent as exc:
                rejected.append(_Rejected(d.rec, "catalog", exc.reason, "invalid"))
                continue
            if upsert is not None:
                writes.items[d.event.item_id] = upsert
                resolver.put(d.event.item_id, upsert)
            applied["catalog"] = applied.get("catalog", 0) + 1
        touches: list[Touch] = []
        for d in fresh:
            ev = d.event
            if isinstance(ev, Click):
                touches.append(resolver.click_touch(ev))
            elif isinstance(ev, Booking):
                touches.append(resolver.booking_touch(ev))
            else:
                continue
            applied[d.logical] = applied.get(d.logical, 0) + 1
        writes.unknown_items = resolver.unknown
        result.unknown_items = sum(resolver.unknown.values())
        if touches:
            writes.popularity = popularity.increments(touches, self.params.weights)
            writes.profiles = apply_touches(dict(snap.profiles), touches, self.params)
            touched = {t.user_id for t in touches}
            writes.profiles = {u: p for u, p in writes.profiles.items() if u in touched}
        result.applied = applied
        writes.stats = {f"applied:{k}": n for k, n in applied.items()}
        return writes, rejected

    def _letter(self, r: _Rejected) -> DeadLetter:
        return DeadLetter.of(
            reason=r.reason,
            error_type=r.error_type,
            topic=r.rec.topic,
            partition=r.rec.partition,
            offset=r.rec.offset,
            key=r.rec.key,
            value=r.rec.value,
            consumer=self.consumer_name,
            ts=self.clock(),
        )

    def _observe(
        self,
        records: Sequence[RawRecord],
        good: Sequence[_Decoded],
        rejected: Sequence[_Rejected],
        sent: set[tuple[str, int, int]],
        result: BatchResult,
        started: float,
    ) -> None:
        """Record one committed batch in the metrics."""
        by_topic: dict[str, int] = {}
        for r in records:
            by_topic[r.topic] = by_topic.get(r.topic, 0) + 1
        for topic, n in by_topic.items():
            metrics.EVENTS_CONSUMED.labels(self.logical.get(topic, "other")).inc(n)
        for logical, n in result.applied.items():
            metrics.EVENTS_APPLIED.labels(logical).inc(n)
        for rej in rejected:
            if (rej.rec.topic, rej.rec.partition, rej.rec.offset) in sent:
                metrics.EVENTS_DEAD.labels(rej.logical, rej.code).inc()
        metrics.EVENTS_SKIPPED.inc(result.skipped)
        metrics.UNKNOWN_ITEMS.inc(result.unknown_items)
        metrics.BATCH_SIZE.observe(len(records))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        now = self.clock()
        metrics.LAST_COMMIT.set(now)
        newest = max(
            (d.event.ts for d in good if not isinstance(d.event, CatalogItem)), default=None
        )
        if newest is not None:
            metrics.FRESHNESS.observe(max(now - newest, 0.0))

    async def _retry(self, op: Callable[[], Awaitable[T]], name: str) -> T:
        """Retry Redis connection failures with backoff up to redis_retry_s, then raise."""
        return await with_retry(op, name, self.s.redis_retry_s)
