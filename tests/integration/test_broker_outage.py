"""The broker stops answering mid-stream (process paused): the worker keeps running,
reconnects when it is back, says so in its logs and in `reco_worker_broker_up`, and applies
every event exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from loadtest.produce import ensure_topics, produce
from loadtest.stack import Stack, start_broker
from loadtest.workers import WorkerProcess, processed, wait_processed
from loadtest.world import World
from recommender.keys import Keys

pytestmark = pytest.mark.integration
PAUSE_S = float(os.environ.get("RECO_FAULT_BROKER_PAUSE_S", "10"))
N_EVENTS = 12_000


def broker_up(port: int) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "reco_worker_broker_up":
                return float(sample.value)
    return -1.0


def test_broker_pause_mid_stream_is_outlived_and_nothing_is_lost(
    namespace: dict[str, str], stack: Stack, rclient: redis.Redis, tmp_path: Path
) -> None:
    bootstrap, broker = start_broker(workdir=tmp_path)
    env = {
        **namespace,
        "KAFKA_BOOTSTRAP": bootstrap,
        "RECO_ENGAGE_ENABLED": "false",
        "RECO_BROKER_SESSION_TIMEOUT_S": "30",
    }
    prefix, keys = env["RECO_TOPIC_PREFIX"], Keys(env["RECO_KEY_PREFIX"])
    world = World(seed=31, n_users=200, n_items=300)
    now = time.time()
    catalog = world.catalog_records(updated_at=now)
    events = list(world.events(N_EVENTS, start_ts=now - 3600, speed=20.0))
    topics = [prefix + t for t in ("clicks", "bookings", "catalog")]
    asyncio.run(ensure_topics(bootstrap, topics, 4))
    asyncio.run(produce(catalog, bootstrap=bootstrap, topic_prefix=prefix, progress=False))
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    paused = False
    try:
        wait_processed(rclient, keys, len(catalog), 60, [worker])
        first = threading.Thread(
            target=lambda: asyncio.run(
                produce(
                    events[: N_EVENTS // 2],
                    bootstrap=bootstrap,
                    topic_prefix=prefix,
                    progress=False,
                )
            )
        )
        first.start()
        first.join(60)
        wait_processed(rclient, keys, len(catalog) + N_EVENTS // 4, 60, [worker])
        os.kill(broker.proc.pid, signal.SIGSTOP)
        paused = True
        time.sleep(PAUSE_S)
        assert worker.alive(), "the worker gave up while the broker was away:\n" + worker.tail()
        assert broker_up(worker.metrics_port) == 0.0  # the probe noticed
        os.kill(broker.proc.pid, signal.SIGCONT)
        paused = False
        # Events produced after the broker is back reach the same worker.
        asyncio.run(
            produce(
                events[N_EVENTS // 2 :], bootstrap=bootstrap, topic_prefix=prefix, progress=False
            )
        )
        wait_processed(rclient, keys, len(catalog) + N_EVENTS, 120, [worker])
        time.sleep(1.0)
        assert processed(rclient, keys) == len(catalog) + N_EVENTS, "an event was applied twice"
        assert worker.alive()
        deadline = time.monotonic() + 15
        while broker_up(worker.metrics_port) != 1.0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert broker_up(worker.metrics_port) == 1.0
        log = worker.log.read_text()
        assert "broker not answering" in log and "broker answering again after" in log
    finally:
        if paused:
            os.kill(broker.proc.pid, signal.SIGCONT)
        worker.stop()
        broker.stop()
