"""`generate` subcommand: build the world, send its catalog, then stream its events."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from loadtest.produce import ProduceStats, ensure_topics, produce
from loadtest.world import World

DEFAULT_EVENTS = 100_000  # when neither --events nor --rate/--duration bound the run
TOPICS = ("clicks", "bookings", "catalog")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "generate",
        help="produce synthetic travel traffic to Kafka",
        description="Produce a deterministic synthetic catalog and click/booking stream.",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument(
        "--events",
        type=int,
        default=None,
        help=f"events to send (default: rate*duration, else until --duration, else "
        f"{DEFAULT_EVENTS:,})",
    )
    p.add_argument("--rate", type=float, default=None, help="events/s (default: unlimited)")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    p.add_argument("--bad-fraction", type=float, default=0.0, help="share of malformed records")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated-time compression (default: with --rate, match the wall clock; else 1)",
    )
    p.add_argument(
        "--catalog",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send the catalog before the events",
    )
    p.add_argument("--vectors", action="store_true", help="attach item vectors to the catalog")
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--topic-prefix", default=os.environ.get("RECO_TOPIC_PREFIX", ""))
    p.add_argument("--partitions", type=int, default=4, help="for topics created if missing")
    p.add_argument("--start-ts", type=float, default=None, help="first event time (default: now)")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def event_budget(events: int | None, rate: float | None, duration: float | None) -> int | None:
    """How many events to generate; None means unbounded (the duration stops the run)."""
    if events is not None:
        return events
    if duration is not None:
        return round(rate * duration) if rate else None
    return DEFAULT_EVENTS


def _report(label: str, stats: ProduceStats) -> None:
    topics = ", ".join(f"{t}={n:,}" for t, n in sorted(stats.per_topic.items()))
    print(
        f"{label}: {stats.total:,} records ({topics}) in {stats.elapsed_s:.2f} s "
        f"= {stats.rate:,.0f}/s"
    )


async def _run(args: argparse.Namespace) -> int:
    start_ts = time.time() if args.start_ts is None else args.start_ts
    world = World(args.seed, n_users=args.users, n_items=args.items)
    n = event_budget(args.events, args.rate, args.duration)
    speed = args.speed
    if speed is None:
        # Compress simulated time so that event timestamps advance like the wall clock.
        speed = args.rate / world.base_event_rate if args.rate else 1.0
    names = [args.topic_prefix + t for t in TOPICS]
    await ensure_topics(args.bootstrap, names, partitions=args.partitions)
    if args.catalog:
        catalog = world.catalog_records(start_ts, with_vectors=args.vectors)
        stats = await produce(
            catalog, bootstrap=args.bootstrap, topic_prefix=args.topic_prefix, progress=False
        )
        _report("catalog", stats)
    records = world.events(
        n if n is not None else sys.maxsize, start_ts, speed=speed, bad_fraction=args.bad_fraction
    )
    stats = await produce(
        records,
        bootstrap=args.bootstrap,
        topic_prefix=args.topic_prefix,
        rate=args.rate,
        progress=args.progress,
        total=n,
        duration=args.duration,
    )
    _report("events", stats)
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a CLI reports the failure instead of a traceback
        print(f"generate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
