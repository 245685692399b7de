"""The hot endpoint served in front of FastAPI, with the same contract.

`GET /v1/users/{user_id}/recommendations` runs at 1,000 requests/s per replica. FastAPI's
middleware stack, dependency injection and parameter validation cost about 1 ms a request
there, more than the recommendation itself. This ASGI wrapper answers that one path directly,
using the same key check, the same parameter rules and messages (`routes.parse_request`),
the same metrics and the same JSON body. Everything else, including the OpenAPI description
of this route, stays with FastAPI.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI, HTTPException
from starlette.types import Receive, Scope, Send

from recommender.api import metrics
from recommender.api.auth import denial, key_from_headers
from recommender.api.routes import DESTINATION_PATTERN, ID_PATTERN, parse_request, render

ROUTE = "/v1/users/{user_id}/recommendations"
_PATH = re.compile(r"^/v1/users/([^/]+)/recommendations$")
_ID = re.compile(ID_PATTERN)
_DEST = re.compile(DESTINATION_PATTERN)
_JSON = [(b"content-type", b"application/json")]
# The route's metric children, looked up once: labels() takes a lock and builds a key.
_LATENCY = metrics.LATENCY.labels(ROUTE)
_OK = metrics.REQUESTS.labels(ROUTE, "200")


class FastPath:
    """ASGI app: the hot route itself, everything else to the FastAPI app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        match = _PATH.match(scope["path"])
        if match is None or self.app.state.recommender is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, body, extra = await self._answer(match.group(1), scope)
        headers = [*_JSON, (b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        _LATENCY.observe(time.perf_counter() - started)
        (_OK if status == 200 else metrics.REQUESTS.labels(ROUTE, str(status))).inc()

    async def _answer(self, user_id: str, scope: Scope) -> tuple[int, bytes, list[Any]]:
        state = self.app.state
        headers = dict(scope["headers"])
        key = key_from_headers(
            _text(headers.get(b"x-api-key")), _text(headers.get(b"authorization"))
        )
        denied = denial(state.settings, key, "app")
        if denied is not None:
            return denied[0], orjson.dumps({"error": denied[1]}), []
        try:
            query = {
                k: v[-1]
                for k, v in parse_qs(scope["query_string"].decode(), keep_blank_values=True).items()
            }
            req = parse_request(
                _k(query.get("k")),
                query.get("item_types"),
                _checked(query.get("destination"), _DEST, "destination"),
                query.get("exclude"),
            )
            if not _ID.match(user_id):
                raise HTTPException(400, "invalid parameter 'user_id': not a pseudonymous id")
        except HTTPException as exc:
            return exc.status_code, orjson.dumps({"error": exc.detail}), []
        result = await state.recommender.for_user(user_id, req)
        extra = [(b"x-reco-degraded", b"redis-unavailable")] if result.degraded else []
        return 200, orjson.dumps(render(user_id, result, state.recommender)), extra


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw is not None else None


def _k(raw: str | None) -> int:
    if raw is None:
        return 10
    try:
        k = int(raw)
    except ValueError:
        raise HTTPException(400, "invalid parameter 'k': must be an integer") from None
    if not 1 <= k <= 100:
        raise HTTPException(400, "invalid parameter 'k': must be between 1 and 100")
    return k


def _checked(raw: str | None, pattern: re.Pattern[str], name: str) -> str | None:
    if raw is not None and not pattern.match(raw):
        raise HTTPException(400, f"invalid parameter '{name}': must match {pattern.pattern}")
    return raw
