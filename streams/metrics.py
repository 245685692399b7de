"""Prometheus metrics of a worker process (`reco_worker_*`, seconds and totals)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# Imported for its side effect: the offer and trigger metrics are on every worker's /metrics
# from the start, before the first offer, so dashboards and alerts find them.
import streams.engagement_metrics  # noqa: F401

log = logging.getLogger(__name__)

_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_FRESH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

EVENTS_CONSUMED = Counter(
    "reco_worker_events_consumed_total", "Records read from the broker.", ["topic"]
)
EVENTS_APPLIED = Counter(
    "reco_worker_events_applied_total", "Events whose effect is committed to Redis.", ["topic"]
)
EVENTS_DEAD = Counter(
    "reco_worker_events_dead_lettered_total",
    "Events sent to the dead-letter topic, by reason code.",
    ["topic", "reason"],
)
EVENTS_SKIPPED = Counter(
    "reco_worker_events_skipped_total",
    "Redelivered events skipped because Redis already holds their effect.",
)
UNKNOWN_ITEMS = Counter(
    "reco_worker_unknown_item_events_total", "Events about items the catalog does not know yet."
)
BATCH_SIZE = Histogram(
    "reco_worker_batch_size_events", "Records per batch.", buckets=_BATCH_BUCKETS
)
BATCH_SECONDS = Histogram(
    "reco_worker_batch_seconds", "Time to apply one batch, fetch excluded.", buckets=_FAST_BUCKETS
)
REDIS_SECONDS = Histogram(
    "reco_worker_redis_seconds", "Redis call latency.", ["op"], buckets=_FAST_BUCKETS
)
REDIS_ERRORS = Counter("reco_worker_redis_errors_total", "Failed Redis calls (retried).", ["op"])
CONFLICTS = Counter(
    "reco_worker_commit_conflicts_total", "Batches reloaded because another writer won."
)
FRESHNESS = Histogram(
    "reco_worker_event_age_at_commit_seconds",
    "Event time to commit in Redis, for the newest event of each batch.",
    buckets=_FRESH_BUCKETS,
)
BROKER_UP = Gauge(
    "reco_worker_broker_up",
    "1 while the broker answers the worker's metadata probe, 0 while it does not.",
)
LAST_COMMIT = Gauge(
    "reco_worker_last_commit_timestamp_seconds", "Unix time of the last batch committed."
)
LAG = Gauge(
    "reco_worker_consumer_lag_events",
    "High watermark minus position per partition, where the broker reports it.",
    ["topic", "partition"],
)
ITEM_CACHE = Counter(
    "reco_worker_item_cache_lookups_total", "Catalog item lookups by result.", ["result"]
)


def serve(port: int) -> None:
    """Expose /metrics on port (0 disables)."""
    if port:
        start_http_server(port)
        log.info("metrics on :%d/metrics", port)
