"""What a worker process holds: Redis store, producer, pipeline and (batch engine) consumer."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from aiokafka import AIOKafkaProducer
from mode import Service

from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from streams import metrics
from streams.batch_engine import BatchEngine
from streams.deadletters import DeadLetterProducer
from streams.pipeline import Ingest
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

# Watermarks describe the Redis state, not a consumer group: whichever engine or group
# applies events next must skip what this state already holds.
WATERMARK_NAMESPACE = "ingest"


class Runtime(Service):
    """Starts the connections a worker needs, and the batch engine when selected."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.s = settings
        self.name = settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self.ready = asyncio.Event()
        self.store: RedisStore | None = None
        self.producer: AIOKafkaProducer | None = None
        self.ingest: Ingest | None = None
        self.engine: BatchEngine | None = None
        self._loop_task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        s = self.s
        self.store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), WATERMARK_NAMESPACE)
        await self.store.ping()  # fail fast with a clear error on a wrong REDIS_URL
        await ensure_topics(s)
        metrics.serve(s.metrics_port)
        self.producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, linger_ms=2)
        await self.producer.start()
        sink = DeadLetterProducer(self.producer, s.topic("deadletters"))
        self.ingest = Ingest(s, self.store, sink, consumer_name=self.name)
        if s.engine == "batch":
            self.engine = BatchEngine(s, self.ingest)
            await self.engine.start()
            self._loop_task = asyncio.ensure_future(self._run_engine())
        self.ready.set()
        log.info("worker %s ready (engine=%s)", self.name, s.engine)

    async def _run_engine(self) -> None:
        assert self.engine is not None
        try:
            await self.engine.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Broken infrastructure is not swallowed: stop the worker so nothing is committed
            # past what Redis holds, and let the supervisor restart it.
            log.exception("ingest engine failed; stopping the worker")
            await self.crash(RuntimeError("ingest engine failed"))

    async def on_stop(self) -> None:
        if self.engine is not None:
            self.engine.request_stop()
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._loop_task), timeout=10)
            except (TimeoutError, asyncio.CancelledError, Exception):
                self._loop_task.cancel()
        if self.engine is not None:
            await self.engine.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.store is not None:
            await self.store.close()
