"""The simulation's side of a real worker: start it, feed it tick by tick, wait, scrape, stop.

Progress is read from the counters the worker commits atomically with its state: the ingest
group's ``stats`` hash and the engagement groups' ``engage:stats`` hash (records applied or
dead-lettered per topic, copies included). A tick is done when both have caught up with
everything produced so far and one whole sweep has run on the clock they moved to (the
``reco_trigger_sweep_seconds`` count of the held-offers sweep, the last of each run).
``redeliver`` makes the duplicate records a producer retry leaves behind.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from loadtest.engage_world import Event
from loadtest.produce import ensure_topics
from loadtest.stack import Stack
from loadtest.workers import WorkerProcess
from loadtest.world import Record
from recommender.keys import Keys

INGEST_TOPICS = frozenset({"clicks", "bookings", "catalog"})
ENGAGE_TOPICS = frozenset({"clicks", "bookings", "consent", "feedback", "prices"})
SWEPT = ("reactivation", "abandoned_search")  # due sets the sweeps drain
POLL_S = 0.01


class Driver:
    """One worker process on a key and topic prefix of its own."""

    def __init__(self, stack: Stack, env: dict[str, str], log: Path, *, timeout_s: float) -> None:
        self.stack = stack
        self.env = env
        self.prefix = env["RECO_TOPIC_PREFIX"]
        self.keys = Keys(env["RECO_KEY_PREFIX"])
        self.sweep_s = float(env.get("RECO_ENGAGE_SWEEP_S", "1"))
        self.timeout_s = timeout_s
        self.worker = WorkerProcess(env, log)
        self.target: Counter[str] = Counter()

    async def start(self, topics: Sequence[str], partitions: int) -> None:
        """Create the topics, start the worker and wait for its metrics endpoint."""
        await ensure_topics(self.stack.kafka_bootstrap, topics, partitions)
        self.worker.start()
        deadline = time.monotonic() + 60
        while not self._metrics_text():
            self._check(deadline, "the worker's /metrics")
            await asyncio.sleep(0.1)

    async def produce_and_wait(self, records: Sequence[Record]) -> None:
        """Produce records and wait until the worker applied them."""
        await self.produce_ticks([[(r, False) for r in records]], sweep=False)

    async def produce_ticks(
        self, ticks: Iterable[Sequence[tuple[Record, bool]]], *, sweep: bool = True
    ) -> None:
        """Each tick: produce its records (acked), wait for both pipelines to apply them, then
        (``sweep``) for one whole sweep on the clock they moved to.

        Simulated time runs thousands of times faster than the sweep interval; without the
        second wait, quiet-hour holds would be released and reminders sent hours of simulated
        time late, after offers a live worker would have decided later.
        """
        producer = AIOKafkaProducer(
            bootstrap_servers=self.stack.kafka_bootstrap, linger_ms=2, max_batch_size=256 * 1024
        )
        await producer.start()
        r = aioredis.Redis.from_url(self.stack.redis_url)
        try:
            for tick in ticks:
                futures = []
                for rec, _ in tick:
                    topic = self.prefix + rec.topic
                    futures.append(await producer.send(topic, rec.value, key=rec.key))
                    self.target[rec.topic] += 1
                await asyncio.gather(*futures)
                await self._barrier(r)
                if sweep:
                    await self._swept()
        finally:
            await producer.stop()
            await r.aclose()

    async def _barrier(self, r: aioredis.Redis) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            ingest = _counts(await r.hgetall(self.keys.stats()))
            engage = _counts(await r.hgetall(self.keys.engage_stats()))
            behind = [
                f"{group}:{t} {done[t]}/{n}"
                for t, n in self.target.items()
                for group, done, topics in (
                    ("ingest", ingest, INGEST_TOPICS),
                    ("engage", engage, ENGAGE_TOPICS),
                )
                if t in topics and done[t] < n
            ]
            if not behind:
                return
            self._check(deadline, "the worker to apply " + ", ".join(behind))
            await asyncio.sleep(POLL_S)

    async def _swept(self) -> None:
        """Wait until a sweep that started after this moment has finished."""
        deadline = time.monotonic() + self.timeout_s
        # Every run of the sweeps observes the held-offers kind once, as its last step.
        start = self._sweeps_done()
        while self._sweeps_done() < start + 2:
            self._check(deadline, "a sweep")
            await asyncio.sleep(self.sweep_s / 4)

    def _sweeps_done(self) -> int:
        for fam in text_string_to_metric_families(self._metrics_text()):
            for s in fam.samples:
                if s.name == "reco_trigger_sweep_seconds_count" and s.labels.get("kind") == "held":
                    return int(s.value)
        return 0

    async def wait_sweeps(self, clock_end: float) -> None:
        """Wait until nothing due or held at the final clock is left for the sweeps."""
        r = aioredis.Redis.from_url(self.stack.redis_url)
        deadline = time.monotonic() + self.timeout_s
        keys = [self.keys.held_offers(), *(self.keys.due(k) for k in SWEPT)]
        try:
            clean = 0
            while clean < 3:  # three clean looks a sweep interval apart: no sweep mid-step
                counts = [await r.zcount(k, "-inf", clock_end) for k in keys]
                clean = clean + 1 if not any(counts) else 0
                self._check(deadline, f"the sweeps to drain {dict(zip(keys, counts, strict=True))}")
                await asyncio.sleep(self.sweep_s)
        finally:
            await r.aclose()

    def scrape(self) -> dict[str, Any]:
        """Offer counters from the worker's /metrics."""
        out: dict[str, Any] = {
            "produced": {},
            "held": {},
            "suppressed": {},
            "suppressed_by_reason": {},
            "trigger_seconds": {},  # total time in price-drop fan-outs and sweeps, by kind
        }
        reasons: Counter[str] = Counter()
        for fam in text_string_to_metric_families(self._metrics_text()):
            for s in fam.samples:
                kind = s.labels.get("kind", "")
                if s.name == "reco_trigger_sweep_seconds_sum":
                    out["trigger_seconds"][kind] = round(s.value, 3)
                elif s.name == "reco_offers_produced_total":
                    out["produced"][kind] = int(s.value)
                elif s.name == "reco_offers_held_total":
                    out["held"][kind] = int(s.value)
                elif s.name == "reco_offers_suppressed_total":
                    out["suppressed"].setdefault(kind, {})[s.labels["reason"]] = int(s.value)
                    reasons[s.labels["reason"]] += int(s.value)
        out["suppressed_by_reason"] = dict(reasons)
        return out

    def stop(self) -> None:
        """Stop the worker and delete this run's Redis keys."""
        self.worker.stop()
        client = redis.Redis.from_url(self.stack.redis_url)
        try:
            batch: list[Any] = []
            for k in client.scan_iter(self.keys.all_pattern(), count=2000):
                batch.append(k)
                if len(batch) >= 2000:
                    client.delete(*batch)
                    batch.clear()
            if batch:
                client.delete(*batch)
        finally:
            client.close()

    def _metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.worker.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def _check(self, deadline: float, what: str) -> None:
        if not self.worker.alive():
            raise RuntimeError(f"worker exited while waiting for {what}:\n{self.worker.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}\n{self.worker.tail()}")


def _counts(raw: dict[Any, Any]) -> Counter[str]:
    """Topic -> records applied or dead-lettered, from a stats hash."""
    out: Counter[str] = Counter()
    for k, v in raw.items():
        name = k.decode() if isinstance(k, bytes) else str(k)
        what, _, topic = name.partition(":")
        if what in ("applied", "dead"):
            out[topic] += int(v)
    return out


def redeliver(events: Sequence[Event], share: float, seed: int) -> list[tuple[Event, bool]]:
    """Events with ``share`` of them sent a second time a few records later (a producer retry).

    The copy is byte-identical and lands in the same partition after the original, as when
    a producer retries a batch the broker had in fact written. Returns (event, is_copy).
    """
    r = random.Random(f"redeliver:{seed}")
    out: list[tuple[Event, bool]] = []
    later: list[tuple[int, Event]] = []
    for n, e in enumerate(events):
        out.append((e, False))
        while later and later[0][0] <= n:
            out.append((later.pop(0)[1], True))
        if r.random() < share:
            later.append((n + r.randint(0, 20), e))
            later.sort(key=lambda x: x[0])
    out.extend((e, True) for _, e in later)
    return out
