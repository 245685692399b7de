"""Dead letters out to their topic; the send is awaited so none is lost before a commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from schemas import DeadLetter, encode


class DeadLetterProducer:
    """Sends dead letters keyed by source topic/partition/offset (duplicates are harmless)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def __call__(self, letters: Sequence[DeadLetter]) -> None:
        futures = [
            await self.producer.send(
                self.topic,
                encode(d),
                key=f"{d.source_topic}:{d.partition}:{d.offset}".encode(),
            )
            for d in letters
        ]
        await asyncio.gather(*futures)
