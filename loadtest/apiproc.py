"""The recommendation API as a child process (`python -m recommender serve`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from loadtest.stack import free_port, stop_process

DEMO_KEY = "demo-app-key"


class ApiProcess:
    """One API server on a free loopback port, with its own log file."""

    def __init__(self, env: Mapping[str, str], log: Path, key: str = DEMO_KEY) -> None:
        self.port = free_port()
        self.key = key
        self.log = log
        self.env = {
            **os.environ,
            "RECO_API_PORT": str(self.port),
            "RECO_API_KEYS_APP": f'["{key}"]',
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> ApiProcess:
        """Start and wait until /readyz says ready."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "recommender", "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"API not ready within {ready_timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        """SIGTERM (uvicorn drains requests), SIGKILL if it hangs."""
        if self.proc is not None:
            stop_process(self.proc, 15)
