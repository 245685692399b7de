"""What the customer page shows, computed from what the stores returned (pure).

Only pseudonymous ids, item titles and derived values reach a page: the stores hold no
names, phones or e-mails, and nothing here adds any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from recommender.console.charts import Mark, bars, timeline
from recommender.engagement.config import EngagementPolicy
from recommender.engagement.state import CustomerState
from recommender.engagement.view import customer_view
from recommender.profile import Profile, ProfileParams
from recommender.profile_view import profile_view
from recommender.ranking import ItemMeta
from recommender.reasons import place_name
from recommender.recommend import Recommendations

FACETS = {"dest": "Destinations", "type": "Item types", "band": "Price bands", "stars": "Stars"}
REASONS = {
    "no_consent": "no consent on any channel",
    "cap": "daily cap reached",
    "quiet_hours": "quiet hours",
    "cooldown": "same item offered recently",
    "complaint_hold": "complaint hold",
    "kill_switch": "kill switch",
    "duplicate": "already decided (redelivery)",
}
OUTCOMES = {"send": "sent", "hold": "held", "suppress": "suppressed"}


def ago(seconds: float) -> str:
    """A short human age: 'just now', '42 s ago', '5 min ago', '3 h ago', '2 d ago'."""
    s = max(seconds, 0.0)
    if s < 5:
        return "just now"
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 90 * 60:
        return f"{s / 60:.0f} min ago"
    if s < 36 * 3600:
        return f"{s / 3600:.0f} h ago"
    return f"{s / 86_400:.0f} d ago"


def utc(ts: float | None) -> str:
    """A Unix time as 'YYYY-MM-DD HH:MM UTC' ('-' for none)."""
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def item_label(items: Mapping[str, ItemMeta], key: str) -> str:
    """An item's title, a destination's name for 'dest:<slug>' keys, else the key itself."""
    meta = items.get(key)
    if meta is not None and meta.title:
        return meta.title
    if key.startswith("dest:"):
        return place_name(key[5:])
    return key


def reason_text(outcome: str, reason: str) -> str:
    """Why an offer was held or suppressed, in words ('' when it was sent)."""
    if outcome == "send" or not reason:
        return ""
    text = REASONS.get(reason, reason.replace("_", " "))
    return f"held until quiet hours end ({text})" if outcome == "hold" else text


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def decision_rows(
    raw: Sequence[tuple[Any, Mapping[Any, Any]]], items: Mapping[str, ItemMeta], now: float
) -> list[dict[str, Any]]:
    """Rows of the offers table from XREVRANGE output of the decisions stream, newest first."""
    rows = []
    for _, fields in raw:
        f = {_text(k): _text(v) for k, v in fields.items()}
        try:
            at = float(f.get("at", "0"))
        except ValueError:
            at = 0.0
        outcome = f.get("outcome", "")
        rows.append(
            {
                "at": at,
                "ago": ago(now - at),
                "when": utc(at),
                "kind": f.get("kind", ""),
                "item": item_label(items, f.get("item", "")),
                "outcome": outcome,
                "outcome_text": OUTCOMES.get(outcome, outcome),
                "reason": f.get("reason", ""),
                "reason_text": reason_text(outcome, f.get("reason", "")),
                "channel": f.get("channel", ""),
                "offer_id": f.get("offer_id", ""),
            }
        )
    return rows


def decisions_chart(rows: Sequence[Mapping[str, Any]], now: float) -> Markup:
    """The offer decisions over time, one lane per kind, coloured by outcome."""
    marks = [
        Mark(
            r["at"],
            r["kind"].replace("_", " "),
            f"o-{r['outcome']}",
            f"{r['when']}: {r['outcome_text']} {r['item']} {r['reason_text']}".strip(),
        )
        for r in rows
        if r["at"] > 0
    ]
    return timeline(marks, now=now, title="Offer decisions over time")


def affinity_charts(doc: Mapping[str, Any]) -> list[tuple[str, Markup]]:
    """One bar chart per facet of profile_view's affinities (decayed scores)."""
    out = []
    for facet, title in FACETS.items():
        entries = doc.get("affinities", {}).get(facet) or []
        if not entries:
            continue
        label = place_name if facet == "dest" else str
        rows = [(label(str(e["key"])), float(e["score"])) for e in entries]
        out.append((title, bars(rows, title=f"{title} affinity")))
    return out


def _meta_row(items: Mapping[str, ItemMeta], item_id: str) -> dict[str, Any]:
    meta = items.get(item_id)
    return {
        "item_id": item_id,
        "title": meta.title if meta is not None and meta.title else item_id,
        "type": meta.item_type if meta is not None else "",
        "destination": place_name(meta.destination) if meta is not None else "",
    }


def customer_model(
    user_id: str,
    profile: Profile | None,
    state: CustomerState | None,
    recs: Recommendations,
    decisions: Sequence[tuple[Any, Mapping[Any, Any]]],
    items: Mapping[str, ItemMeta],
    *,
    params: ProfileParams,
    policy: EngagementPolicy,
    now: float,
    recent_n: int = 10,
) -> dict[str, Any]:
    """Everything the customer page shows, as plain values and prerendered charts."""
    doc = profile_view(user_id, profile, params, now=now) if profile is not None else {}
    seg = customer_view(state, policy, now=now) if state is not None else None
    recent = [
        {**_meta_row(items, i["item_id"]), "ago": ago(now - i["ts"]), "when": utc(i["ts"])}
        for i in doc.get("recent_items", [])[:recent_n]
    ]
    ledger = sorted(state.ledger.values(), key=lambda e: -e.ts) if state is not None else []
    bookings = [
        {
            **_meta_row(items, e.item_id),
            "status": e.status,
            "amount": round(e.amount, 2),
            "points": e.points,
            "ago": ago(now - e.ts),
        }
        for e in ledger[:recent_n]
    ]
    offers = [
        {
            "rank": n,
            **_meta_row(items, r.item_id),
            "reason": r.reason,
            "source": r.source,
            "score": round(r.score, 3),
        }
        for n, r in enumerate(recs.items, start=1)
    ]
    rows = decision_rows(decisions, items, now)
    return {
        "user_id": user_id,
        "known": profile is not None or state is not None,
        "events": doc.get("events", 0),
        "last_active": ago(doc["seconds_since_active"]) if doc else None,
        "segments": seg,
        "hold_until": utc(seg["marketing_hold_until"])
        if seg and seg["marketing_hold_until"]
        else None,
        "affinities": affinity_charts(doc),
        "recent": recent,
        "bookings": bookings,
        "offers": offers,
        "fallback": recs.fallback,
        "degraded": recs.degraded,
        "decisions": rows,
        "decisions_chart": decisions_chart(rows, now),
    }
