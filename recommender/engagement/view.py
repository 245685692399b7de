"""A customer's segments as people and services read them (pure): the profile API's part.

Everything time-dependent (lifecycle stage, RFM, penalties) is evaluated at ``now``, so a
customer who has been idle for a month shows as dormant without any event having arrived.
"""

from __future__ import annotations

from typing import Any

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.loyalty import membership_tier
from recommender.engagement.segments import lifecycle_stage, rfm, value_tier
from recommender.engagement.signals import ranking_penalties
from recommender.engagement.state import CustomerState


def customer_view(state: CustomerState, policy: EngagementPolicy, *, now: float) -> dict[str, Any]:
    """JSON-ready segments, loyalty, consent and holds of one customer as of ``now``."""
    score = rfm(state, now, policy)
    penalties = ranking_penalties(state, now, policy)
    return {
        "value_tier": value_tier(score, policy),
        "lifecycle_stage": lifecycle_stage(state, now, policy),
        "rfm": {"r": score.r, "f": score.f, "m": score.m},
        "loyalty": {
            "tier": membership_tier(state.points, policy),
            "points": state.points,
        },
        "bookings": state.n_bookings,
        "monetary_value": round(state.monetary, 2),
        "first_seen": state.first_seen or None,
        "last_active": state.last_active or None,
        "consent": {ch: ok for ch, ok in sorted(state.granted().items())},
        "timezone": state.timezone,
        "marketing_hold_until": state.complaint_until if state.complaint_until > now else None,
        "watched_items": len(state.watched),
        "feedback_penalties": {i: round(v, 4) for i, v in sorted(penalties.items())},
    }
