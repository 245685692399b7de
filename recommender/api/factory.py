"""The ASGI app as uvicorn imports it in each worker process (`--workers` > 1)."""

from __future__ import annotations

from starlette.types import ASGIApp

from recommender.api.app import create_app
from recommender.api.fastpath import FastPath
from recommender.api.guard import Guard, RateLimiter
from recommender.settings import Settings, get_settings


def make_app() -> ASGIApp:
    """The API with its guard and fast path, configured from the environment."""
    return guarded(get_settings())


def guarded(settings: Settings) -> ASGIApp:
    """Size and rate limits in front of the fast path in front of FastAPI."""
    limiter = (
        RateLimiter(settings.api_rate_limit_rps, settings.api_rate_limit_burst)
        if settings.api_rate_limit_rps > 0
        else None
    )
    return Guard(
        FastPath(create_app(settings)), max_body_bytes=settings.api_max_body_bytes, limiter=limiter
    )
