"""What the worker fault tests share: settings for a test's namespace, producing (now or in
the background), counters, the exact check of ingest against the ground truth
(tests/reference.py), and a Fleet of worker processes to start, kill, stop and freeze."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from loadtest.produce import ensure_topics, produce
from loadtest.workers import WorkerProcess
from loadtest.world import Record
from recommender.keys import Keys
from recommender.settings import Settings
from recommender.store import RedisStore
from tests.reference import BOOK_WEIGHT, WEIGHTS, assert_matches_truth, ground_truth

INGEST_TOPICS = ("clicks", "bookings", "catalog")
_JOINED = re.compile(r"Joined group '([^']+)' \(generation (\d+)\)")


def settings_of(env: Mapping[str, str]) -> Settings:
    """The Settings a worker started with ``env`` (a ``namespace`` plus overrides) uses."""
    extra: dict[str, Any] = {}
    if "RECO_AFFINITY_MAX_KEYS" in env:
        extra["affinity_max_keys"] = int(env["RECO_AFFINITY_MAX_KEYS"])
    return Settings(
        kafka_bootstrap=env["KAFKA_BOOTSTRAP"],
        redis_url=env["REDIS_URL"],
        topic_prefix=env["RECO_TOPIC_PREFIX"],
        key_prefix=env["RECO_KEY_PREFIX"],
        app_id=env["RECO_APP_ID"],
        **extra,
    )


def create_topics(s: Settings, partitions: int, logical: Sequence[str] = INGEST_TOPICS) -> None:
    """Create the namespace's topics with ``partitions`` each (before any worker does)."""
    asyncio.run(ensure_topics(s.kafka_bootstrap, [s.topic(t) for t in logical], partitions))


def send(records: Sequence[Record], s: Settings) -> None:
    """Produce records and return once the broker has them all."""
    asyncio.run(
        produce(records, bootstrap=s.kafka_bootstrap, topic_prefix=s.topic_prefix, progress=False)
    )


class BackgroundProducer:
    """Produces records from a thread at a bounded rate, so faults land mid-stream."""

    def __init__(self, records: Sequence[Record], s: Settings, rate: float) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(records, s, rate), daemon=True)

    def _run(self, records: Sequence[Record], s: Settings, rate: float) -> None:
        try:
            asyncio.run(
                produce(
                    records,
                    bootstrap=s.kafka_bootstrap,
                    topic_prefix=s.topic_prefix,
                    rate=rate,
                    progress=False,
                )
            )
        except BaseException as exc:  # handed to join(): a thread's error is otherwise lost
            self.error = exc

    def start(self) -> BackgroundProducer:
        """Start producing."""
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        """Wait until every record is produced; raises what went wrong in the thread."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the producer did not finish within {timeout:.0f} s")
        if self.error is not None:
            raise self.error


def counters(client: redis.Redis, key: str) -> dict[str, int]:
    """A stats hash (``applied:<topic>``, ``dead:<topic>``) as ints."""
    return {
        k.decode(): int(v)
        for k, v in client.hgetall(key).items()
        if k.startswith((b"applied:", b"dead:"))
    }


def event_weight(records: Sequence[Record]) -> float:
    """Popularity weight the user events carry: every item event counted once."""
    return sum(
        (BOOK_WEIGHT if r.topic == "bookings" else WEIGHTS[e["action"]])
        for r in records
        if r.topic in ("clicks", "bookings")
        and (e := orjson.loads(r.value)).get("item_id")
        and (r.topic == "clicks" or e["status"] == "confirmed")
    )


def assert_ingest_exact(
    client: redis.Redis, s: Settings, catalog: Sequence[Record], events: Sequence[Record]
) -> None:
    """Popularity totals and every profile equal the ground truth: each event applied once."""
    counted = 0.0
    for key in client.scan_iter(f"{s.key_prefix}:pop:*:_all", count=1000):
        counted += sum(score for _, score in client.zrange(key, 0, -1, withscores=True))
    assert counted == pytest.approx(event_weight(events), rel=1e-12)
    user_events = [(r.topic, r.value) for r in events if r.topic in ("clicks", "bookings")]
    truth = ground_truth([r.value for r in catalog], user_events, s)

    async def read() -> dict[str, Any]:
        store = RedisStore.from_url(s.redis_url, Keys(s.key_prefix), "ingest")
        try:
            return dict(await store.read_profiles(sorted(truth)))
        finally:
            await store.close()

    assert_matches_truth(asyncio.run(read()), truth, s)


def log_lines(w: WorkerProcess, text: str) -> int:
    """Lines of a worker's log that contain text."""
    try:
        return w.log.read_text(errors="replace").count(text)
    except OSError:
        return 0


def wait_for(
    what: str, ok: Callable[[], bool], workers: Iterable[WorkerProcess], timeout: float
) -> None:
    """Poll until ok(); fail early, with their logs, when one of the workers died."""
    deadline = time.monotonic() + timeout
    while not ok():
        for w in workers:
            if not w.alive():
                raise RuntimeError(f"worker {w.pid} exited while waiting for {what}:\n{w.tail()}")
        if time.monotonic() > deadline:
            logs = "\n".join(w.tail(15) for w in workers)
            raise TimeoutError(f"no {what} within {timeout:.0f} s\n{logs}")
        time.sleep(0.05)


class Fleet:
    """The worker processes of one test, by slot ('a', 'b'): each start gets its own log,
    every fault is put on a timeline, and kill -9 times are kept."""

    def __init__(self, env: Mapping[str, str], logdir: Path) -> None:
        self.env = dict(env)
        self.logdir = logdir
        self.live: dict[str, WorkerProcess] = {}
        self.logs: list[Path] = []
        self.timeline: list[tuple[float, str]] = []
        self.kill_times: list[float] = []  # wall clock
        self.t0 = time.monotonic()

    def note(self, what: str) -> None:
        """Put something on the timeline."""
        self.timeline.append((time.monotonic() - self.t0, what))

    @property
    def workers(self) -> list[WorkerProcess]:
        """The processes running now."""
        return list(self.live.values())

    def start(self, slot: str) -> WorkerProcess:
        """Start a worker in the slot (which must be empty)."""
        assert slot not in self.live
        self.logs.append(self.logdir / f"{slot}{sum(p.name[0] == slot for p in self.logs)}.log")
        self.live[slot] = WorkerProcess(self.env, self.logs[-1]).start()
        self.note(f"start {slot}")
        return self.live[slot]

    def kill9(self, slot: str) -> None:
        """SIGKILL the slot's worker: nothing finished, nothing committed, no goodbye."""
        self.kill_times.append(time.time())
        self.live.pop(slot).kill9()
        self.note(f"kill -9 {slot}")

    def sigterm(self, slot: str) -> int | None:
        """SIGTERM the slot's worker and wait until it exits; returns its exit code."""
        self.note(f"SIGTERM {slot}")
        code = self.live.pop(slot).stop(timeout=30)
        self.note(f"{slot} exited {code}")
        return code

    def stall(self, slot: str, seconds: float) -> None:
        """Freeze the slot's worker (SIGSTOP) for a while, then let it go on (SIGCONT)."""
        pid = self.live[slot].pid
        os.kill(pid, signal.SIGSTOP)
        self.note(f"SIGSTOP {slot}")
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
            self.note(f"SIGCONT {slot}")

    def wait_log(self, slot: str, text: str, more_than: int, timeout: float = 60) -> None:
        """Until the slot's worker has logged ``text`` more than ``more_than`` times."""
        w = self.live[slot]
        wait_for(
            f"{text!r} from {slot}", lambda: log_lines(w, text) > more_than, self.workers, timeout
        )
        self.note(f"{slot}: {text}")

    def stop_all(self) -> None:
        """SIGTERM every running worker."""
        for slot in list(self.live):
            self.live.pop(slot).stop()

    def log_count(self, text: str) -> int:
        """Lines containing text in the logs of every worker this fleet started."""
        return sum(path.read_text(errors="replace").count(text) for path in self.logs)

    def generations(self) -> dict[str, int]:
        """Highest generation each consumer group reached, from every worker's log."""
        out: dict[str, int] = {}
        for path in self.logs:
            for m in _JOINED.finditer(path.read_text(errors="replace")):
                out[m[1]] = max(out.get(m[1], 0), int(m[2]))
        return out
