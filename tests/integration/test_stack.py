"""The embedded stack starts real services and leaves no process behind."""

from __future__ import annotations

import os

import pytest
import redis

from loadtest.stack import Stack, port_open, redis_answers, start_redis

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone once reaped, which stop() does.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[1].split()[0] != "Z"


def test_stack_starts_a_broker_and_stops_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    with Stack() as st:
        host, port = st.kafka_bootstrap.split(":")
        assert port_open(host, int(port))
        assert redis_answers(st.redis_url)
        pids = [s.proc.pid for s in st.services]
        assert pids and all(_alive(p) for p in pids)
    assert not any(_alive(p) for p in pids)
    assert not port_open(host, int(port))


def test_own_redis_server_when_none_answers() -> None:
    url, svc = start_redis()
    try:
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
    finally:
        svc.stop()
    assert not redis_answers(url)
    assert svc.proc.poll() is not None
