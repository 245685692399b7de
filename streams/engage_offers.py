"""Decided offers out: the gate by decision time, offers to their topic, holds to Redis.

Delivery is at most once per offer_id. The gate reserves an offer (offer_id, cap, cooldown)
in Redis *before* it is produced, and a redelivered event finds the reservation and is
answered 'duplicate'; so a crash between the reservation and the broker's ack loses that one
offer rather than risking a second push. Everything else of a batch (states, indexes,
watermarks) is committed after the acks, so a crash after them only replays decisions the
gate already remembers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from recommender.engagement.gate import PushGate
from recommender.engagement.offers import Candidate
from recommender.engagement.policy import CustomerFacts, Decision
from recommender.engagement.store import Op
from recommender.keys import Keys
from schemas import SUPPORTED_VERSION, OfferItem

Pending = asyncio.Future[Any]


class OfferEncoder:
    """Offer JSON straight from a candidate: the bytes ``schemas.encode(build_offer(...))``
    gives, without building a pydantic model per offer (~20 µs each; a fan-out makes 100k)."""

    def __init__(self) -> None:
        # id(item) -> (item, dumped): the item is kept so its id cannot be reused meanwhile.
        self._items: dict[int, tuple[OfferItem, dict[str, Any]]] = {}

    def items(self, items: tuple[OfferItem, ...]) -> list[dict[str, Any]]:
        """The items as encode() dumps them; one dump per item object (a fan-out shares one)."""
        out = []
        cache = self._items
        for i in items:
            hit = cache.get(id(i))
            if hit is None or hit[0] is not i:
                if len(cache) > 4096:
                    cache.clear()
                hit = cache[id(i)] = (i, i.model_dump(exclude_none=True))
            out.append(hit[1])
        return out

    def offer(self, c: Candidate, channel: str) -> bytes:
        """The message of a candidate the gate decided to send on ``channel``."""
        doc = {
            "v": SUPPORTED_VERSION,
            "offer_id": c.offer_id,
            "user_id": c.user_id,
            "kind": c.kind,
            "channel": channel,
            "items": self.items(c.items),
            "created_at": c.created_at,
            "expires_at": c.expires_at,
            "context": dict(c.context),
        }
        return orjson.dumps(doc)


def candidate_blob(c: Candidate) -> bytes:
    """A candidate as stored in the held-offers set; the same candidate gives the same bytes."""
    doc = [
        c.user_id,
        c.kind,
        c.item_key,
        c.window_start,
        [i.model_dump(exclude_none=True) for i in c.items],
        c.created_at,
        c.expires_at,
        dict(c.context),
    ]
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def candidate_from_blob(blob: bytes) -> Candidate:
    """Parse candidate_blob's bytes (ValueError when they are not a candidate)."""
    try:
        user, kind, item_key, window, items, created, expires, context = orjson.loads(blob)
        return Candidate(
            str(user),
            kind,
            str(item_key),
            float(window),
            tuple(OfferItem.model_validate(i) for i in items),
            float(created),
            float(expires),
            dict(context),
        )
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"not a held candidate: {exc}") from None


def hold_ops(keys: Keys, held: Sequence[tuple[Candidate, Decision]], chunk: int = 1000) -> list[Op]:
    """ZADDs that park held offers until their hold ends (idempotent: same member, same score)."""
    ops: list[Op] = []
    for i in range(0, len(held), chunk):
        args: list[str | bytes] = []
        for c, d in held[i : i + chunk]:
            assert d.hold_until is not None
            args += [repr(d.hold_until), candidate_blob(c)]
        ops.append(("ZADD", keys.held_offers(), *args))
    return ops


class OfferSink:
    """Produces offers to the offers topic keyed by user; acks are awaited per call."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.encoder = OfferEncoder()

    async def send_nowait(self, sends: Sequence[tuple[Candidate, Decision]]) -> list[Pending]:
        """Hand offers to the producer in per-partition batches; returns the futures of acks.

        ``producer.send`` costs ~12 µs a message (partition lookup, a future each); filling
        batches directly costs a fraction. Partitions are chosen exactly as the default
        partitioner does (murmur2 of the key), so a user's offers stay on one partition.
        """
        if not sends:
            return []
        parts = sorted(await self.producer.partitions_for(self.topic))
        by_part: dict[int, list[tuple[bytes, bytes]]] = {}
        for c, d in sends:
            assert d.channel is not None
            key = c.user_id.encode()
            p = parts[(murmur2(key) & 0x7FFFFFFF) % len(parts)]
            by_part.setdefault(p, []).append((key, self.encoder.offer(c, d.channel)))
        futures: list[Pending] = []
        for p, msgs in by_part.items():
            batch = self.producer.create_batch()
            for key, value in msgs:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await self.producer.send_batch(batch, self.topic, partition=p))
                    batch = self.producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"an offer of {len(value)} bytes exceeds a batch")
            if batch.record_count():
                futures.append(await self.producer.send_batch(batch, self.topic, partition=p))
        return futures

    async def send(self, sends: Sequence[tuple[Candidate, Decision]]) -> None:
        """Produce offers and wait until the broker has every one."""
        if sends:
            await asyncio.gather(*await self.send_nowait(sends))


class Decider:
    """PushGate calls for candidates decided at different times (event time per candidate)."""

    def __init__(self, gate: PushGate) -> None:
        self.gate = gate

    async def decide(
        self, batch: Sequence[tuple[Candidate, CustomerFacts, float]]
    ) -> list[Decision]:
        """Decisions in the order of ``batch``; one gate pipeline per distinct decision time."""
        groups: dict[float, list[int]] = {}
        for i, (_, _, now) in enumerate(batch):
            groups.setdefault(now, []).append(i)
        out: list[Decision | None] = [None] * len(batch)

        async def one(now: float, idx: list[int]) -> None:
            pairs = [(batch[i][0], batch[i][1]) for i in idx]
            for i, d in zip(
                idx, await self.gate.decide_and_reserve_many(pairs, now=now), strict=True
            ):
                out[i] = d

        await asyncio.gather(*(one(now, idx) for now, idx in groups.items()))
        return [d for d in out if d is not None]
