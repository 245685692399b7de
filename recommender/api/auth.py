"""API keys with two scopes: 'app' (the app backend) and 'admin' (also app)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import HTTPException, Request

Scope = Literal["app", "admin"]


def _matches(key: str, keys: tuple[str, ...]) -> bool:
    # Constant-time comparison so response timing does not leak key prefixes.
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def presented_key(request: Request) -> str | None:
    """The key from `X-API-Key` or `Authorization: Bearer ...`."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def require(scope: Scope) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency that admits keys of `scope` (admin keys are admitted everywhere)."""

    async def check(request: Request) -> None:
        s = request.app.state.settings
        if not s.api_auth:
            return  # explicitly turned off for local development
        key = presented_key(request)
        if key is None:
            raise HTTPException(401, "missing API key: send it in the X-API-Key header")
        if _matches(key, tuple(s.api_keys_admin)):
            return
        if _matches(key, tuple(s.api_keys_app)):
            if scope == "app":
                return
            raise HTTPException(403, "this API key may not use admin endpoints")
        raise HTTPException(401, "unknown API key")

    return check
