"""Worker processes for the demo, the benchmarks and the tests (run as `python -m streams`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import redis

from loadtest.stack import free_port, stop_process
from recommender.keys import Keys


class WorkerProcess:
    """One `python -m streams worker` child process with its own log file."""

    def __init__(self, env: Mapping[str, str], log: Path, engine: str = "batch") -> None:
        # Several workers share a machine in tests and benchmarks: each gets its own port.
        self.metrics_port = int(env.get("RECO_METRICS_PORT") or free_port())
        self.env = {**os.environ, "RECO_METRICS_PORT": str(self.metrics_port), **env}
        self.log = log
        self.engine = engine
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Start the process (logs appended to self.log)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams", "worker", "--engine", self.engine],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        """Process id (start() first)."""
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no chance to finish or commit anything."""
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (SIGKILL after timeout); returns the exit code."""
        if self.proc is None:
            return None
        return stop_process(self.proc, timeout)

    def tail(self, n: int = 40) -> str:
        """Last lines of the log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def processed(client: redis.Redis, keys: Keys) -> int:
    """Events applied or dead-lettered so far, from the atomically written counters."""
    stats = client.hgetall(keys.stats())
    total = 0
    for k, v in stats.items():
        name = k.decode() if isinstance(k, bytes) else str(k)
        if name.startswith(("applied:", "dead:")):
            total += int(v)
    return total


def wait_processed(
    client: redis.Redis,
    keys: Keys,
    target: int,
    timeout: float,
    workers: list[WorkerProcess] | None = None,
    poll_s: float = 0.05,
) -> float:
    """Block until `target` events are processed; returns the monotonic time it happened."""
    deadline = time.monotonic() + timeout
    while True:
        n = processed(client, keys)
        if n >= target:
            return time.monotonic()
        if time.monotonic() > deadline:
            logs = "\n".join(w.tail() for w in workers or [])
            raise TimeoutError(f"only {n} of {target} events processed in {timeout:.0f} s\n{logs}")
        for w in workers or []:
            if w.proc is not None and not w.alive():
                raise RuntimeError(f"worker {w.pid} exited with {w.proc.returncode}:\n{w.tail()}")
        time.sleep(poll_s)
