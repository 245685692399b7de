"""GET /v1/admin/audit: the audit trail by user and time (admin scope).

The same query as the console's audit page (recommender/audit_trail.py): admin actions
about the user merged with the user's offer decisions, newest first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, BeforeValidator, Field
from redis.exceptions import RedisError

from recommender import audit_trail
from recommender.api.auth import require
from recommender.api.routes import ID_PATTERN
from recommender.settings import Settings
from recommender.store import RedisStore

MAX_LIMIT = 1000
# RFC 3339 as published in the schema (format: date-time): an offset is required, so a time
# is never read in the wrong zone; pydantic alone would also take dates and Unix numbers.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(v: object) -> object:
    if not isinstance(v, str) or not _RFC3339.match(v):
        raise ValueError("must be a date-time with an offset, e.g. 2026-12-05T08:00:00Z")
    return v


Instant = Annotated[datetime, BeforeValidator(_rfc3339)]


class OfferDecision(BaseModel):
    """What the push gate decided about one offer."""

    offer_id: str
    kind: str = Field(description="Offer kind, e.g. price_drop.")
    item: str = Field(description="Item id, 'dest:<slug>' or 'reactivation'.")
    outcome: str = Field(description="send, hold or suppress.")
    reason: str = Field(description="Why it was held or suppressed (empty when sent).")
    channel: str


class TrailItem(BaseModel):
    """One audited event."""

    at: float = Field(description="When it happened, Unix seconds.")
    time: str = Field(description="The same instant, ISO 8601 UTC.")
    source: Literal["admin", "offer"]
    action: str = Field(
        description="consent_change, erasure, customer_lookup, kill_switch, ... or "
        "offer_sent, offer_held, offer_suppressed."
    )
    actor: str = Field(description="Who: 'admin-api:<key digest>', a console user, or 'push-gate'.")
    subject: str = Field(description="The user id, 'erased:<digest>', or 'kind:<offer kind>'.")
    detail: str = Field(description="e.g. 'push=withdrawn', or the suppression reason.")
    offer: OfferDecision | None = Field(description="The decision, for offer entries.")


class AuditTrail(BaseModel):
    """An audit query's answer."""

    user: str | None
    since: float | None
    until: float | None
    entries: list[TrailItem] = Field(description="Newest first, at most `limit`.")
    retention: dict[str, str] = Field(description="How far back each source reaches.")


def _unix(t: datetime | None) -> float | None:
    return None if t is None else t.timestamp()  # always aware: _rfc3339 wants an offset


def _item(e: audit_trail.TrailEntry) -> TrailItem:
    return TrailItem(
        at=e.ts,
        time=datetime.fromtimestamp(e.ts, UTC).isoformat().replace("+00:00", "Z"),
        source=e.source,
        action=e.action,
        actor=e.actor,
        subject=e.subject,
        detail=e.detail,
        offer=OfferDecision(**e.offer) if e.offer is not None else None,
    )


def add_audit_route(app: FastAPI) -> None:
    """Register GET /v1/admin/audit."""

    @app.get(
        "/v1/admin/audit",
        tags=["admin"],
        summary="Audit trail: admin actions and offer decisions by user and time, newest first",
        dependencies=[Depends(require("admin"))],
        response_model=AuditTrail,
        responses={
            400: {"description": "A parameter is invalid, or `since` is after `until`"},
            503: {"description": "Redis is unavailable"},
        },
    )
    async def audit_query(
        request: Request,
        user: Annotated[
            str | None,
            Query(
                pattern=ID_PATTERN,
                description="Pseudonymous user id; without it, admin actions about anyone.",
            ),
        ] = None,
        since: Annotated[
            Instant | None,
            Query(description="Earliest time, RFC 3339 (e.g. 2026-12-05T08:00:00Z)."),
        ] = None,
        until: Annotated[Instant | None, Query(description="Latest time, RFC 3339.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Most entries.")] = 100,
    ) -> AuditTrail:
        lo, hi = _unix(since), _unix(until)
        if lo is not None and hi is not None and lo > hi:
            raise HTTPException(400, "invalid time range: 'since' is after 'until'")
        store: RedisStore = request.app.state.store
        s: Settings = request.app.state.settings
        try:
            if user is None:
                found = await audit_trail.admin_trail(
                    store.r, store.keys, since=lo, until=hi, limit=limit
                )
            else:
                found = await audit_trail.user_trail(
                    store.r, store.keys, user, since=lo, until=hi, limit=limit
                )
        except (RedisError, OSError) as exc:
            raise HTTPException(503, f"audit trail unavailable: Redis ({exc})") from None
        return AuditTrail(
            user=user,
            since=lo,
            until=hi,
            entries=[_item(e) for e in found],
            retention=audit_trail.retention(s.console_audit_days),
        )
