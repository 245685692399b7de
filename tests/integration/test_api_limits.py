"""The API's limits through the real ASGI stack and Redis: 429, 413, CORS, hashed keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from loadtest.stack import Stack
from recommender.api.app import start_services, stop_services
from recommender.api.auth import key_digest
from recommender.api.factory import guarded
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore

pytestmark = pytest.mark.integration
APP_KEY, ADMIN_KEY = "limits-app-key", "limits-admin-key"


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    asgi = guarded(settings)
    fastapi_app = asgi.app.app  # type: ignore[attr-defined]  # Guard -> FastPath -> FastAPI
    fastapi_app.state.store = RedisStore.from_url(
        settings.redis_url, Keys(settings.key_prefix), "ingest"
    )
    fastapi_app.state.owns_store = True
    await start_services(fastapi_app)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c
    await stop_services(fastapi_app)


def _settings(namespace: dict[str, str], **changes: object) -> Settings:
    return Settings(
        kafka_bootstrap=namespace["KAFKA_BOOTSTRAP"],
        redis_url=namespace["REDIS_URL"],
        topic_prefix=namespace["RECO_TOPIC_PREFIX"],
        key_prefix=namespace["RECO_KEY_PREFIX"],
        # Only digests in the config: the keys themselves are not stored anywhere.
        api_keys_app=[key_digest(APP_KEY)],
        api_keys_admin=[key_digest(ADMIN_KEY)],
        **changes,  # type: ignore[arg-type]
    )


@pytest.fixture
async def limited(namespace: dict[str, str], stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    s = _settings(
        namespace, api_rate_limit_rps=1.0, api_rate_limit_burst=3, api_max_body_bytes=2048
    )
    async for c in _client(s):
        yield c


async def test_a_key_over_its_rate_gets_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    h = {"X-API-Key": APP_KEY}
    codes = [
        (await limited.get("/v1/users/u1/recommendations", headers=h)).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    r = await limited.get("/v1/users/u1/recommendations", headers=h)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "rate limit" in r.json()["error"]
    # Another key has its own budget; health checks are never limited.
    other = await limited.get("/v1/users/u1/recommendations", headers={"X-API-Key": ADMIN_KEY})
    assert other.status_code == 200
    for _ in range(5):
        assert (await limited.get("/healthz")).status_code == 200


async def test_oversized_bodies_get_413_declared_or_streamed(limited: httpx.AsyncClient) -> None:
    h = {"X-API-Key": ADMIN_KEY}
    url = "/v1/admin/users/u1/consent"
    big = b'{"channel": "push", "granted": true, "pad": "' + b"x" * 5000 + b'"}'
    r = await limited.put(url, content=big, headers={**h, "content-type": "application/json"})
    assert r.status_code == 413 and "2048 bytes" in r.json()["error"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 500

    r = await limited.put(url, content=chunks(), headers={**h, "content-type": "application/json"})
    assert r.status_code == 413


async def test_cors_is_closed_unless_origins_are_configured(
    namespace: dict[str, str], stack: Stack
) -> None:
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key",
    }
    async for c in _client(_settings(namespace)):
        r = await c.options("/v1/users/u1/profile", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    allowed = "https://app.example"
    async for c in _client(_settings(namespace, api_cors_origins=[allowed])):
        r = await c.options("/v1/users/u1/profile", headers={**preflight, "Origin": allowed})
        assert r.headers.get("access-control-allow-origin") == allowed
        r = await c.options("/v1/users/u1/profile", headers=preflight)
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"
