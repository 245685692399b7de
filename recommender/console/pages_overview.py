"""The live overview: a page, and the JSON it polls every 2 s."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from redis.exceptions import RedisError

from recommender.console.auth import Viewer, require_json, require_page
from recommender.console.decision_sample import WINDOW_S, DecisionSampler
from recommender.console.live import (
    Sample,
    counters,
    offer_counters,
    offers_from_decisions,
    per_minute,
    topic_table,
)
from recommender.console.render import page
from recommender.console.state import console_state
from recommender.recommend import Recommender
from recommender.store import RedisStore

router = APIRouter(prefix="/console", include_in_schema=False)
POLL_S = 2.0


@router.get("/overview")
async def overview_page(
    request: Request, viewer: Annotated[Viewer, Depends(require_page("analyst"))]
) -> Response:
    """The page; its script fills it from /console/api/overview."""
    return page(request, "overview.html", viewer, poll_ms=int(POLL_S * 1000))


def _index(reco: Recommender | None, now: float) -> dict[str, Any]:
    if reco is None:
        return {"loaded": False}
    index = reco.catalog.index
    return {
        "loaded": reco.catalog.loaded,
        "version": index.version,
        "size": index.size,
        "structure": index.structure,
        "age_s": round(max(now - index.built_at, 0.0), 1),
        "catalog_items": len(reco.catalog.items),
        "model_version": reco.model_version(),
    }


@router.get("/api/overview")
async def overview_json(
    request: Request, viewer: Annotated[Viewer, Depends(require_json("analyst"))]
) -> dict[str, Any]:
    """Rates by topic, dead letters, offer outcomes, index and model, plus recent history."""
    store: RedisStore = request.app.state.store
    state = console_state(request)
    now = time.time()
    try:
        pipe = store.r.pipeline(transaction=False)
        pipe.hgetall(store.keys.stats())
        pipe.hgetall(store.keys.engage_stats())
        ingest_raw, engage_raw = await pipe.execute()
    except (RedisError, OSError) as exc:
        raise HTTPException(503, f"Redis unavailable: {exc}") from None
    cur = Sample(now, counters(ingest_raw), counters(engage_raw))
    prev = state.history.add(cur)
    rows = topic_table(prev, cur)
    offers = offer_counters(cur.engage)
    series = state.history.series()
    if offers is not None:
        source = "worker counters (since the counters began)"
        offer_series = {k: series[k] for k in ("t", "sent", "held", "suppressed")}
        offer_unit = "per s"
    else:
        if state.sampler is None:
            state.sampler = DecisionSampler(store.r, store.keys)
        try:
            sampled = await state.sampler.sample(now)
        except (RedisError, OSError) as exc:
            raise HTTPException(503, f"Redis unavailable: {exc}") from None
        offers = offers_from_decisions(sampled.entries)
        source = (
            f"sample: last {WINDOW_S / 3600:.0f} h of {sampled.customers} customers' decision "
            "logs (the worker keeps no offer totals yet)"
        )
        offer_series = per_minute(sampled.entries, now=now)
        offer_unit = "per min"
    last_commit = cur.ingest.get("last_commit_ts")
    return {
        "now": now,
        "topics": rows,
        "dead_total": sum(r["dead"] for r in rows),
        "events_per_s": sum(r["ingest_per_s"] or 0.0 for r in rows),
        "last_commit_age_s": round(now - last_commit, 1) if last_commit else None,
        "offers": {**offers.as_json(), "source": source},
        "offer_series": {**offer_series, "unit": offer_unit},
        "event_series": {"t": series["t"], "topics": series["topics"]},
        "index": _index(request.app.state.recommender, now),
    }
