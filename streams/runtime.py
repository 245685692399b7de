"""What a worker process holds: Redis stores, producers, pipelines and their consumers.

Ingest and engagement are separate consumer groups in one process: they scale with the same
partitions, but a slow or failing one never holds up the other's offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable

from aiokafka import AIOKafkaProducer
from mode import Service

from recommender.engagement.gate import PushGate
from recommender.engagement.store import EngageStore
from recommender.kafka_conn import kafka_options
from recommender.keys import Keys
from recommender.redis_conn import redis_options
from recommender.settings import Settings
from recommender.store import RedisStore
from streams import metrics
from streams.batch_engine import BatchEngine
from streams.broker_probe import BrokerProbe
from streams.deadletters import DeadLetterProducer
from streams.engage import ENGAGE_TOPICS, Engage
from streams.engage_common import EventClock
from streams.engage_items import ItemPicker
from streams.engage_offers import Decider, OfferSink
from streams.engage_prices import PRICE_TOPICS, PriceDrops
from streams.engage_sweeps import Sweeps
from streams.offer_tally import OfferTally
from streams.pipeline import INGEST_TOPICS, Ingest
from streams.policy_refresh import PolicyRefresher
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

# Watermarks describe the Redis state, not a consumer group: whichever engine or group
# applies events next must skip what this state already holds.
WATERMARK_NAMESPACE = "ingest"
ENGAGE_NAMESPACE = "engage"
# Offers fan out by the thousand: bigger batches and a short linger trade ~5 ms for throughput.
OFFER_LINGER_MS = 5
OFFER_BATCH_BYTES = 512 * 1024
_STOP_WAIT_S = 10.0


class Runtime(Service):
    """Starts the connections a worker needs, the batch engines and the sweeps."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.s = settings
        self.name = settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self.ready = asyncio.Event()
        self.store: RedisStore | None = None
        self.engage_store: EngageStore | None = None
        self.producer: AIOKafkaProducer | None = None
        self.offer_producer: AIOKafkaProducer | None = None
        self.ingest: Ingest | None = None
        self.engine: BatchEngine | None = None
        self.engines: list[BatchEngine] = []
        self.sweeps: Sweeps | None = None
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._probe: asyncio.Future[None] | None = None

    async def on_start(self) -> None:
        s = self.s
        keys = Keys(s.key_prefix)
        self.store = RedisStore.from_url(s.redis_url, keys, WATERMARK_NAMESPACE, **redis_options(s))
        await self.store.ping()  # fail fast with a clear error on a wrong REDIS_URL
        await ensure_topics(s)
        metrics.serve(s.metrics_port)
        self.producer = AIOKafkaProducer(**kafka_options(s), linger_ms=2)
        await self.producer.start()
        producer = self.producer
        self._probe = asyncio.ensure_future(
            BrokerProbe(lambda: producer.client.fetch_all_metadata()).run()
        )
        sink = DeadLetterProducer(self.producer, s.topic("deadletters"))
        self.ingest = Ingest(s, self.store, sink, consumer_name=self.name)
        if s.engine == "batch":
            self.engine = BatchEngine(s, self.ingest.apply, topics=INGEST_TOPICS)
            self.engines.append(self.engine)
        if s.engage_enabled:
            await self._start_engagement(keys, sink)
        for engine in self.engines:
            await engine.start()
            self._loops.append(asyncio.ensure_future(self._run(engine.run(), engine.group)))
        if self.sweeps is not None:
            self._loops.append(
                asyncio.ensure_future(self._run(self.sweeps.run(self._stopping), "sweeps"))
            )
        self.ready.set()
        log.info("worker %s ready (engine=%s, engage=%s)", self.name, s.engine, s.engage_enabled)

    async def _start_engagement(self, keys: Keys, sink: DeadLetterProducer) -> None:
        s = self.s
        self.engage_store = store = EngageStore.from_url(
            s.redis_url, keys, ENGAGE_NAMESPACE, **redis_options(s)
        )
        self.offer_producer = AIOKafkaProducer(
            **kafka_options(s),
            linger_ms=OFFER_LINGER_MS,
            max_batch_size=OFFER_BATCH_BYTES,
        )
        await self.offer_producer.start()
        # Prometheus + counts in Redis for the console
        tally = OfferTally(store.r, keys, retry_s=s.redis_retry_s)
        gate = PushGate(store.r, keys, s.engagement, on_decision=tally)
        self._loops.append(asyncio.ensure_future(self._run(tally.run(self._stopping), "tally")))
        offers = OfferSink(self.offer_producer, s.topic("offers"))
        items = ItemPicker(store)
        clock = EventClock(s.engage_clock)
        name = self.name
        engage = Engage(
            s, store, Decider(gate), offers, items, sink, consumer_name=name, clock=clock
        )
        prices = PriceDrops(s, store, gate, offers, sink, consumer_name=name, clock=clock)
        self.engines += [
            BatchEngine(
                s, engage.apply, topics=ENGAGE_TOPICS, group_suffix="engage", report_lag=False
            ),
            BatchEngine(
                s,
                prices.apply,
                topics=PRICE_TOPICS,
                group_suffix="engage-prices",
                report_lag=False,
            ),
        ]
        self.sweeps = Sweeps(s, store, gate, offers, items, clock, owner=f"{name}:{os.getpid()}")
        # Kill switches set in the console reach this gate within a few seconds.
        refresher = PolicyRefresher(gate, store.r, keys, s.engagement, retry_s=s.redis_retry_s)
        await refresher.refresh()
        self._loops.append(
            asyncio.ensure_future(self._run(refresher.run(self._stopping), "policy refresh"))
        )

    async def _run(self, loop: Awaitable[None], what: str) -> None:
        try:
            await loop
        except asyncio.CancelledError:
            raise
        except Exception:
            # Broken infrastructure is not swallowed: stop the worker so nothing is committed
            # past what Redis holds, and let the supervisor restart it.
            log.exception("%s failed; stopping the worker", what)
            await self.crash(RuntimeError(f"{what} failed"))

    async def on_stop(self) -> None:
        # Each loop finishes and commits the batch (or sweep step) in hand, then returns.
        self._stopping.set()
        if self._probe is not None:
            self._probe.cancel()
        for engine in self.engines:
            engine.request_stop()
        for task in self._loops:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=_STOP_WAIT_S)
            except (TimeoutError, asyncio.CancelledError, Exception):
                task.cancel()
        for engine in self.engines:
            await engine.stop()
        for producer in (self.producer, self.offer_producer):
            if producer is not None:
                await producer.stop()
        for store in (self.store, self.engage_store):
            if store is not None:
                with contextlib.suppress(Exception):
                    await store.close()
