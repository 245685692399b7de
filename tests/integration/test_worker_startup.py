"""A worker with wrong settings or unreachable services stops at once with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from loadtest.stack import free_port

pytestmark = pytest.mark.integration


def _worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env={**os.environ, "RECO_STARTUP_WAIT_S": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_invalid_setting_names_the_variable() -> None:
    out = _worker({"RECO_BATCH_SIZE": "0"})
    assert out.returncode == 2
    assert "RECO_BATCH_SIZE" in out.stderr and "Traceback" not in out.stderr


def test_unreachable_redis_is_named() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    out = _worker({"REDIS_URL": url, "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"})
    assert out.returncode == 2
    assert f"cannot reach Redis at {url} (REDIS_URL)" in out.stderr
    assert "cannot reach Kafka" in out.stderr and "Traceback" not in out.stderr
