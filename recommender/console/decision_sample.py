"""Offer outcomes from a sample of customers' decision logs, while the worker keeps no totals.

Counting every decision stream would mean reading every customer; instead each refresh
scans the keyspace for at most ``SCAN_TIME_S`` (continuing where the last one stopped, so
a large keyspace is covered over several refreshes), remembers the decision streams it
met, and reads the last hour of up to ``MAX_STREAMS`` of them. SCAN holds Redis for one
short step at a time. The overview labels these numbers as a sample.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from recommender.keys import Keys

REFRESH_S = 15.0
SCAN_TIME_S = 0.1  # per refresh; ~300k keys at 5,000 a step on this kind of machine
SCAN_STEP = 5_000
MAX_STREAMS = 500
WINDOW_S = 3600.0


@dataclass(frozen=True, slots=True)
class SampledDecisions:
    """The decisions of the last hour in the sampled customers' logs."""

    at: float
    customers: int
    entries: list[dict[str, str]]


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class DecisionSampler:
    """Refreshes a sample of decision logs at most every REFRESH_S (per API process)."""

    def __init__(self, r: aioredis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self.cursor = 0
        self.streams: OrderedDict[bytes | str, None] = OrderedDict()
        self.last: SampledDecisions | None = None
        self.passes = 0  # complete walks over the keyspace so far

    async def sample(self, now: float) -> SampledDecisions:
        """The current sample, refreshed when older than REFRESH_S."""
        if self.last is not None and now - self.last.at < REFRESH_S:
            return self.last
        pattern = self.keys.decisions("*")
        deadline = time.monotonic() + SCAN_TIME_S
        while True:
            self.cursor, found = await self.r.scan(self.cursor, match=pattern, count=SCAN_STEP)
            for k in found:
                self.streams[k] = None
                self.streams.move_to_end(k)
            while len(self.streams) > MAX_STREAMS:
                self.streams.popitem(last=False)
            if self.cursor == 0:
                self.passes += 1
                break
            if time.monotonic() > deadline:
                break
        keys = list(self.streams)
        entries: list[dict[str, str]] = []
        if keys:
            pipe = self.r.pipeline(transaction=False)
            since = str(int((now - WINDOW_S) * 1000))
            for k in keys:
                pipe.xrevrange(k, max="+", min=since, count=50)
            for rows in await pipe.execute():
                entries += [{_text(a): _text(b) for a, b in f.items()} for _, f in rows]
        self.last = SampledDecisions(now, len(keys), entries)
        return self.last
