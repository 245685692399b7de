"""The soak's verdict from its samples: memory slopes, lag over time, errors (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

WARMUP_S = 60.0
# Lag is bounded when the last third of the run never lags more than twice the first third's
# worst, or than this many seconds of traffic (batches and sweeps make it jitter).
LAG_SLACK_S = 10.0


def slope_mb_per_10min(ts: Sequence[float], mb: Sequence[float]) -> float:
    """Least-squares growth of a memory series, MB per 10 minutes (0 for < 2 points)."""
    if len(ts) < 2:
        return 0.0
    a = np.polyfit(np.asarray(ts) - ts[0], np.asarray(mb), 1)[0]
    return float(a * 600.0)


def lag_summary(ts: Sequence[float], lags: Sequence[float], rate: float) -> dict[str, Any]:
    """Worst lag per third of the run, its least-squares trend and whether it stayed bounded."""
    if not lags:
        return {"max": 0.0, "last": 0.0, "max_by_third": [], "growth_per_s": 0.0, "bounded": True}
    n = len(lags)
    thirds = [lags[i * n // 3 : (i + 1) * n // 3] or lags for i in range(3)]
    worst = [max(t) for t in thirds]
    growth = float(np.polyfit(np.asarray(ts), np.asarray(lags), 1)[0]) if n > 1 else 0.0
    return {
        "max": max(lags),
        "last": lags[-1],
        "max_by_third": worst,
        "growth_per_s": round(growth, 1),
        "bounded": worst[2] <= max(2.0 * worst[0], rate * LAG_SLACK_S),
    }


def summarise(samples: Sequence[dict[str, float]], rate: float) -> dict[str, Any]:
    """Memory slopes after the warm-up, lag per consumer group, dead letters."""
    steady = [x for x in samples if x["t_s"] >= WARMUP_S] or list(samples)
    ts = [x["t_s"] for x in steady]

    def growth(field: str) -> float:
        return round(slope_mb_per_10min(ts, [x[field] for x in steady]), 1)

    def first_last(field: str) -> list[float] | None:
        return [steady[0][field], steady[-1][field]] if steady else None

    all_ts = [x["t_s"] for x in samples]
    return {
        "warmup_s": WARMUP_S,
        "worker_rss_mb_first_last": first_last("worker_rss_mb"),
        "worker_rss_growth_mb_per_10min": growth("worker_rss_mb"),
        "api_rss_mb_first_last": first_last("api_rss_mb"),
        "api_rss_growth_mb_per_10min": growth("api_rss_mb"),
        "redis_mb_first_last": first_last("redis_mb"),
        "redis_growth_mb_per_10min": growth("redis_mb"),
        "broker_rss_mb_first_last": first_last("broker_rss_mb"),
        "broker_rss_growth_mb_per_10min": growth("broker_rss_mb"),
        "lag_ingest": lag_summary(all_ts, [x["lag_ingest"] for x in samples], rate),
        "lag_engage": lag_summary(all_ts, [x["lag_engage"] for x in samples], rate),
        "dead_letters": samples[-1]["dead_letters"] if samples else 0,
    }
