"""Every Redis client's connection options, from the one Settings object.

``REDIS_URL`` says where Redis is and, with ``rediss://``, that the connection is TLS;
``redis_options`` adds what a URL should not carry: the AUTH password (so the URL can be
logged), the ACL user, the CA and the client certificate. Stores, the API, workers, the
trainer and the start-up check all connect through here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis

from recommender.settings import Settings


def redis_options(s: Settings) -> dict[str, Any]:
    """Keyword arguments for redis-py's ``from_url`` (sync or asyncio) beyond the URL."""
    out: dict[str, Any] = {}
    password = s.redis_password.get_secret_value()
    if password:
        out["password"] = password
        if s.redis_username:
            out["username"] = s.redis_username
    if urlsplit(s.redis_url).scheme == "rediss":
        out["ssl_check_hostname"] = s.redis_ssl_check_hostname
        for arg, path in (
            ("ssl_ca_certs", s.redis_ssl_ca_file),
            ("ssl_certfile", s.redis_ssl_cert_file),
            ("ssl_keyfile", s.redis_ssl_key_file),
        ):
            if path:
                out[arg] = path
    return out


def redis_client(s: Settings, **extra: Any) -> aioredis.Redis:
    """An asyncio client with its own pool; ``extra`` adds e.g. timeouts or decoding."""
    return aioredis.Redis.from_url(s.redis_url, **redis_options(s), **extra)


def redacted(url: str) -> str:
    """The URL with any password replaced by '***', fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
