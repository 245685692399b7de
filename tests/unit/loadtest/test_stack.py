"""The embedded stack's start-up errors are clear (no services needed)."""

from __future__ import annotations

import shutil

import pytest

from loadtest import stack
from recommender.errors import StackError


def test_missing_redis_server_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(StackError) as err:
        stack.start_redis()
    assert "apt-get install redis-server" in str(err.value)
    assert "REDIS_URL" in str(err.value)


def test_free_port_is_free() -> None:
    port = stack.free_port()
    assert 1024 < port < 65536
    assert not stack.port_open("127.0.0.1", port)
