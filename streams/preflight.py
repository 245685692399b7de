"""Start-up checks: say clearly which dependency is unreachable instead of a traceback."""

from __future__ import annotations

import socket
import time

import redis

from recommender.redis_conn import redacted, redis_options
from recommender.settings import Settings


def _redis_problem(s: Settings) -> str | None:
    # With the same AUTH and TLS options as every other client, so a wrong password or CA
    # is reported here, by name, and not as a worker crash later.
    try:
        client = redis.Redis.from_url(
            s.redis_url, socket_connect_timeout=2, socket_timeout=2, **redis_options(s)
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return f"cannot reach Redis at {redacted(s.redis_url)} (REDIS_URL): {exc}"
    return None


def _kafka_problem(bootstrap: str) -> str | None:
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            return f"KAFKA_BOOTSTRAP entry {server!r} is not host:port"
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
                return None  # one reachable bootstrap server is enough
        except OSError as exc:
            errors.append(f"{server}: {exc}")
    return f"cannot reach Kafka at {bootstrap} (KAFKA_BOOTSTRAP): {'; '.join(errors)}"


def wait_for_dependencies(s: Settings, wait_s: float) -> list[str]:
    """Problems still present after waiting up to wait_s (services may start after us)."""
    deadline = time.monotonic() + wait_s
    while True:
        problems = [p for p in (_kafka_problem(s.kafka_bootstrap), _redis_problem(s)) if p]
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(1.0)
