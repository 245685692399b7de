"""with_retry: an outage inside the budget is ridden out and logged once; a longer one raises."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from recommender.errors import StoreError
from streams import metrics
from streams.redis_retry import with_retry


def failing(times: int, exc: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    """An op that raises ``exc`` ``times`` times, then answers; and its calls."""
    calls: list[int] = []

    async def op() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return "ok"

    return calls, op


async def test_an_outage_inside_the_budget_is_retried_and_logged_once_each_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, op = failing(3, RedisTimeoutError("Timeout reading"))
    before = metrics.REDIS_ERRORS.labels("t_blip")._value.get()
    with caplog.at_level(logging.WARNING, logger="streams.redis_retry"):
        assert await with_retry(op, "t_blip", 10.0, timed=False) == "ok"
    assert len(calls) == 4
    assert metrics.REDIS_ERRORS.labels("t_blip")._value.get() - before == 3
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 2, msgs
    assert msgs[0].startswith("Redis unavailable in t_blip")
    assert msgs[1].startswith("Redis answering again in t_blip")


async def test_an_outage_longer_than_the_budget_raises_a_store_error() -> None:
    calls, op = failing(1000, RedisConnectionError("Connection refused"))
    with pytest.raises(StoreError, match="Redis unavailable for 0 s in t_down"):
        await with_retry(op, "t_down", 0.2)
    assert 2 <= len(calls) < 10


async def test_an_error_answer_is_not_retried() -> None:
    calls, op = failing(1, ResponseError("WRONGTYPE"))
    with pytest.raises(ResponseError):
        await with_retry(op, "t_answer", 10.0)
    assert len(calls) == 1
