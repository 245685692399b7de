"""Admins' runtime overrides (kill switches from the CRM console) reach the push gate.

The configured policy comes from settings; overrides live in one Redis hash
(`Keys.policy_overrides`). Every few seconds the worker reads it and swaps the gate's
policy, so switching a kind off in the console stops those offers within that interval.
While Redis does not answer, the gate keeps the last policy and the read is retried like
every Redis call of the worker (``streams.redis_retry``): an outage longer than the retry
budget stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from recommender.console.overrides import effective_policy, read_overrides
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.gate import PushGate
from recommender.keys import Keys
from streams.redis_retry import with_retry

log = logging.getLogger(__name__)
REFRESH_S = 5.0
RETRY_S = 120.0  # the default of Settings.redis_retry_s; the worker passes its own


class PolicyRefresher:
    """Keeps `gate.policy` equal to the configured policy plus the stored overrides."""

    def __init__(
        self,
        gate: PushGate,
        client: aioredis.Redis,
        keys: Keys,
        configured: EngagementPolicy,
        interval_s: float = REFRESH_S,
        *,
        retry_s: float = RETRY_S,
    ) -> None:
        self.gate = gate
        self.r = client
        self.keys = keys
        self.configured = configured
        self.interval_s = interval_s
        self.retry_s = retry_s

    async def refresh(self) -> None:
        """Read the overrides once and apply them (logs when the disabled kinds change)."""
        policy = effective_policy(self.configured, await read_overrides(self.r, self.keys))
        if policy.disabled_kinds != self.gate.policy.disabled_kinds:
            log.warning(
                "offer kinds switched off now: %s",
                ", ".join(sorted(policy.disabled_kinds)) or "none",
            )
        self.gate.policy = policy

    async def run(self, stopping: asyncio.Event) -> None:
        """Refresh until `stopping` is set; while Redis is away the last policy stays."""
        while not stopping.is_set():
            try:
                await with_retry(self.refresh, "policy_refresh", self.retry_s)
            except RedisError as exc:  # an error answer, not an outage (those are retried)
                log.warning("policy overrides not read (%s); keeping the last policy", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval_s)
