"""The ASGI app as uvicorn imports it in each worker process (`--workers` > 1)."""

from __future__ import annotations

from starlette.types import ASGIApp

from recommender.api.app import create_app
from recommender.api.fastpath import FastPath
from recommender.settings import get_settings


def make_app() -> ASGIApp:
    """The API with its fast path, configured from the environment."""
    return FastPath(create_app(get_settings()))
