"""Prometheus metrics of the API (`reco_api_*`), recorded by a plain ASGI middleware.

A plain ASGI wrapper instead of Starlette's BaseHTTPMiddleware: the latter costs a task
and stream plumbing per request, which showed up at 1,000 requests/s.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("reco_api_requests_total", "HTTP requests.", ["route", "status"])
LATENCY = Histogram(
    "reco_api_request_seconds",
    "HTTP request latency.",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


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
