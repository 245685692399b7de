"""Send synthetic records to Kafka, optionally rate-limited, with a one-line progress bar."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from loadtest.world import Record

CHUNK = 5_000  # futures awaited together: bounds memory without a round-trip per message
MAX_SLEEP_S = 0.05  # sleep in small slices so a stop/deadline is noticed quickly


@dataclass
class ProduceStats:
    per_topic: Counter[str] = field(default_factory=Counter)  # logical topic -> records sent
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.per_topic.values())

    @property
    def rate(self) -> float:
        return self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0


class TokenBucket:
    """Pure token bucket: the caller passes the clock in, so it is testable without sleeping.

    The small burst lets the bucket absorb sleep overshoot (asyncio sleeps run late by ~1 ms),
    which keeps the long-run rate accurate even when each token is worth far less than 1 ms.
    """

    def __init__(self, rate: float, now: float, burst_s: float = 0.1) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.capacity = max(1.0, rate * burst_s)
        self.tokens = 1.0  # start (almost) empty: no initial burst above the target rate
        self.last = now

    def wait_s(self, now: float) -> float:
        """Take one token if available (returns 0), else how long to wait before retrying."""
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Progress:
    """`count/total  rate  elapsed` on one stderr line, redrawn at most 5 times a second."""

    def __init__(self, total: int | None, enabled: bool, out: TextIO = sys.stderr) -> None:
        self.total, self.out = total, out
        self.enabled = enabled and out.isatty()
        self.next_draw = 0.0

    def update(self, count: int, elapsed: float, *, force: bool = False) -> None:
        if not self.enabled or (elapsed < self.next_draw and not force):
            return
        self.next_draw = elapsed + 0.2
        of = f"/{self.total:,}" if self.total is not None else ""
        rate = count / elapsed if elapsed > 0 else 0.0
        mins, secs = divmod(int(elapsed), 60)
        self.out.write(f"\r  {count:,}{of}  {rate:,.0f} ev/s  {mins:02d}:{secs:02d} ")
        self.out.flush()

    def close(self, count: int, elapsed: float) -> None:
        if self.enabled:
            self.update(count, elapsed, force=True)
            self.out.write("\n")
            self.out.flush()


async def _aiter(records: Iterable[Record] | AsyncIterable[Record]) -> AsyncIterator[Record]:
    if isinstance(records, AsyncIterable):
        async for rec in records:
            yield rec
    else:
        for rec in records:
            yield rec


async def produce(
    records: Iterable[Record] | AsyncIterable[Record],
    *,
    bootstrap: str,
    topic_prefix: str = "",
    rate: float | None = None,
    progress: bool = True,
    linger_ms: int = 5,
    total: int | None = None,
    duration: float | None = None,
) -> ProduceStats:
    """Send each record to `topic_prefix + record.topic`, keyed by `record.key`.

    `rate` caps events/s (unlimited when None); `duration` stops early after that many
    seconds; `total` is only for the progress bar (taken from `len()` when available).
    """
    if total is None and isinstance(records, list | tuple):
        total = len(records)
    # No idempotence or transactions: the dev broker (Tansu) does not support them.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,  # ~1k events per batch: far fewer requests than 16 KiB
        acks=1,
    )
    await producer.start()
    stats = ProduceStats()
    bar = Progress(total, progress)
    t0 = time.monotonic()
    bucket = TokenBucket(rate, t0) if rate else None
    pending: list[asyncio.Future[Any]] = []
    try:
        async for rec in _aiter(records):
            now = time.monotonic()
            if duration is not None and now - t0 >= duration:
                break
            if bucket is not None:
                while (wait := bucket.wait_s(now)) > 0:
                    await asyncio.sleep(min(wait, MAX_SLEEP_S))
                    now = time.monotonic()
            pending.append(await producer.send(topic_prefix + rec.topic, rec.value, key=rec.key))
            stats.per_topic[rec.topic] += 1
            if len(pending) >= CHUNK:
                await asyncio.gather(*pending)
                pending.clear()
            bar.update(stats.total, now - t0)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()  # flushes what is still buffered
        stats.elapsed_s = time.monotonic() - t0
        bar.close(stats.total, stats.elapsed_s)
    return stats


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication: int = 1
) -> None:
    """Create missing topics; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for name in names:  # one by one, so an existing topic cannot mask a failed one
            try:
                resp = await admin.create_topics([NewTopic(name, partitions, replication)])
            except TopicAlreadyExistsError:
                continue
            for err in resp.topic_errors:
                code = err[1]
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"creating topic {name!r}")
    finally:
        await admin.close()
