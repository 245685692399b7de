"""The API's outer ASGI layer: request size limit and per-key rate limit.

It sits in front of everything (the fast path included), so a flood or an oversized body
is turned away before any work is done. Rate limits are token buckets per API key (or per
client address for requests without one), kept in each process: with N replicas a key
may use up to N times the configured rate, which the operations guide states. A shared
limiter in Redis would cost a round trip on every request of the hot path.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender.api.auth import key_from_headers

_JSON = (b"content-type", b"application/json")
MAX_BUCKETS = 100_000  # distinct callers remembered; beyond, the oldest half is forgotten


@dataclass(slots=True)
class Bucket:
    """Tokens left and when they were last counted."""

    tokens: float
    at: float


class RateLimiter:
    """Token buckets: `rate` requests/s sustained, `burst` at once, per caller (pure + clock)."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}

    def take(self, caller: str) -> float:
        """0 when the request may go ahead, else seconds until one token is back."""
        now = self.clock()
        b = self._buckets.get(caller)
        if b is None:
            if len(self._buckets) >= MAX_BUCKETS:
                for old in list(self._buckets)[: MAX_BUCKETS // 2]:
                    del self._buckets[old]
            b = self._buckets[caller] = Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate


def caller_id(scope: Scope) -> str:
    """Who is calling: a digest of the API key, else the client address."""
    headers = dict(scope.get("headers") or ())
    key = key_from_headers(_text(headers.get(b"x-api-key")), _text(headers.get(b"authorization")))
    if key:
        return "k:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    client = scope.get("client")
    return f"a:{client[0] if client else '?'}"


class Guard:
    """ASGI middleware: 413 for bodies over `max_body_bytes`, 429 over the rate limit."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, limiter: RateLimiter | None) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.limiter is not None and path.startswith("/v1/"):
            wait = self.limiter.take(caller_id(scope))
            if wait > 0:
                retry = str(max(1, math.ceil(wait))).encode()
                msg = f"rate limit exceeded for this API key; retry after {retry.decode()} s"
                await _reply(send, 429, msg, [(b"retry-after", retry)])
                return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await _reply(send, 413, f"request body larger than {self.max_body} bytes")
            return
        await self._limited_body(scope, receive, send)

    async def _limited_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, answering 413 itself once a streamed body passes the limit.

        The app then sees the client as gone, and whatever it tries to send is dropped:
        the client already has its answer.
        """
        seen = 0
        replied = False

        async def counting_receive() -> Message:
            nonlocal seen, replied
            if replied:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    replied = True
                    await _reply(send, 413, f"request body larger than {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not replied:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _reply(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = orjson.dumps({"error": message})
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw is not None else None
