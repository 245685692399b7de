"""Offer decisions counted in Redis as well as in Prometheus, for the CRM console.

Prometheus counters live in each worker process, where the API cannot read them. This keeps
the same counts in the engagement stats hash (`offers:<kind>:<outcome>:<reason or ->`),
summed over every worker: the console's live page reads them. Counts are flushed every few
seconds, one HINCRBY per distinct label set, so a 100,000-offer fan-out costs a handful of
commands, not one per offer. A flush that loses Redis is retried like every Redis call of the
worker (``streams.redis_retry``), the counts kept meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from recommender.keys import Keys
from streams.engagement_metrics import count_decision
from streams.redis_retry import with_retry

log = logging.getLogger(__name__)
FLUSH_S = 5.0
RETRY_S = 120.0  # the default of Settings.redis_retry_s; the worker passes its own


def field_of(kind: str, outcome: str, reason: str | None) -> str:
    """The stats-hash field of one decision."""
    return f"offers:{kind}:{outcome}:{reason or '-'}"


class OfferTally:
    """An on_decision hook: Prometheus at once, Redis at the next flush."""

    def __init__(self, client: aioredis.Redis, keys: Keys, *, retry_s: float = RETRY_S) -> None:
        self.r = client
        self.keys = keys
        self.retry_s = retry_s
        self.pending: Counter[str] = Counter()

    def __call__(self, kind: str, outcome: str, reason: str | None) -> None:
        count_decision(kind, outcome, reason)
        self.pending[field_of(kind, outcome, reason)] += 1

    async def flush(self) -> None:
        """Add what was counted since the last flush (kept for the next one on failure)."""
        if not self.pending:
            return
        todo, self.pending = self.pending, Counter()
        try:
            await with_retry(functools.partial(self._write, todo), "offer_tally", self.retry_s)
        except RedisError as exc:  # an answer, not an outage (those are retried)
            self.pending.update(todo)
            log.warning("offer counts not written (%s); retrying at the next flush", exc)
        except BaseException:  # out of retries, or stopping: counts kept for a last flush
            self.pending.update(todo)
            raise

    async def _write(self, todo: Counter[str]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for name, n in todo.items():
            pipe.hincrby(self.keys.engage_stats(), name, n)
        await pipe.execute()

    async def run(self, stopping: asyncio.Event) -> None:
        """Flush every FLUSH_S until `stopping`, then once more."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), FLUSH_S)
            await self.flush()
