"""Prometheus metrics of the API (`reco_api_*`): requests, index and model.

Requests are recorded by a plain ASGI wrapper instead of Starlette's BaseHTTPMiddleware: the
latter costs a task and stream plumbing per request, which showed up at 1,000 requests/s.
The index and model gauges are set by a background task every few seconds, never per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, Info
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender.catalog_view import CatalogView

log = logging.getLogger(__name__)

REQUESTS = Counter("reco_api_requests_total", "HTTP requests.", ["route", "status"])
LATENCY = Histogram(
    "reco_api_request_seconds",
    "HTTP request latency.",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
INDEX_ITEMS = Gauge(
    "reco_api_index_items", "Items in this process's ANN index (active, with vector)."
)
CATALOG_ITEMS = Gauge("reco_api_catalog_items", "Catalog items this process knows, active or not.")
INDEX_VERSION = Gauge(
    "reco_api_index_version",
    "Change counter of this process's index (every applied write and rebuild bumps it).",
)
INDEX_AGE = Gauge(
    "reco_api_index_age_seconds", "Time since the index structure was built (load or rebuild)."
)
CATALOG_BEHIND = Gauge(
    "reco_api_catalog_behind_seconds",
    "Age of the oldest catalog change in Redis that this process has not applied; 0 = in step.",
)
MODEL = Info("reco_api_model", "Version of the model whose session rules this process serves.")

ModelVersion = Callable[[], str | None]  # version of the model in use, None before one

INDEX_OBSERVE_S = 5.0  # a third of the usual scrape interval; one XRANGE per period


def _after(stream_id: str) -> str:
    """The smallest stream id above stream_id (XRANGE's '(' needs Redis 6.2)."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


async def observe_index_once(
    catalog: CatalogView, model_version: ModelVersion, now: float | None = None
) -> None:
    """Set the index and model gauges from this process's catalog view and Redis."""
    now = time.time() if now is None else now
    INDEX_ITEMS.set(catalog.index.size)
    CATALOG_ITEMS.set(len(catalog.items))
    INDEX_VERSION.set(catalog.index.version)
    INDEX_AGE.set(max(now - catalog.index.built_at, 0.0))
    MODEL.info({"version": model_version() or "none"})
    # The change log's ids are Redis server time in ms: the first entry past what this
    # process applied tells how long a change has waited for it.
    first: Any = await catalog.store.r.xrange(
        catalog.store.keys.catalog_log(), min=_after(catalog.last_id), count=1
    )
    waiting_since = int(first[0][0].decode().partition("-")[0]) / 1000 if first else now
    CATALOG_BEHIND.set(max(now - waiting_since, 0.0))


async def observe_index(
    catalog: CatalogView, model_version: ModelVersion, stop: asyncio.Event
) -> None:
    """observe_index_once every INDEX_OBSERVE_S until stop; off the request path."""
    while not stop.is_set():
        try:
            await observe_index_once(catalog, model_version)
        except (RedisError, OSError) as exc:
            log.warning("index metrics: cannot read the catalog log: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INDEX_OBSERVE_S)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (bounded label values)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", "unmatched")
            LATENCY.labels(name).observe(time.perf_counter() - started)
            REQUESTS.labels(name, str(status[0])).inc()
