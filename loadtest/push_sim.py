"""`python -m loadtest push-sim`: read the offers topic as the push service would, and audit it.

It decodes each message with the published contract and checks the promises made to the
push service (offer_audit.py). With ``--truth`` (the ground-truth file ``simulate`` writes)
it also checks consent, daily caps, quiet hours and complaint holds per user; without it,
it says which of those it could not check. Exit code 1 when any invariant is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from loadtest import offer_truth
from loadtest.offer_audit import Audit, RawOffer, audit
from recommender.engagement.config import EngagementPolicy
from recommender.settings import load_settings


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `push-sim` on the loadtest CLI."""
    p = sub.add_parser(
        "push-sim",
        help="consume the offers topic like the push service and check its invariants",
        description="Consume offers, decode them with the schema and check the invariants "
        "(consent, daily cap, quiet hours, duplicates, expiry); exit 1 on any violation.",
    )
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--topic-prefix", default=os.environ.get("RECO_TOPIC_PREFIX", ""))
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="read the whole topic, not only new offers (on the dev broker, whose end offsets "
        "can be short, 'new' may include the last few earlier offers)",
    )
    p.add_argument("--idle-s", type=float, default=5.0, help="stop after this long without offers")
    p.add_argument(
        "--truth",
        type=Path,
        help="ground truth JSON lines written by `simulate` (consent with time zones, complaints)",
    )
    p.add_argument("--json", type=Path, help="also write the report to this file")
    p.set_defaults(fn=run)


async def consume(
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool,
    idle_s: float,
    on_message: Callable[[RawOffer], None] | None = None,
) -> list[RawOffer]:
    """Every record until the topic has been idle for ``idle_s``; no consumer group is used."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,  # a reader, not a member: no rebalance to wait for, nothing committed
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        max_poll_records=5000,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    out: list[RawOffer] = []
    try:
        last = time.monotonic()
        while topic not in await consumer.topics():  # the worker creates it on start
            if time.monotonic() - last > idle_s:
                return out
            await asyncio.sleep(0.2)
        consumer.subscribe([topic])
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                for m in msgs:
                    rec = RawOffer(m.key, m.value, tp.partition, m.offset)
                    out.append(rec)
                    if on_message is not None:
                        on_message(rec)
                if msgs:
                    last = time.monotonic()
    finally:
        await consumer.stop()
    return out


def report(result: Audit, *, topic: str, truth: Path | None, elapsed_s: float) -> dict[str, Any]:
    """The audit's summary plus where it came from."""
    return {
        "topic": topic,
        "truth": str(truth) if truth else None,
        "seconds": round(elapsed_s, 3),
        **result.summary(),
        "verdict": result.verdict(),
    }


def print_report(doc: dict[str, Any]) -> None:
    """Counts for a human, the verdict line last."""
    print(f"offers topic {doc['topic']}: {doc['messages']} messages, {doc['offers']} offers")
    for kind, n in doc["offers_by_kind"].items():
        print(f"  offers   {kind:<18} {n}")
    for kind, n in doc["violations_by_kind"].items():
        print(f"  violated {kind:<18} {n}")
    for kind, examples in doc["examples"].items():
        for e in examples[:2]:
            print(f"  e.g. {kind}: user {e['user_id']} offer {e['offer_id']}: {e['detail']}")
    print(doc["verdict"], flush=True)


def policy_for(truth: offer_truth.GroundTruth | None) -> EngagementPolicy:
    """The simulation's policy when its truth file has one, else this environment's."""
    if truth is not None and truth.policy is not None:
        return truth.policy
    return load_settings().engagement


def run(args: argparse.Namespace) -> int:
    """Consume, audit, print; 1 when an invariant is broken."""
    truth = offer_truth.load(args.truth) if args.truth else None
    policy = policy_for(truth)
    topic = f"{args.topic_prefix}offers"
    t0 = time.monotonic()
    msgs = asyncio.run(
        consume(args.bootstrap, topic, from_beginning=args.from_beginning, idle_s=args.idle_s)
    )
    elapsed = time.monotonic() - t0
    doc = report(audit(msgs, policy, truth), topic=topic, truth=args.truth, elapsed_s=elapsed)
    print_report(doc)
    if args.json:
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return 0 if doc["result"] == "PASS" else 1
