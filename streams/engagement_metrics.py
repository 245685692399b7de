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
OFFERS_HELD = Counter(
    "reco_offers_held_total",
    "Offers held for the end of the user's quiet hours (released or suppressed later), by kind.",
    ["kind"],
)


_CHILDREN: dict[tuple[str, str, str | None], Counter] = {}


def count_decision(kind: str, outcome: str, reason: str | None) -> None:
    """PushGate's on_decision hook: one count per decision, under its outcome."""
    key = (kind, outcome, reason)
    child = _CHILDREN.get(key)
    if child is None:  # labels() costs more than inc(); a fan-out counts 100,000 decisions
        if outcome == "send":
            child = OFFERS_PRODUCED.labels(kind)
        elif outcome == "hold":
            child = OFFERS_HELD.labels(kind)
        else:
            child = OFFERS_SUPPRESSED.labels(kind, reason or "unknown")
        _CHILDREN[key] = child
    child.inc()
