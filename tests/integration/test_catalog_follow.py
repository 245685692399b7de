"""The API's catalog follower on the API's own Redis timeout, against real Redis."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from recommender.catalog_view import CatalogView
from recommender.keys import Keys
from recommender.store import API_TIMEOUT_S, RedisStore

pytestmark = pytest.mark.integration


async def test_idle_poll_returns_nothing_within_the_api_timeout(namespace: dict[str, str]) -> None:
    """An idle change log is an empty answer, not a TimeoutError, on the API's 0.5 s timeout.

    The poll used to block for 1 s on a connection that gives up after 0.5 s: every idle poll
    raised, logged a traceback and slept a second.
    """
    store = RedisStore.from_url(
        namespace["REDIS_URL"],
        Keys(namespace["RECO_KEY_PREFIX"]),
        "ingest",
        timeout_s=API_TIMEOUT_S,
    )
    view = CatalogView(store, dim=8)
    try:
        started = time.monotonic()
        assert await view.apply_changes() == 0
        assert time.monotonic() - started < API_TIMEOUT_S
    finally:
        await store.close()


async def test_follow_logs_no_error_while_idle(
    namespace: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore.from_url(
        namespace["REDIS_URL"],
        Keys(namespace["RECO_KEY_PREFIX"]),
        "ingest",
        timeout_s=API_TIMEOUT_S,
    )
    view = CatalogView(store, dim=8)
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="recommender.catalog_view")
    task = asyncio.create_task(view.follow(stop))
    try:
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await store.close()
    assert [r.getMessage() for r in caplog.records] == []
