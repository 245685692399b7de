"""What the engagement pipelines share: decoding with dead letters, Redis retry, the clock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from schemas import Contract, DeadLetter, SchemaError, decode
from streams.pipeline import RawRecord
from streams.redis_retry import with_retry as with_retry  # where the pipelines import it

log = logging.getLogger(__name__)
Where = tuple[str, int, int]  # topic, partition, offset

# Ingest already dead-letters bad clicks and bookings (it reads them too); engagement letters
# only the topics nobody else reads, so every bad record is dead-lettered exactly once.
DEAD_LETTER_TOPICS = frozenset({"consent", "feedback", "prices"})


@dataclass(frozen=True, slots=True)
class Decoded:
    """A record and its event."""

    rec: RawRecord
    logical: str
    event: Contract


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that is not a valid event, and why."""

    rec: RawRecord
    logical: str
    reason: str
    code: str

    @property
    def where(self) -> Where:
        """Topic, partition and offset of the record."""
        return (self.rec.topic, self.rec.partition, self.rec.offset)


def decode_records(
    records: Sequence[RawRecord], logical: Mapping[str, str]
) -> tuple[list[Decoded], list[Rejected]]:
    """Events of the known topics, and the records that are not valid events."""
    good: list[Decoded] = []
    bad: list[Rejected] = []
    for rec in records:
        name = logical.get(rec.topic)
        if name is None:
            bad.append(Rejected(rec, rec.topic, f"unexpected topic {rec.topic!r}", "topic"))
            continue
        try:
            good.append(Decoded(rec, name, decode(name, rec.value)))
        except SchemaError as exc:
            bad.append(Rejected(rec, name, exc.reason, exc.code))
    return good, bad


def letter(r: Rejected, consumer: str, now: float) -> DeadLetter:
    """The dead letter of a rejected record."""
    return DeadLetter.of(
        reason=r.reason,
        error_type="schema" if r.code != "topic" else "topic",
        topic=r.rec.topic,
        partition=r.rec.partition,
        offset=r.rec.offset,
        key=r.rec.key,
        value=r.rec.value,
        consumer=consumer,
        ts=now,
    )


def to_letter(
    bad: Sequence[Rejected], watermarks: Mapping[tuple[str, int], int], sent: Collection[Where]
) -> list[Rejected]:
    """Rejected records this engagement group owns, not applied before and not sent yet."""
    return [
        r
        for r in bad
        if r.logical in DEAD_LETTER_TOPICS
        and r.rec.offset > watermarks.get((r.rec.topic, r.rec.partition), -1)
        and r.where not in sent
    ]


def new_watermarks(
    records: Sequence[RawRecord], old: Mapping[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    """Highest offset per partition of the batch, where it moves the stored watermark."""
    out: dict[tuple[str, int], int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        if r.offset > max(old.get(tp, -1), out.get(tp, -1)):
            out[tp] = r.offset
    return out


class EventClock:
    """The sweeps' clock: wall time, or the newest event time this worker has applied."""

    def __init__(
        self, mode: Literal["wall", "event"], wall: Callable[[], float] = time.time
    ) -> None:
        self.mode = mode
        self.wall = wall
        self.newest = 0.0

    def advance(self, ts: float) -> None:
        """An event of time ``ts`` has been applied."""
        self.newest = max(self.newest, ts)

    def now(self) -> float | None:
        """Current sweep time; None on the event clock before the first event."""
        if self.mode == "wall":
            return self.wall()
        return self.newest or None
