"""What an auditor asks: everything done to or about one user in a time window, in order.

Two records are merged at read time. Admin actions (consent changes, erasures, console
lookups, kill switches) are in the one ``audit`` stream (recommender/audit.py). Offer
decisions (sent, held, suppressed with the reason) are in each user's own ``decisions``
stream, appended by the push gate in the same atomic call that decides (REDIS_KEYS.md): a
price drop decides for 100,000 watchers in one go, and copying each decision into a single
global stream would put every one of them on one key, one slot and one hot spot.

Retention differs and is stated where it is served: admin actions are kept for
``RECO_CONSOLE_AUDIT_DAYS``; a user's decision stream keeps about the latest
``DECISIONS_KEPT`` decisions (trimmed approximately, so between 50 and ~150), with no age limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis

from recommender import audit
from recommender.engagement.gate import DECISIONS_KEPT
from recommender.erasure import subject_digest
from recommender.keys import Keys

# A user's decision stream stays near DECISIONS_KEPT entries; read all of it, with a bound.
DECISIONS_READ = 1000
OUTCOMES = {"send": "offer_sent", "hold": "offer_held", "suppress": "offer_suppressed"}
GATE_ACTOR = "push-gate"


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One thing recorded about a user: an admin action or an offer decision."""

    ts: float  # when it happened (Unix s): the action's time, or the decision time
    source: Literal["admin", "offer"]
    action: str  # consent_change, erasure, customer_lookup, ... | offer_sent/_held/_suppressed
    actor: str  # admin-api:<key digest>, a console user, or 'push-gate'
    subject: str  # the user id ('erased:<digest>' for an erasure), or 'kind:<offer kind>'
    detail: str = ""  # admin: e.g. 'push=withdrawn'; offer: the suppression or hold reason
    offer: Mapping[str, str] | None = None  # offer_id, kind, item, outcome, reason, channel


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def from_admin(e: audit.AuditEntry) -> TrailEntry:
    """An entry of the audit stream as a trail entry (pure)."""
    return TrailEntry(e.ts, "admin", e.action, e.actor, e.subject, e.detail)


def from_decision(user_id: str, fields: Mapping[Any, Any]) -> TrailEntry | None:
    """A decision stream entry as a trail entry; None when it carries no usable time (pure)."""
    f = {_text(k): _text(v) for k, v in fields.items()}
    try:
        ts = float(f.get("at", ""))
    except ValueError:
        return None
    outcome = f.get("outcome", "")
    offer = {k: f.get(k, "") for k in ("offer_id", "kind", "item", "outcome", "reason", "channel")}
    return TrailEntry(
        ts,
        "offer",
        OUTCOMES.get(outcome, f"offer_{outcome or 'unknown'}"),
        GATE_ACTOR,
        user_id,
        f.get("reason", ""),
        offer,
    )


def merge(
    groups: Iterable[Iterable[TrailEntry]],
    *,
    since: float | None,
    until: float | None,
    limit: int,
) -> list[TrailEntry]:
    """The entries inside [since, until], newest first, at most ``limit`` (pure)."""
    inside = [
        e
        for g in groups
        for e in g
        if (since is None or e.ts >= since) and (until is None or e.ts <= until)
    ]
    # Newest first; at the same instant an admin action (e.g. the consent change) sorts
    # after the decision it caused, so read from the bottom the story runs forwards.
    inside.sort(key=lambda e: (e.ts, e.source == "offer"), reverse=True)
    return inside[:limit]


async def user_trail(
    r: aioredis.Redis,
    keys: Keys,
    user_id: str,
    *,
    since: float | None = None,
    until: float | None = None,
    limit: int = 100,
) -> list[TrailEntry]:
    """Admin actions about the user (their erasure included) and their offer decisions."""
    admin: list[TrailEntry] = []
    # An erasure record names the user by a salted digest only (recommender/erasure.py).
    for subject in (user_id, "erased:" + subject_digest(user_id, keys.prefix)):
        found = await audit.query(r, keys, subject=subject, since=since, until=until, limit=limit)
        admin += [from_admin(e) for e in found]
    rows: Any = await r.xrevrange(keys.decisions(user_id), count=DECISIONS_READ)
    decided = [e for _, f in rows if (e := from_decision(user_id, f)) is not None]
    return merge([admin, decided], since=since, until=until, limit=limit)


async def admin_trail(
    r: aioredis.Redis,
    keys: Keys,
    *,
    since: float | None = None,
    until: float | None = None,
    limit: int = 100,
) -> list[TrailEntry]:
    """Every admin action in the window (all users, policy changes), newest first."""
    found = await audit.query(r, keys, since=since, until=until, limit=limit)
    return [from_admin(e) for e in found]


def retention(audit_days: float) -> dict[str, str]:
    """How far back each part of the trail reaches, in words (served with every answer)."""
    return {
        "admin": f"admin actions are kept {audit_days:g} days (RECO_CONSOLE_AUDIT_DAYS)",
        "offer": (
            f"a user's latest ~{DECISIONS_KEPT} offer decisions are kept (between "
            f"{DECISIONS_KEPT} and about {DECISIONS_KEPT + 100}), older ones are gone; every "
            "sent offer is also on the offers topic for its retention"
        ),
    }
