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
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
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
_GATE_CALLS = 8  # gate pipelines in flight per batch (a Redis pool holds 100 connections)


class OfferEncoder:
    """Offer JSON straight from a candidate: the bytes ``schemas.encode(build_offer(...))``
    gives, without building a pydantic model per offer (~20 µs each; a fan-out makes 100k)."""

    def __init__(self) -> None:
        # ids of the items -> (items, their JSON): the items are kept so that their ids cannot
        # be reused meanwhile. A fan-out's candidates share one item: one dump for all.
        self._items: dict[tuple[int, ...], tuple[tuple[OfferItem, ...], orjson.Fragment]] = {}

    def items(self, items: tuple[OfferItem, ...]) -> orjson.Fragment:
        """The items as encode() dumps them, already serialised (orjson splices the bytes)."""
        cache = self._items
        key = tuple(map(id, items))
        hit = cache.get(key)
        if hit is None or not all(map(operator.is_, hit[0], items)):
            if len(cache) > 4096:
                cache.clear()
            dumped = orjson.dumps([i.model_dump(exclude_none=True) for i in items])
            hit = cache[key] = (items, orjson.Fragment(dumped))
        return hit[1]

    def offer(self, c: Candidate, channel: str, offer_id: str | None = None) -> bytes:
        """The message of a candidate the gate decided to send on ``channel``; ``offer_id``
        is the candidate's (a Decision carries it), passed to skip hashing it again."""
        context = c.context
        doc = {
            "v": SUPPORTED_VERSION,
            "offer_id": offer_id or c.offer_id,
            "user_id": c.user_id,
            "kind": c.kind,
            "channel": channel,
            "items": self.items(c.items),
            "created_at": c.created_at,
            "expires_at": c.expires_at,
            "context": context if type(context) is dict else dict(context),
        }
        return orjson.dumps(doc)


def partitions_of(keys: Sequence[bytes], n: int) -> list[int]:
    """Kafka's default partition of each key among n partitions (murmur2, as aiokafka's).

    aiokafka's murmur2 is pure Python (measured ~1.4 µs a key); this runs it in numpy over
    all keys of one length at once (~0.15 µs a key): user ids have few distinct lengths.
    """
    out = [0] * len(keys)
    by_len: dict[int, list[int]] = {}
    for i, k in enumerate(keys):
        by_len.setdefault(len(k), []).append(i)
    for length, idx in by_len.items():
        if len(idx) < 8:  # numpy's fixed cost beats the gain
            for i in idx:
                out[i] = (murmur2(keys[i]) & 0x7FFFFFFF) % n
            continue
        hashes = _murmur2_same_length([keys[i] for i in idx], length)
        for i, h in zip(idx, ((hashes & 0x7FFFFFFF) % n).tolist(), strict=True):
            out[i] = h
    return out


def _murmur2_same_length(keys: list[bytes], length: int) -> npt.NDArray[np.uint64]:
    """Kafka's murmur2 (seed 0x9747B28C) of keys that all have ``length`` bytes."""
    m, mask = np.uint64(0x5BD1E995), np.uint64(0xFFFFFFFF)
    data = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), length)
    data = data.astype(np.uint64)
    h = np.full(len(keys), (0x9747B28C ^ length) & 0xFFFFFFFF, dtype=np.uint64)
    whole = length // 4
    for i in range(whole):
        b = data[:, 4 * i : 4 * i + 4]
        k = b[:, 0] | (b[:, 1] << np.uint64(8)) | (b[:, 2] << np.uint64(16))
        k |= b[:, 3] << np.uint64(24)
        k = (k * m) & mask
        k ^= k >> np.uint64(24)
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = length % 4
    tail = 4 * whole
    if rest >= 3:
        h ^= data[:, tail + 2] << np.uint64(16)
    if rest >= 2:
        h ^= data[:, tail + 1] << np.uint64(8)
    if rest >= 1:
        h ^= data[:, tail]
        h = (h * m) & mask
    h ^= h >> np.uint64(13)
    h = (h * m) & mask
    h ^= h >> np.uint64(15)
    return h


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
        partitioner does (murmur2 of the key, ``partitions_of``), so a user's offers stay on
        one partition.
        """
        if not sends:
            return []
        parts = sorted(await self.producer.partitions_for(self.topic))
        keys = [c.user_id.encode() for c, _ in sends]
        by_part: dict[int, list[tuple[bytes, bytes]]] = {}
        offer = self.encoder.offer
        for key, p, (c, d) in zip(keys, partitions_of(keys, len(parts)), sends, strict=True):
            assert d.channel is not None
            by_part.setdefault(parts[p], []).append((key, offer(c, d.channel, d.offer_id)))
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
        # Bounded: a backlog batch has an event time per booking, and a pipeline each, all at
        # once, asked the Redis pool for more connections than it holds (redis-py raises).
        room = asyncio.Semaphore(_GATE_CALLS)

        async def one(now: float, idx: list[int]) -> None:
            pairs = [(batch[i][0], batch[i][1]) for i in idx]
            async with room:
                decided = await self.gate.decide_and_reserve_many(pairs, now=now)
            for i, d in zip(idx, decided, strict=True):
                out[i] = d

        await asyncio.gather(*(one(now, idx) for now, idx in groups.items()))
        return [d for d in out if d is not None]
