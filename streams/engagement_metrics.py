"""Prometheus metrics of the engagement side of a worker: offers and trigger sweeps.

Declared here, apart from the ingest metrics in `streams.metrics`, so the trigger code can
count what it emits and what its policies hold back. The dashboard (ops/grafana) and the
alert rules (ops/prometheus) read these exact names; `tests/ops/test_metric_names.py`
fails when one of them disappears from a worker's /metrics.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# A sweep walks inactive users or a price drop's watchers: milliseconds to minutes.
_SWEEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

OFFERS_PRODUCED = Counter(
    "reco_offers_produced_total",
    "Offers sent to the offers topic, by kind (price_drop, reactivation, cross_sell, ...).",
    ["kind"],
)
OFFERS_SUPPRESSED = Counter(
    "reco_offers_suppressed_total",
    "Offers a trigger found but did not send, by kind and reason (consent, cap, quiet hours, "
    "duplicate, ...).",
    ["kind", "reason"],
)
TRIGGER_SWEEP_SECONDS = Histogram(
    "reco_trigger_sweep_seconds",
    "Time of one trigger sweep (e.g. reactivation over inactive users), by offer kind.",
    ["kind"],
    buckets=_SWEEP_BUCKETS,
)
