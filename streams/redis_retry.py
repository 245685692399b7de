"""Riding out a Redis outage: bounded retry with backoff, then a clear error.

Every Redis-using loop of a worker (the batch pipelines, the sweeps, the policy refresh,
the offer tally) goes through ``with_retry``: connection failures and timeouts are retried
with exponential backoff for up to ``redis_retry_s``, so an outage shorter than that budget
is ridden out; a longer one raises StoreError, which stops the worker without committing
what Redis does not hold (broken infrastructure is never swallowed). Each outage is logged
once when it begins and once when Redis answers again, and every failed call is counted in
``reco_worker_redis_errors_total{op}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from recommender.errors import StoreError
from streams import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0


async def with_retry(
    op: Callable[[], Awaitable[T]], name: str, retry_s: float, *, timed: bool = True
) -> T:
    """Retry Redis connection failures with backoff for up to retry_s, then raise StoreError.

    ``name`` labels the metrics and the log lines; ``timed`` observes each call's latency in
    ``reco_worker_redis_seconds{op}`` (off for ops that are more than a Redis call, such as a
    whole sweep).
    """
    deadline = time.monotonic() + retry_s
    delay = FIRST_DELAY_S
    down_since: float | None = None
    failures = 0
    while True:
        started = time.monotonic()
        try:
            if timed:
                with metrics.REDIS_SECONDS.labels(name).time():
                    result = await op()
            else:
                result = await op()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            metrics.REDIS_ERRORS.labels(name).inc()
            failures += 1
            now = time.monotonic()
            if now + delay > deadline:
                raise StoreError(f"Redis unavailable for {retry_s:.0f} s in {name}: {exc}") from exc
            if down_since is None:
                down_since = started  # a call that hung until its timeout: since it began
                log.warning(
                    "Redis unavailable in %s (%s); retrying with backoff for up to %.0f s",
                    name,
                    exc,
                    retry_s,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
            continue
        if down_since is not None:
            log.warning(
                "Redis answering again in %s after %.1f s (%d failed attempts)",
                name,
                time.monotonic() - down_since,
                failures,
            )
        return result
