"""Customer lookup and the customer page: audited first, then read, then rendered."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from redis.exceptions import RedisError

from recommender import audit
from recommender.api.routes import ID_PATTERN
from recommender.console.auth import Viewer, require_page
from recommender.console.render import page
from recommender.console.views import customer_model, utc
from recommender.customer_hints import hints_of
from recommender.engagement import codec as customer_codec
from recommender.engagement.codec import CustomerFormatError
from recommender.engagement.state import CustomerState
from recommender.params import profile_params
from recommender.ranking import RankRequest
from recommender.recommend import Recommender
from recommender.settings import Settings
from recommender.store import RedisStore

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
Analyst = Annotated[Viewer, Depends(require_page("analyst"))]
_ID = re.compile(ID_PATTERN)
DECISIONS_SHOWN = 50
RECENT_LOOKUPS_DAYS = 7.0


async def _my_lookups(request: Request, viewer: Viewer) -> list[dict[str, Any]]:
    store: RedisStore = request.app.state.store
    now = time.time()
    try:
        found = await audit.query(
            store.r,
            store.keys,
            actor=viewer.name,
            action="customer_lookup",
            since=now - RECENT_LOOKUPS_DAYS * 86_400,
            limit=50,
        )
    except (RedisError, OSError):
        return []
    seen: dict[str, float] = {}
    for e in found:
        seen.setdefault(e.subject, e.ts)
    return [{"user_id": u, "when": utc(ts)} for u, ts in list(seen.items())[:10]]


@router.get("/customers")
async def lookup(request: Request, viewer: Analyst) -> Response:
    """The lookup form; with ?user_id= it goes to that customer's page."""
    raw = (request.query_params.get("user_id") or "").strip()
    if raw and _ID.match(raw):
        return RedirectResponse(f"/console/customers/{quote(raw, safe='')}", 303)
    error = "Not a pseudonymous id (letters, digits and _ . : - only)." if raw else ""
    return page(
        request,
        "lookup.html",
        viewer,
        status=400 if error else 200,
        error=error,
        value=raw,
        recent=await _my_lookups(request, viewer),
    )


def _state(user_id: str, blob: bytes | None) -> CustomerState | None:
    if blob is None:
        return None
    try:
        return customer_codec.loads(blob)
    except CustomerFormatError as exc:
        log.warning("unreadable customer state of %s: %s", user_id, exc)
        return None


@router.get("/customers/{user_id}")
async def customer(request: Request, user_id: str, viewer: Analyst) -> Response:
    """Everything known and done for one customer; the lookup is audited before any read."""
    if not _ID.match(user_id):
        return page(
            request,
            "lookup.html",
            viewer,
            status=400,
            error="Not a pseudonymous id.",
            value=user_id[:128],
            recent=[],
        )
    s: Settings = request.app.state.settings
    store: RedisStore = request.app.state.store
    reco: Recommender | None = request.app.state.recommender
    now = time.time()
    try:
        await audit.append(
            store.r,
            store.keys,
            actor=viewer.name,
            action="customer_lookup",
            subject=user_id,
            now=now,
            keep_days=s.console_audit_days,
        )
    except (RedisError, OSError) as exc:  # no record of the access, so no access
        log.warning("console lookup of %s not audited: %s", user_id, exc)
        return page(request, "unavailable.html", viewer, status=503, user_id=user_id)
    try:
        raw_decisions: Any
        (profile, blob), raw_decisions = await asyncio.gather(
            store.read_user(user_id),
            store.r.xrevrange(store.keys.decisions(user_id), count=DECISIONS_SHOWN),
        )
    except (RedisError, OSError) as exc:
        log.warning("console lookup of %s failed: %s", user_id, exc)
        return page(request, "unavailable.html", viewer, status=503, user_id=None)
    if reco is None:
        return page(request, "unavailable.html", viewer, status=503, user_id=user_id)
    state = _state(user_id, blob)
    # The profile just read, not a second read: offers and profile show the same moment.
    hints = hints_of(state, now, s.engagement)
    try:
        recs = await reco.for_profile(profile, RankRequest(k=10), now=now, hints=hints)
    except (RedisError, OSError) as exc:  # popularity unreadable and not cached yet
        log.warning("console offers for %s failed: %s", user_id, exc)
        return page(request, "unavailable.html", viewer, status=503, user_id=None)
    model = customer_model(
        user_id,
        profile,
        state,
        recs,
        raw_decisions,
        reco.catalog.items,
        params=profile_params(s),
        policy=s.engagement,
        now=now,
    )
    return page(request, "customer.html", viewer, c=model, now=utc(now), currency=s.base_currency)
