"""API keys with two scopes: 'app' (the app backend) and 'admin' (also app)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any, Literal

from fastapi import HTTPException, Request

from recommender.settings import Settings

Scope = Literal["app", "admin"]


HASH_PREFIX = "sha256:"


def key_digest(key: str) -> str:
    """How a key is stored in the config: 'sha256:' + the hex SHA-256 of the key.

    API keys are long random strings, so a fast hash is enough (a password hash guards
    guessable secrets); the point is that the config and its backups do not hold the keys.
    """
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


@lru_cache(maxsize=64)
def _digests(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    """Configured keys as digests, whichever form they were given in."""
    return tuple((k if k.startswith(HASH_PREFIX) else key_digest(k)).encode() for k in keys)


def _matches(key: str, keys: tuple[str, ...]) -> bool:
    # Constant-time comparison of digests, against every configured key, so response timing
    # tells neither which key nor how much of one matched.
    presented = key_digest(key).encode()
    hits = [hmac.compare_digest(presented, d) for d in _digests(keys)]
    return any(hits)


def key_from_headers(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key from `X-API-Key` or `Authorization: Bearer ...`."""
    if x_api_key:
        return x_api_key
    auth = authorization or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def presented_key(request: Request) -> str | None:
    """The key a request presents."""
    return key_from_headers(request.headers.get("x-api-key"), request.headers.get("authorization"))


def denial(settings: Settings, key: str | None, scope: Scope) -> tuple[int, str] | None:
    """(status, message) when the key may not use scope; None when it may (pure)."""
    if not settings.api_auth:
        return None  # explicitly turned off for local development
    if key is None:
        return 401, "missing API key: send it in the X-API-Key header"
    if _matches(key, tuple(settings.api_keys_admin)):
        return None
    if _matches(key, tuple(settings.api_keys_app)):
        return None if scope == "app" else (403, "this API key may not use admin endpoints")
    return 401, "unknown API key"


def require(scope: Scope) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency that admits keys of `scope` (admin keys are admitted everywhere)."""

    async def check(request: Request) -> None:
        denied = denial(request.app.state.settings, presented_key(request), scope)
        if denied is not None:
            raise HTTPException(*denied)

    return check
