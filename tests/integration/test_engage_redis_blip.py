"""Redis trouble inside an engagement batch (a blip, a full pool) does not stop the worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from recommender.engagement.policy import Decision
from tests.integration.test_engage_pipeline import (  # noqa: F401 - h is a fixture
    DAY,
    NOON,
    Harness,
    booking,
    click,
    consent,
    h,
    harness_for,
    price,
    settings_of,
)

pytestmark = pytest.mark.integration


class _FailsOnce:
    """Raises a connection error on the first call, then does what ``call`` does."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.calls = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise RedisConnectionError("connection reset by peer (injected)")
        return await self.call(*args, **kwargs)


async def test_a_failed_gate_call_and_item_lookup_are_retried(h: Harness) -> None:  # noqa: F811
    decide = _FailsOnce(h.engage.decider.decide)
    popular = _FailsOnce(h.engage.items.popular)

    async def decide_batch(batch: Sequence[Any]) -> list[Decision]:
        return list(await decide(batch))

    h.engage.decider.decide = decide_batch  # type: ignore[method-assign]
    h.engage.items.popular = popular  # type: ignore[method-assign]
    await h.apply(consent("u1", NOON - 3600), booking("u1", NOON))
    offers = await h.read("offers", 1)
    assert [(o["user_id"], o["kind"]) for o in offers] == [("u1", "cross_sell")]
    assert (decide.calls, popular.calls) == (2, 2)
    assert h.decisions[("cross_sell", "send", None)] == 1


async def test_a_batch_of_many_flights_stays_within_the_redis_pool(
    namespace: dict[str, str],
) -> None:
    """200 flights to 200 destinations in one batch: lookups are bounded, not one each at once.

    A lookup per flight, all at once, asked the pool for 200 connections; redis-py raises
    past 100, and a worker catching up on a backlog stopped.
    """
    s = settings_of(namespace, redis_retry_s=2.0)
    async with harness_for(s) as harness:
        flights = [booking(f"f{i}", NOON + i, destination=f"city-{i}") for i in range(200)]
        plan = await harness.engage.apply(harness.records(*flights))
        assert plan.newest == NOON + 199
        assert await harness.store.r.dbsize() > 0


async def test_a_batch_of_many_offers_decided_at_distinct_times_stays_within_the_pool(
    namespace: dict[str, str],
) -> None:
    """200 consenting travellers book flights in one batch, each at its own second.

    Offers are decided at their event's time, one gate pipeline per distinct time; all at
    once they asked the Redis pool for 200 connections.
    """
    s = settings_of(namespace, redis_retry_s=2.0)
    async with harness_for(s) as harness:
        users = [f"t{i}" for i in range(200)]
        events = [consent(u, NOON - 3600) for u in users]
        events += [booking(u, NOON + i) for i, u in enumerate(users)]
        await harness.engage.apply(harness.records(*events))
        offers = await harness.read("offers", len(users))
        assert sorted(o["user_id"] for o in offers) == sorted(users)
        assert len({o["offer_id"] for o in offers}) == len(users)


async def test_a_fan_out_in_more_steps_than_the_pool_has_connections(
    namespace: dict[str, str],
) -> None:
    """150 watchers in steps of one: 150 steps, each a read and a gate pipeline (bounded)."""
    s = settings_of(namespace, redis_retry_s=2.0, engage_fanout_chunk=1)
    async with harness_for(s) as harness:
        users = [f"w{i}" for i in range(150)]
        await harness.apply(
            *(consent(u, NOON - 30 * DAY) for u in users),
            *(click(u, NOON - DAY, price=100.0) for u in users),
        )
        await harness.apply(price("h1", 80.0, 100.0, NOON))
        offers = await harness.read("offers", len(users))
        assert sorted(o["user_id"] for o in offers) == sorted(users)
