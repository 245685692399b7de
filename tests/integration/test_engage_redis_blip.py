"""A Redis blip inside an engagement batch is retried, not fatal to the worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from recommender.engagement.policy import Decision
from tests.integration.test_engage_pipeline import (  # noqa: F401 - h is a fixture
    NOON,
    Harness,
    booking,
    consent,
    h,
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
