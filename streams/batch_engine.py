"""The per-batch hot path: an aiokafka consumer whose cost is paid per fetched batch.

One engine per consumer group: ingest (clicks, bookings, catalog), engage (user events for
offers) and engage-prices each run their own, with their own apply function.

Faust pays ~70 µs per message in its consumer before an agent runs (DESIGN.md); fetching
with ``getmany`` and handing whole batches to the pipeline removes that per-message cost.
Offsets are committed to Kafka only after the batch is durable in Redis; Redis watermarks
make any redelivery harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError

from recommender.kafka_conn import kafka_options
from recommender.settings import Settings
from streams import metrics
from streams.pipeline import RawRecord

log = logging.getLogger(__name__)

# Applies one batch and returns once it is durable; only then are its offsets committed.
ApplyBatch = Callable[[Sequence[RawRecord]], Awaitable[object]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, engine: BatchEngine) -> None:
        self.engine = engine

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted((tp.topic, tp.partition) for tp in assigned))


class BatchEngine:
    """Consumes some topics as one consumer group in batches and applies each batch."""

    def __init__(
        self,
        settings: Settings,
        apply: ApplyBatch,
        *,
        topics: Sequence[str],
        group_suffix: str = "ingest",
        report_lag: bool = True,
    ) -> None:
        self.s = settings
        self.apply = apply
        self.topics = tuple(topics)  # logical names
        self.group = f"{settings.app_id}-{group_suffix}"
        # The lag gauge has no group label: only one group (ingest) may report per topic.
        self.report_lag = report_lag
        self.consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Join the consumer group."""
        s = self.s
        self.consumer = AIOKafkaConsumer(
            **kafka_options(s),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_size,
            session_timeout_ms=int(s.broker_session_timeout_s * 1000),
            heartbeat_interval_ms=1000,
            rebalance_timeout_ms=int(s.broker_rebalance_timeout_s * 1000),
            # Range keeps partition p of clicks and of bookings (same user keys) together.
            partition_assignment_strategy=(RangePartitionAssignor,),
            fetch_max_bytes=16 * 1024 * 1024,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await self.consumer.start()
        topics = [s.topic(t) for t in self.topics]
        if s.assignment == "static":
            await self.consumer.topics()  # loads partition metadata
            # Offsets are still committed under the group id, so a restart resumes.
            mine = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(self.consumer.partitions_for_topic(t) or ())
                if p % s.worker_count == s.worker_index
            ]
            self.consumer.assign(mine)
            log.info("static assignment: %s", sorted((tp.topic, tp.partition) for tp in mine))
        else:
            self.consumer.subscribe(topics, listener=_Listener(self))

    def request_stop(self) -> None:
        """Finish the batch in hand, commit it, then leave the loop."""
        self._stopping.set()

    async def run(self) -> None:
        """Fetch, apply, commit until asked to stop."""
        assert self.consumer is not None, "start() first"
        consumer = self.consumer
        window_ms = int(self.s.batch_window_s * 1000)
        while not self._stopping.is_set():
            fetched = await consumer.getmany(timeout_ms=window_ms, max_records=self.s.batch_size)
            if not fetched:
                continue
            records = [
                RawRecord(tp.topic, tp.partition, m.offset, m.key, m.value)
                for tp, msgs in fetched.items()
                for m in msgs
            ]
            await self.apply(records)
            if self.report_lag:
                self._report_lag(fetched)
            try:
                await consumer.commit(
                    {tp: msgs[-1].offset + 1 for tp, msgs in fetched.items() if msgs}
                )
            except CommitFailedError as exc:
                # A rebalance took the partitions away; the batch is in Redis already and the
                # new owner skips it by the watermarks, so this is safe to log and go on.
                log.warning("offset commit after rebalance failed: %s", exc)

    def _report_lag(self, fetched: dict[TopicPartition, list[object]]) -> None:
        # Tansu reports wrong end offsets for multi-record batches (DESIGN.md): trust this
        # figure on Apache Kafka only.
        assert self.consumer is not None
        for tp, msgs in fetched.items():
            high = self.consumer.highwater(tp)
            if high is not None and msgs:
                last = msgs[-1].offset  # type: ignore[attr-defined]
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(high - last - 1, 0))

    async def stop(self) -> None:
        """Leave the group."""
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
