"""The trigger policy (read-only for analysts; admins switch offer kinds) and the audit trail."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from datetime import time as clock
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from redis.exceptions import RedisError

from recommender import audit, audit_trail
from recommender.api.routes import ID_PATTERN
from recommender.console.auth import Viewer, post_ok, read_form, require_page
from recommender.console.overrides import effective_policy, read_overrides, set_kind
from recommender.console.render import page
from recommender.console.views import utc
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.terms import OFFER_KINDS
from recommender.settings import Settings
from recommender.store import RedisStore

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
Analyst = Annotated[Viewer, Depends(require_page("analyst"))]
Admin = Annotated[Viewer, Depends(require_page("admin"))]
SWITCHES = {"on": "on", "off": "off", "config": None}
AUDIT_DAYS = (1, 7, 30, 365)
AUDIT_ROWS = 200
_ID = re.compile(ID_PATTERN)
NOT_USERS = ("kind:", "erased:")  # subjects of the audit stream that are no user id


def _offer_detail(offer: Mapping[str, str]) -> str:
    why = f" ({offer['reason']})" if offer.get("reason") else ""
    return f"{offer.get('kind', '')} {offer.get('item', '')}{why}"


def _shown(v: Any) -> str:
    if isinstance(v, clock):
        return v.strftime("%H:%M")
    if isinstance(v, frozenset | set):
        return ", ".join(sorted(map(str, v))) or "(none)"
    if isinstance(v, tuple | list):
        return ", ".join(map(str, v))
    if isinstance(v, dict):
        return ", ".join(f"{k}: {x}" for k, x in v.items()) or "(none)"
    return str(v)


def policy_rows(policy: EngagementPolicy) -> list[dict[str, str]]:
    """Every field of the policy with its value and description, in declaration order."""
    return [
        {
            "name": name,
            "env": f"RECO_ENGAGEMENT__{name.upper()}",
            "value": _shown(getattr(policy, name)),
            "about": f.description or "",
        }
        for name, f in EngagementPolicy.model_fields.items()
    ]


def _quiet(p: EngagementPolicy) -> str:
    if p.quiet_hours_off():
        return "off"
    return f"{_shown(p.quiet_start)}–{_shown(p.quiet_end)} local time, {p.quiet_mode}"


@router.get("/policy")
async def policy_page(request: Request, viewer: Analyst) -> Response:
    """Thresholds, caps, quiet hours and kill switches as the worker applies them."""
    s: Settings = request.app.state.settings
    store: RedisStore = request.app.state.store
    try:
        overrides = await read_overrides(store.r, store.keys)
    except (RedisError, OSError):
        return page(request, "unavailable.html", viewer, status=503, user_id=None)
    policy = s.engagement
    effective = effective_policy(policy, overrides)
    kinds = [
        {
            "kind": k,
            "configured": k not in policy.disabled_kinds,
            "override": overrides.kinds.get(k),
            "effective": k not in effective.disabled_kinds,
        }
        for k in OFFER_KINDS
    ]
    headline = {
        "Daily cap": f"{policy.daily_cap} offers per customer per local day",
        "Quiet hours": _quiet(policy),
        "Item cooldown": f"{policy.item_cooldown_hours:g} h",
        "Complaint hold": f"{policy.complaint_hold_days:g} days",
        "Channels": _shown(policy.channels),
    }
    return page(
        request,
        "policy.html",
        viewer,
        kinds=kinds,
        headline=headline,
        rows=policy_rows(policy),
        saved=request.query_params.get("saved"),
    )


@router.post("/policy/kinds")
async def switch_kind(request: Request, viewer: Admin) -> Response:
    """Force an offer kind on or off, or back to its configuration (admins; audited)."""
    s: Settings = request.app.state.settings
    store: RedisStore = request.app.state.store
    form = await read_form(request)
    if not post_ok(request, viewer, form):
        return page(request, "forbidden.html", viewer, status=403, why="the form was not ours")
    kind, switch = form.get("kind", ""), form.get("switch", "")
    if kind not in OFFER_KINDS or switch not in SWITCHES:
        return page(request, "forbidden.html", viewer, status=400, why="unknown kind or switch")
    try:
        await audit.append(
            store.r,
            store.keys,
            actor=viewer.name,
            action="kill_switch",
            subject=f"kind:{kind}",
            now=time.time(),
            detail=switch,
            keep_days=s.console_audit_days,
        )
        await set_kind(store.r, store.keys, kind, SWITCHES[switch])  # type: ignore[arg-type]
    except (RedisError, OSError):
        return page(request, "unavailable.html", viewer, status=503, user_id=None)
    log.warning("console: %s set offer kind %s to %s", viewer.name, kind, switch)
    return RedirectResponse(f"/console/policy?saved={kind}", 303)


@router.get("/audit")
async def audit_page(request: Request, viewer: Admin) -> Response:
    """Who looked at whom and who changed what: filter by subject and period (admins)."""
    store: RedisStore = request.app.state.store
    subject = (request.query_params.get("subject") or "").strip() or None
    try:
        days = float(request.query_params.get("days") or 7)
    except ValueError:
        days = 7.0
    since = time.time() - days * 86_400
    try:
        if subject is not None and _ID.match(subject) and not subject.startswith(NOT_USERS):
            # A customer: admin actions about them and their offer decisions (the same
            # query as GET /v1/admin/audit).
            found = await audit_trail.user_trail(
                store.r, store.keys, subject, since=since, limit=AUDIT_ROWS
            )
        else:
            found = [
                audit_trail.from_admin(e)
                for e in await audit.query(
                    store.r, store.keys, subject=subject, since=since, limit=AUDIT_ROWS
                )
            ]
    except (RedisError, OSError):
        return page(request, "unavailable.html", viewer, status=503, user_id=None)
    rows = [
        {
            "when": utc(e.ts),
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "detail": _offer_detail(e.offer) if e.offer is not None else e.detail,
        }
        for e in found
    ]
    return page(
        request,
        "audit.html",
        viewer,
        rows=rows,
        subject=subject or "",
        days=days,
        choices=AUDIT_DAYS,
    )
