"""What the dashboard shows: its sections and panels, each with its PromQL and why it is there.

Plain data; `ops.grafana.dashboard` turns it into grafanalib objects and JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

API_LATENCY_OBJECTIVE_S = 0.010  # DESIGN.md: p99 < 10 ms for the recommendation API
RATE = "$__rate_interval"  # Grafana picks a window of at least four scrape intervals
V1 = 'route=~"/v1/.*"'  # product routes; /healthz, /readyz and /metrics are not the product
NOT_OPS = 'route!~"/healthz|/readyz|/metrics"'


@dataclass(frozen=True)
class Q:
    """One PromQL query of a panel and the legend of its series."""

    expr: str
    legend: str


@dataclass(frozen=True)
class P:
    """A panel: title, what it tells the reader, queries, unit; kind 'stat' for numbers."""

    title: str
    description: str
    queries: Sequence[Q]
    unit: str = "short"
    axis: str = ""
    kind: str = "timeseries"
    thresholds: Sequence[dict[str, Any]] = field(default_factory=tuple)


def quantiles(
    metric: str, by: str, selector: str = "", qs: Sequence[float] = (0.5, 0.99)
) -> list[Q]:
    """p50/p99 (etc.) of a histogram, per label `by`."""
    sel = f"{{{selector}}}" if selector else ""
    return [
        Q(
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{sel}[{RATE}])))",
            f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in qs
    ]


def rate_by(metric: str, by: str, legend: str, selector: str = "") -> Q:
    """Per-second rate of a counter, summed by the labels in `by`."""
    sel = f"{{{selector}}}" if selector else ""
    return Q(f"sum by ({by}) (rate({metric}{sel}[{RATE}]))", legend)


_REQUESTS = f"sum by (route) (rate(reco_api_requests_total{{{NOT_OPS}}}[{RATE}]))"
_ERRORS = f'sum by (route) (rate(reco_api_requests_total{{status=~"5..",{NOT_OPS}}}[{RATE}]))'

SECTIONS: list[tuple[str, list[P]]] = [
    (
        "Ingest (workers)",
        [
            P(
                "Ingest rate by topic",
                "Records read from Kafka and events whose effect is committed to Redis.",
                [
                    rate_by("reco_worker_events_consumed_total", "topic", "consumed {{topic}}"),
                    rate_by("reco_worker_events_applied_total", "topic", "applied {{topic}}"),
                ],
                axis="events/s",
            ),
            P(
                "Consumer lag",
                "High watermark minus position, summed over partitions. The embedded dev "
                "broker (Tansu) reports wrong end offsets; trust this on Apache Kafka only.",
                [
                    Q(
                        "sum by (topic) (max by (topic, partition) "
                        "(reco_worker_consumer_lag_events))",
                        "{{topic}}",
                    )
                ],
                axis="events",
            ),
            P(
                "Dead letters by reason",
                "Malformed events sent to the dead-letter topic with their reason code.",
                [
                    rate_by(
                        "reco_worker_events_dead_lettered_total",
                        "topic, reason",
                        "{{topic}}: {{reason}}",
                    )
                ],
                axis="events/s",
            ),
        ],
    ),
    (
        "State: freshness and Redis",
        [
            P(
                "Freshness: event age at commit",
                "Event time until its effect is committed in Redis, newest event of each "
                "batch. Includes the tracker's delay before Kafka.",
                quantiles("reco_worker_event_age_at_commit_seconds", "job"),
                unit="s",
            ),
            P(
                "Redis latency by operation (workers)",
                "Worker Redis calls: load is one pipelined read per batch, commit the atomic "
                "Lua script.",
                quantiles("reco_worker_redis_seconds", "op"),
                unit="s",
            ),
            P(
                "Redis errors by operation (workers)",
                "Failed Redis calls; the worker retries for RECO_REDIS_RETRY_S, then stops.",
                [rate_by("reco_worker_redis_errors_total", "op", "{{op}}")],
                axis="errors/s",
            ),
        ],
    ),
    (
        "Recommendation API",
        [
            P(
                "API latency p50 / p99 by route",
                "Server-side latency of the product routes; the red line is the 10 ms p99 "
                "objective.",
                quantiles("reco_api_request_seconds", "route", V1),
                unit="s",
                thresholds=(
                    {"color": "green", "value": None},
                    {"color": "red", "value": API_LATENCY_OBJECTIVE_S},
                ),
            ),
            P(
                "API requests by route and status",
                "Requests per second, health checks and scrapes left out.",
                [
                    rate_by(
                        "reco_api_requests_total",
                        "route, status",
                        "{{route}} {{status}}",
                        NOT_OPS,
                    )
                ],
                axis="req/s",
            ),
            P(
                "API error rate (5xx)",
                "Share of requests answered 5xx, by route (0 while a route has traffic and "
                "no errors). /readyz's 503 is a signal, not an error, and is left out.",
                [Q(f"({_ERRORS} or {_REQUESTS} * 0) / {_REQUESTS}", "{{route}}")],
                unit="percentunit",
            ),
        ],
    ),
    (
        "API index and model",
        [
            P(
                "Index size",
                "Items in each API process's ANN index and in its catalog view.",
                [
                    Q("reco_api_index_items", "indexed {{instance}}"),
                    Q("reco_api_catalog_items", "catalog {{instance}}"),
                ],
                axis="items",
            ),
            P(
                "Index age and catalog lag",
                "Age: since the index structure was built (start or rebuild). Behind: age of "
                "the oldest catalog change in Redis not yet applied (0 = in step).",
                [
                    Q("reco_api_index_age_seconds", "age {{instance}}"),
                    Q("reco_api_catalog_behind_seconds", "behind {{instance}}"),
                ],
                unit="s",
            ),
            P(
                "Index version and model",
                "Index change counter per process (grows with every catalog update) and the "
                "model version each process serves.",
                [
                    Q("reco_api_index_version", "index {{instance}}"),
                    Q("count by (version) (reco_api_model_info)", "model {{version}}"),
                ],
                kind="stat",
            ),
        ],
    ),
    (
        "Engagement: offers and triggers",
        [
            P(
                "Offers produced by kind",
                "Offers sent to the offers topic for the push service.",
                [rate_by("reco_offers_produced_total", "kind", "{{kind}}")],
                axis="offers/s",
            ),
            P(
                "Offers suppressed by reason",
                "Offers a trigger found but held back: consent, caps, quiet hours, duplicates.",
                [rate_by("reco_offers_suppressed_total", "kind, reason", "{{kind}}: {{reason}}")],
                axis="offers/s",
            ),
            P(
                "Trigger sweep duration",
                "Time of one trigger sweep (reactivation, price-drop watchers), by kind.",
                quantiles("reco_trigger_sweep_seconds", "kind"),
                unit="s",
            ),
        ],
    ),
]
