"""Baseline: a bare Faust agent that does nothing, on the same topics as the worker.

Run as a child process by the ingest benchmark; writes its rate as JSON to --out, timed
from the first message the agent sees to the last, so start-up and rebalance are excluded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson


def main(argv: list[str] | None = None) -> int:
    """Consume `count` messages from `topics` with a do-nothing agent and report the rate."""
    ap = argparse.ArgumentParser(prog="python -m loadtest.faust_baseline")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topics", required=True, help="comma separated")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--out", required=True, help="file for the JSON result")
    args = ap.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    import faust

    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        processing_guarantee="at_least_once",
        topic_replication_factor=1,
        broker_session_timeout=10,
        broker_rebalance_timeout=10,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    topic = app.topic(*args.topics.split(","), key_serializer="raw", value_serializer="raw")
    state: dict[str, Any] = {"n": 0, "t0": 0.0}

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for _ in stream:
            if state["n"] == 0:
                state["t0"] = time.perf_counter()
            state["n"] += 1
            if state["n"] == args.count:
                elapsed = time.perf_counter() - state["t0"]
                line = {"events": args.count, "seconds": elapsed, "rate": args.count / elapsed}
                # A file, not stdout: Faust's worker redirects stdout into its logger.
                Path(args.out).write_bytes(orjson.dumps(line))  # noqa: ASYNC240 - last act
                # The measurement is done; a clean Faust shutdown adds seconds for nothing.
                os._exit(0)

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
