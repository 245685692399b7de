"""A profile as people and other services read it: every decayed value brought to `now`."""

from __future__ import annotations

from typing import Any

from recommender.profile import Profile, ProfileParams


def profile_view(
    user_id: str, p: Profile, params: ProfileParams, *, now: float, top: int = 5
) -> dict[str, Any]:
    """JSON-ready summary of a profile as of `now` (pure)."""
    age = max(now - p.t, 0.0)
    decay = 2.0 ** (-age / params.affinity_half_life_s)
    affinities = {
        facet: [{"key": k, "score": round(v * decay, 4)} for k, v in p.top(facet, top)]
        for facet in ("dest", "type", "band", "stars")
        if p.aff.get(facet)
    }
    return {
        "user_id": user_id,
        "events": p.n_events,
        "last_active": p.last_active,
        "seconds_since_active": round(max(now - p.last_active, 0.0), 3),
        "embedding_age_s": round(age, 3),
        "has_embedding": p.embedding("long") is not None,
        "affinities": affinities,
        "recent_items": [{"item_id": i, "ts": ts} for i, ts in p.recent],
        "booked_items": p.booked_items(),
        "bookings": p.n_bookings,
        "monetary_value": round(p.monetary, 2),
        "last_booking": p.last_booking or None,
    }
