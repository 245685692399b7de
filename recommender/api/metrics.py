"""Prometheus metrics of the API (`reco_api_*`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter("reco_api_requests_total", "HTTP requests.", ["route", "status"])
LATENCY = Histogram(
    "reco_api_request_seconds",
    "HTTP request latency.",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


async def track(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Count and time every request by its route template (bounded label values)."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    name = getattr(route, "path", "unmatched")
    LATENCY.labels(name).observe(time.perf_counter() - started)
    REQUESTS.labels(name, str(response.status_code)).inc()
    return response
