"""Shared fixtures: the embedded stack (real broker + Redis) for integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from loadtest.stack import Stack
from recommender.keys import Keys


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Tansu + Redis for the whole session; everything started is stopped at the end."""
    with Stack() as s:
        yield s


@pytest.fixture
def namespace(stack: Stack) -> Iterator[dict[str, str]]:
    """Env for one test: its own topic prefix and Redis key prefix, cleaned up afterwards."""
    tag = f"t{uuid.uuid4().hex[:10]}"
    env = {
        **stack.env(),
        "RECO_TOPIC_PREFIX": f"{tag}.",
        "RECO_KEY_PREFIX": tag,
        "RECO_APP_ID": f"{tag}-worker",
    }
    yield env
    client = redis.Redis.from_url(stack.redis_url)
    try:
        keys = list(client.scan_iter(Keys(tag).all_pattern(), count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
    finally:
        client.close()


@pytest.fixture
def rclient(stack: Stack) -> Iterator[redis.Redis]:
    """A synchronous Redis client on the stack's Redis."""
    client = redis.Redis.from_url(stack.redis_url)
    yield client
    client.close()
