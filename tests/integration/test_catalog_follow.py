"""The API's catalog follower on the API's own Redis timeout, against real Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from recommender.catalog_view import CatalogView
from recommender.keys import Keys
from recommender.store import API_TIMEOUT_S, RedisStore

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(namespace: dict[str, str]) -> AsyncIterator[RedisStore]:
    """A store on the API's Redis timeout, as the API opens it."""
    keys = Keys(namespace["RECO_KEY_PREFIX"])
    s = RedisStore.from_url(namespace["REDIS_URL"], keys, "ingest", timeout_s=API_TIMEOUT_S)
    yield s
    await s.close()


async def test_idle_poll_returns_nothing_within_the_api_timeout(store: RedisStore) -> None:
    """An idle change log is an empty answer, not a TimeoutError, on the API's 0.5 s timeout.

    The poll used to block for 1 s on a connection that gives up after 0.5 s: every idle poll
    raised, logged a traceback and slept a second.
    """
    view = CatalogView(store, dim=8)
    started = time.monotonic()
    assert await view.apply_changes() == 0
    assert time.monotonic() - started < API_TIMEOUT_S


async def test_follow_logs_no_error_while_idle(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    view = CatalogView(store, dim=8)
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="recommender.catalog_view")
    task = asyncio.create_task(view.follow(stop))
    try:
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert [r.getMessage() for r in caplog.records] == []
