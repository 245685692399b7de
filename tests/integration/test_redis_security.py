"""A private redis-server with TLS (client certificates required) and an ACL user: the
project connects with the settings, and says clearly why it cannot with a wrong password,
without the CA, with another CA or without the client certificate (no secret printed)."""

from __future__ import annotations

import asyncio
import gc
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.exceptions import AuthenticationError, ConnectionError

from loadtest.stack import Service, _wait, free_port, port_open
from recommender.api.app import create_app, start_services, stop_services
from recommender.engagement.store import EngageStore
from recommender.errors import ConfigError
from recommender.keys import Keys
from recommender.redis_conn import redis_client, redis_options
from recommender.settings import Settings, load_settings
from recommender.store import RedisStore
from streams.preflight import _redis_problem
from tests.tlsfiles import TlsFiles, make_tls_files

pytestmark = pytest.mark.integration
USER, PASSWORD = "reco", "s3cret-acl-password"


@dataclass(frozen=True)
class SecuredRedis:
    url: str
    tls: TlsFiles

    def settings(self, **overrides: object) -> Settings:
        """Settings that reach this Redis; overrides replace or drop (None) fields."""
        fields: dict[str, object] = {
            "redis_url": self.url,
            "redis_username": USER,
            "redis_password": PASSWORD,
            "redis_ssl_ca_file": str(self.tls.ca),
            "redis_ssl_cert_file": str(self.tls.client_cert),
            "redis_ssl_key_file": str(self.tls.client_key),
            "key_prefix": "sec",
        }
        fields.update(overrides)
        return load_settings(**{k: v for k, v in fields.items() if v is not None})


@pytest.fixture(autouse=True)
def collect_each() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    d = tmp_path_factory.mktemp("secured-redis")
    tls = make_tls_files(d / "tls")
    conf = d / "redis.conf"  # ACL: one user with a password; the default user is off
    conf.write_text(f"user {USER} on >{PASSWORD} ~* &* +@all\nuser default off\n")
    port = free_port()
    log = d / "redis.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, str(conf), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(tls.server_cert), "--tls-key-file", str(tls.server_key),
             "--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "yes",
             "--save", "", "--appendonly", "no", "--dir", str(d)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    svc = Service("redis-tls", proc, log)
    try:
        _wait(lambda: port_open("127.0.0.1", port), 10, "redis-server with TLS", proc)
        yield SecuredRedis(f"rediss://127.0.0.1:{port}/0", tls)
    finally:
        svc.stop()


async def test_stores_connect_with_tls_and_acl_user(secured: SecuredRedis) -> None:
    s = secured.settings()
    store = RedisStore.from_url(s.redis_url, Keys("sec"), "ingest", **redis_options(s))
    engage = EngageStore.from_url(s.redis_url, Keys("sec"), **redis_options(s))
    client = redis_client(s)  # the trainer's client
    try:
        assert await store.ping()
        await engage.r.set("sec:probe", b"1")
        assert await client.get("sec:probe") == b"1"
        assert await client.acl_whoami() == USER
    finally:
        for c in (store, engage):
            await c.close()
        await client.aclose()
    assert _redis_problem(s) is None  # the worker's start-up check


async def test_api_serves_from_the_secured_redis(secured: SecuredRedis) -> None:
    s = secured.settings(api_auth=False)
    app = create_app(s)  # opens its own store from the settings
    await start_services(app)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            r = await c.get("/readyz")
        assert r.json()["checks"]["redis"] == "ok"
    finally:
        await stop_services(app)


@pytest.mark.parametrize(
    ("overrides", "error", "words"),
    [
        ({"redis_password": "wrong-password"}, AuthenticationError, "invalid username-password"),
        ({"redis_ssl_ca_file": None}, ConnectionError, "certificate verify failed"),
        ({"redis_ssl_ca_file": "OTHER"}, ConnectionError, "certificate verify failed"),
        (
            {"redis_ssl_cert_file": None, "redis_ssl_key_file": None},
            ConnectionError,
            # TLS 1.3: the client's handshake ends before the server checks for a certificate;
            # its alert (or the reset) arrives before or after the client's first write.
            "certificate required|EOF occurred in violation of protocol|Connection reset",
        ),
    ],
    ids=["wrong-password", "system-cas-only", "other-ca", "no-client-certificate"],
)
async def test_refused_with_a_clear_reason(
    secured: SecuredRedis, overrides: dict[str, object], error: type[Exception], words: str
) -> None:
    if overrides.get("redis_ssl_ca_file") == "OTHER":
        overrides = {"redis_ssl_ca_file": str(secured.tls.other_ca)}
    s = secured.settings(**overrides)
    problem = _redis_problem(s)
    assert problem is not None
    assert problem.startswith(f"cannot reach Redis at {secured.url} (REDIS_URL):")
    assert re.search(words, problem)
    assert PASSWORD not in problem and "wrong-password" not in problem
    store = RedisStore.from_url(s.redis_url, Keys("sec"), "ingest", **redis_options(s))
    try:
        with pytest.raises(error, match=words):
            await store.ping()
    finally:
        await store.close()
        # A TLS connection the server refused after the handshake closes asynchronously;
        # let it finish before the test's event loop goes.
        await asyncio.sleep(0.2)


def test_missing_ca_file_fails_at_start(secured: SecuredRedis, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"RECO_REDIS_SSL_CA_FILE .* does not exist"):
        secured.settings(redis_ssl_ca_file=str(tmp_path / "missing-ca.pem"))


def test_plain_redis_url_to_a_tls_port_fails(secured: SecuredRedis) -> None:
    url = secured.url.replace("rediss://", "redis://")
    s = load_settings(redis_url=url, redis_username=USER, redis_password=PASSWORD)
    problem = _redis_problem(s)
    assert problem is not None and url in problem and PASSWORD not in problem
