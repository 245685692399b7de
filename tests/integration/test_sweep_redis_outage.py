"""Redis stops answering while sweeps are due: the worker rides the outage out and sweeps
every due user once when Redis is back.

A real worker process, the real broker and a private redis-server that the test pauses
(SIGSTOP, as a network partition looks to a client) for longer than the client's socket
timeout, so the worker's sweep calls fail rather than merely wait. The users are made due
while a lock the test holds keeps the worker's abandoned-search sweep off them; the lock
expires while Redis is paused, so the sweep that reaches them is the one retried through
the outage.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from loadtest.stack import Stack, start_redis
from loadtest.workers import WorkerProcess
from recommender.keys import Keys
from recommender.popularity import ALL_MARKETS, day_of
from streams.engage_index import ABANDONED_SEARCH
from tests.integration.test_engage_pipeline import click, consent, settings_of
from tests.integration.test_engage_worker import drain, produce, wait_for

pytestmark = pytest.mark.integration

USERS = [f"u{i:02d}" for i in range(40)]
PAUSE_S = 6.5  # longer than the worker's 5 s Redis socket timeout, well inside its budget
HOUR = 3600.0


def redis_errors(port: int, op: str) -> float:
    """reco_worker_redis_errors_total{op} scraped from the worker."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == "reco_worker_redis_errors_total" and s.labels.get("op") == op:
                return s.value
    return 0.0


def test_a_redis_outage_during_due_sweeps_is_ridden_out_and_each_user_swept_once(
    namespace: dict[str, str], stack: Stack, tmp_path: Path
) -> None:
    redis_url, redis_svc = start_redis(workdir=tmp_path)
    env = {
        **namespace,
        "REDIS_URL": redis_url,
        "RECO_REDIS_RETRY_S": "30",
        "RECO_ENGAGE_SWEEP_S": "0.3",
        "RECO_BROKER_REBALANCE_TIMEOUT_S": "4",
        "RECO_ENGAGEMENT__QUIET_START": "00:00",  # no quiet hours: every offer is sent now
        "RECO_ENGAGEMENT__QUIET_END": "00:00",
    }
    s = settings_of({**namespace, "REDIS_URL": redis_url})
    keys = Keys(s.key_prefix)
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    lock = keys.sweep_lock(ABANDONED_SEARCH)
    client.set(lock, "the-test", px=120_000)  # no abandoned-search sweep until it expires
    now = time.time()
    meta = {"item_type": "hotel", "destination": "paris", "price": 100.0, "currency": "CNY"}
    for n, item in enumerate(("h1", "h2", "h3")):
        client.set(keys.item(item), orjson.dumps({**meta, "item_id": item, "active": True}))
        for day in {day_of(now), day_of(now + 120)}:
            for market in ("paris", ALL_MARKETS):
                client.zadd(keys.popularity(day, market), {item: 10.0 - n})
    searched = now - 25 * HOUR  # a day ago and more: abandoned, due for a reminder
    events = [consent(u, searched - HOUR) for u in USERS]
    events += [click(u, searched, action="search", destination="paris") for u in USERS]
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    paused = False
    try:
        asyncio.run(produce(s.kafka_bootstrap, s.topic_prefix, list(events)))
        wait_for(
            lambda: client.zcard(keys.due(ABANDONED_SEARCH)) == len(USERS),
            60,
            worker,
            "the due users",
        )
        client.set(lock, "the-test", px=1000)  # expires while Redis is paused
        os.kill(redis_svc.proc.pid, signal.SIGSTOP)
        paused = True
        time.sleep(PAUSE_S)
        os.kill(redis_svc.proc.pid, signal.SIGCONT)
        paused = False
        offers = asyncio.run(drain(s.kafka_bootstrap, s.topic("offers"), len(USERS), 20))
        assert worker.alive(), "the worker stopped on the outage:\n" + worker.tail()
        wait_for(lambda: client.zcard(keys.due(ABANDONED_SEARCH)) == 0, 10, worker, "no one due")
        retried = redis_errors(worker.metrics_port, "sweeps")
    finally:
        if paused:
            os.kill(redis_svc.proc.pid, signal.SIGCONT)
        worker.stop()
        client.close()
        redis_svc.stop()
    # Every due user swept exactly once: one reminder each, no offer id twice.
    assert Counter(o["user_id"] for o in offers) == Counter(USERS), offers
    assert {o["kind"] for o in offers} == {ABANDONED_SEARCH}
    assert len({o["offer_id"] for o in offers}) == len(USERS)
    assert retried > 0  # the sweep really met the outage and retried
    log = worker.log.read_text()
    assert "stopping the worker" not in log
    # The outage is logged once when it begins and once when it ends, not per attempt.
    assert log.count("Redis unavailable in sweeps") == 1, log
    assert log.count("Redis answering again in sweeps") == 1, log
