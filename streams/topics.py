"""Topic names and creation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from recommender.kafka_conn import kafka_options
from recommender.settings import LOGICAL_TOPICS, Settings

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, logical: Iterable[str] = LOGICAL_TOPICS) -> None:
    """Create the project's topics that do not exist yet (others are left alone)."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [settings.topic(t) for t in logical]
        new = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication)
            for name in wanted
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(new)
            log.info("created topics %s", ", ".join(t.name for t in new))
    finally:
        await admin.close()
