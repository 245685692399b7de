"""`train` subcommand: read events (Kafka) or sessions (a file), fit, save and publish a model.

Kafka is read without a consumer group (partitions assigned by hand, from the beginning, no
commits), so training never disturbs the workers' group. A partition counts as fully read when
its position reached the end offset reported at the start and it then either delivered a
record produced after the trainer started (live traffic) or nothing for ``train_idle_s``: the
dev broker (Tansu) reports end offsets too low when a produce batch held several records.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from recommender.embeddings import EmbeddingParams, WeightedSession
from recommender.errors import ConfigError
from recommender.kafka_conn import kafka_options
from recommender.keys import Keys
from recommender.model import Model, prune, publish, save
from recommender.redis_conn import redis_client
from recommender.settings import Settings, load_settings
from recommender.train import (
    BookingEvent,
    ClickEvent,
    TrainParams,
    fit,
    fit_sessions,
    parse_booking,
    parse_click,
)

CATALOG_CHUNK = 1000  # item keys per MGET


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `train` on a CLI."""
    p = sub.add_parser(
        "train",
        help="train item vectors and next-item tables, save and publish them",
        description="Fit a model on all events in Kafka (or on a sessions file) and publish it.",
    )
    p.add_argument(
        "--from",
        dest="source",
        choices=("kafka", "sessions"),
        default="kafka",
        help="kafka: the clicks and bookings topics from the beginning; sessions: --sessions-file",
    )
    p.add_argument(
        "--sessions-file",
        type=Path,
        help='JSONL, one {"session": [item, ...], "weights": [w, ...]} per line (weights optional)',
    )
    p.add_argument("--out", type=Path, help="model root directory (default RECO_MODEL_DIR)")
    p.add_argument("--timeout", type=float, help="overrides RECO_TRAIN_TIMEOUT_S")
    p.add_argument("--no-publish", action="store_true", help="save only; leave Redis untouched")
    p.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    """Train, save, publish and print a JSON summary; 2 on bad settings, 1 on failures."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.source == "sessions" and args.sessions_file is None:
        print("error: --from sessions needs --sessions-file", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(_train(args, settings))
    except (KafkaError, RedisError, OSError, ValueError) as exc:
        print(f"error: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0 if summary.get("version") else 1


def params_from(settings: Settings) -> TrainParams:
    """Training constants from the settings."""
    return TrainParams(
        embedding=EmbeddingParams(
            dim=settings.vector_dim,
            window=settings.train_cooc_window,
            min_count=settings.train_min_count,
            alpha=settings.train_alpha,
        ),
        trip_days=settings.train_trip_days,
        window_days=settings.train_window_days,
        top_n=settings.model_top_n,
    )


async def _train(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    t0 = time.monotonic()
    params = params_from(settings)
    keys = Keys(settings.key_prefix)
    summary: dict[str, Any] = {"source": args.source}
    client = redis_client(settings)
    try:
        if args.source == "kafka":
            events = _Collector(settings.fx_rates)
            timeout = args.timeout or settings.train_timeout_s
            summary["read"] = await read_kafka(settings, events.add, timeout, settings.train_idle_s)
            summary["read"]["skipped"] = events.skipped  # searches and malformed records
            catalog = await read_catalog(client, keys)
            summary["catalog_items"] = len(catalog)
            t1 = time.monotonic()
            if not events.clicks and not events.bookings and not catalog:
                return {**summary, "version": None, "error": "no events and no catalog"}
            model = fit(events.clicks, events.bookings, catalog, params, now=time.time())
        else:
            items, weighted = read_sessions_file(args.sessions_file)
            t1 = time.monotonic()
            if not items:
                return {**summary, "version": None, "error": "no sessions in the file"}
            model = fit_sessions(items, weighted, {}, params, now=time.time())
        t2 = time.monotonic()
        root = args.out or Path(settings.model_dir)
        path = save(model, root)
        pruned = prune(root, settings.model_keep, protect=[model.version])
        if not args.no_publish:
            await publish(root, model.version, client, keys)
    finally:
        await client.aclose()
    t3 = time.monotonic()
    return {
        **summary,
        **_describe(model),
        "path": str(path),
        "published": not args.no_publish,
        "pruned": pruned,
        "seconds": {
            "read": round(t1 - t0, 3),
            "fit": round(t2 - t1, 3),
            "save": round(t3 - t2, 3),
            "total": round(t3 - t0, 3),
        },
    }


class _Collector:
    """Parses records as they arrive, keeping only what training needs."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        self.rates = rates
        self.clicks: list[ClickEvent] = []
        self.bookings: list[BookingEvent] = []
        self.skipped = 0

    def add(self, topic: str, raw: bytes | None) -> None:
        if topic == "clicks":
            click = parse_click(raw or b"", self.rates)
            if click is not None:
                self.clicks.append(click)
                return
        else:
            booking = parse_booking(raw or b"")
            if booking is not None:
                self.bookings.append(booking)
                return
        self.skipped += 1


def _describe(model: Model) -> dict[str, Any]:
    s = model.stats
    return {
        "version": model.version,
        "items": len(model.ids),
        "sessions": s.get("sessions"),
        "events": {k: s[k] for k in ("clicks", "bookings") if k in s},
        "vectors": s.get("vectors"),
    }


async def read_kafka(
    settings: Settings,
    on_record: Callable[[str, bytes | None], None],
    timeout_s: float,
    idle_s: float,
) -> dict[str, Any]:
    """Feed every record of the clicks and bookings topics to `on_record(logical, value)`."""
    topics = {settings.topic(t): t for t in ("clicks", "bookings")}
    consumer = AIOKafkaConsumer(
        **kafka_options(settings),
        group_id=None,
        client_id=f"reco-train-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    try:
        await consumer.start()  # inside: stop() also cleans up after a failed start
        known = await consumer.topics()
        parts = [
            TopicPartition(t, p)
            for t in topics
            if t in known
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not parts:
            return {"records": 0, "partitions": 0, "complete": True, "missing": sorted(topics)}
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        start_ms = time.time() * 1000.0
        now = time.monotonic()
        deadline, last_seen = now + timeout_s, dict.fromkeys(parts, now)
        live = dict.fromkeys(parts, False)
        records, complete = 0, True
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            now = time.monotonic()
            for tp, msgs in batch.items():
                logical = topics[tp.topic]
                for m in msgs:
                    on_record(logical, m.value)
                records += len(msgs)
                if msgs:
                    last_seen[tp] = now
                    live[tp] = live[tp] or msgs[-1].timestamp >= start_ms
            done = True
            for tp in parts:
                quiet = live[tp] or now - last_seen[tp] >= idle_s
                if not quiet or await consumer.position(tp) < ends[tp]:
                    done = False
                    break
            if done:
                break
            if now >= deadline:
                complete = False
                print(f"warning: read timeout after {timeout_s:.0f} s", file=sys.stderr)
                break
    finally:
        await consumer.stop()
    return {"records": records, "partitions": len(parts), "complete": complete}


async def read_catalog(client: aioredis.Redis, keys: Keys) -> dict[str, dict[str, Any]]:
    """Metadata of every catalog item (the items set, then their JSON in MGET chunks)."""
    ids = sorted(
        m.decode() if isinstance(m, bytes) else str(m) for m in await client.smembers(keys.items())
    )
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), CATALOG_CHUNK):
        chunk = ids[start : start + CATALOG_CHUNK]
        for item_id, raw in zip(
            chunk, await client.mget([keys.item(i) for i in chunk]), strict=True
        ):
            if raw is None:
                continue
            try:
                meta = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(meta, dict):
                out[item_id] = meta
    return out


def read_sessions_file(path: Path) -> tuple[list[list[str]], list[WeightedSession]]:
    """Sessions from JSONL lines {"session": [...], "weights": [...]} (weights default to 1)."""
    items: list[list[str]] = []
    weighted: list[WeightedSession] = []
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            doc = orjson.loads(line)
            session = [str(i) for i in doc.get("session", [])] if isinstance(doc, dict) else None
            if session is None:
                raise ValueError(f"{path}:{n}: expected an object with a 'session' list")
            weights = [float(w) for w in doc.get("weights") or [1.0] * len(session)]
            if len(weights) != len(session):
                raise ValueError(f"{path}:{n}: {len(weights)} weights for {len(session)} items")
            if session:
                items.append(session)
                weighted.append(WeightedSession(session, weights))
    return items, weighted
