"""The audit trail: who looked at whose personal data, and who changed the policy, when.

One Redis stream (``Keys.audit()``). Viewing a customer's profile is access to personal
data, so the console appends before it reads and refuses to show anything it could not
record. Entries are trimmed by age on append (stream ids are Redis server time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from recommender.keys import Keys

DAY_S = 86_400.0
# Ranges are read by stream id (Redis time) and then filtered by each entry's own ts
# (the writer's time); this much clock skew between the two is tolerated.
SKEW_S = 300.0
PAGE = 500
MAX_SCANNED = 100_000  # a query reads at most this many entries, whatever it finds


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action."""

    entry_id: str
    actor: str
    action: str  # customer_lookup | kill_switch | ...
    subject: str  # user id, or e.g. 'kind:price_drop'
    ts: float
    detail: str = ""


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def parse_entry(entry_id: Any, fields: Mapping[Any, Any]) -> AuditEntry:
    """An entry from XRANGE output (bytes or str keys); missing fields read as empty."""
    f = {_text(k): _text(v) for k, v in fields.items()}
    try:
        ts = float(f.get("ts", "0"))
    except ValueError:
        ts = 0.0
    return AuditEntry(
        _text(entry_id),
        f.get("actor", ""),
        f.get("action", ""),
        f.get("subject", ""),
        ts,
        f.get("detail", ""),
    )


def matches(
    e: AuditEntry,
    *,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> bool:
    """True when the entry passes every filter given (pure)."""
    return (
        (subject is None or e.subject == subject)
        and (actor is None or e.actor == actor)
        and (action is None or e.action == action)
        and (since is None or e.ts >= since)
        and (until is None or e.ts <= until)
    )


def select(
    entries: Iterable[AuditEntry],
    *,
    limit: int,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[AuditEntry]:
    """The first ``limit`` entries that match, in the order given (pure)."""
    out: list[AuditEntry] = []
    for e in entries:
        if matches(e, subject=subject, actor=actor, action=action, since=since, until=until):
            out.append(e)
            if len(out) >= limit:
                break
    return out


async def append(
    r: aioredis.Redis,
    keys: Keys,
    *,
    actor: str,
    action: str,
    subject: str,
    now: float,
    detail: str = "",
    keep_days: float = 400.0,
) -> str:
    """Record one action; returns its stream id. Entries older than keep_days go."""
    fields = {"actor": actor, "action": action, "subject": subject, "ts": repr(now)}
    if detail:
        fields["detail"] = detail
    oldest_ms = max(int((now - keep_days * DAY_S) * 1000), 0)
    entry_id = await r.xadd(
        keys.audit(),
        fields,  # type: ignore[arg-type]
        minid=str(oldest_ms),
        # Exact: appends come at human pace, and "~" never trims a stream this small.
        approximate=False,
    )
    return _text(entry_id)


async def query(
    r: aioredis.Redis,
    keys: Keys,
    *,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Matching entries, newest first, at most ``limit``."""
    # Stream ids are milliseconds since 1970: a window that ends before then holds nothing.
    hi = "+" if until is None else str(max(int((until + SKEW_S) * 1000), 0))
    lo = "-" if since is None else str(max(int((since - SKEW_S) * 1000), 0))
    out: list[AuditEntry] = []
    scanned = 0
    while len(out) < limit and scanned < MAX_SCANNED:
        rows: Any = await r.xrevrange(keys.audit(), max=hi, min=lo, count=PAGE)
        if not rows:
            break
        scanned += len(rows)
        page = [parse_entry(i, f) for i, f in rows]
        out += select(
            page,
            limit=limit - len(out),
            subject=subject,
            actor=actor,
            action=action,
            since=since,
            until=until,
        )
        if len(rows) < PAGE:
            break
        hi = "(" + page[-1].entry_id  # exclusive: continue below the last id read
    return out
