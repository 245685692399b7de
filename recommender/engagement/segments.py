"""Segments: RFM scores, value tier and lifecycle stage, pure functions of state and time.

Lifecycle is split in two: the stream sets the *activity* stage (new, active, reactivated)
when an event arrives; idle time alone turns it into at_risk, dormant or churned. So the
stage at any moment is a function of the stored state and ``now``; no timer has to write it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace

from recommender.engagement.config import DAY_S, EngagementPolicy
from recommender.engagement.state import CustomerState
from recommender.engagement.terms import ActiveTier, Lifecycle, ValueTier


@dataclass(frozen=True, slots=True)
class Rfm:
    """Recency, frequency and monetary scores (1 worst .. 5 best) and the raw values."""

    r: int
    f: int
    m: int
    idle_days: float
    frequency: int
    monetary: float


def _ledger_totals(
    state: CustomerState, until: float, policy: EngagementPolicy
) -> tuple[int, float]:
    """Confirmed bookings and their spend in the RFM window ending at ``until``."""
    since = until - policy.rfm_window_days * DAY_S
    live = [e for e in state.ledger.values() if e.status == "confirmed" and since <= e.ts <= until]
    return len(live), sum(e.amount for e in live)


def _score_up(value: float, bounds: tuple[float, ...]) -> int:
    """1 + number of bounds reached (higher value, higher score)."""
    return 1 + bisect_right(bounds, value)


def rfm(state: CustomerState, now: float, policy: EngagementPolicy) -> Rfm:
    """RFM at ``now``: R from idle time, F and M from the ledger within the window."""
    never = state.last_active <= 0
    idle = float("inf") if never else max(0.0, now - state.last_active) / DAY_S
    # Idle days at or below the first bound score 5, beyond the last score 1.
    bounds = policy.recency_days
    r = 5 - sum(1 for b in bounds if idle > b)
    n, spend = _ledger_totals(state, now, policy)
    f = _score_up(n, policy.frequency_bounds)
    return Rfm(r, f, _score_up(spend, policy.monetary_bounds), idle, n, spend)


def value_tier(score: Rfm, policy: EngagementPolicy) -> ValueTier:
    """high_value / at_risk (valuable, recent or not) and potential / dormant (the rest)."""
    valuable = score.f + score.m >= policy.high_value_min_fm
    recent = score.r >= policy.recent_min_r
    if valuable:
        return "high_value" if recent else "at_risk"
    return "potential" if recent else "dormant"


def active_tier(state: CustomerState, policy: EngagementPolicy) -> ActiveTier:
    """Value tier as of the last activity; it picks the inactivity thresholds.

    Measured at ``last_active`` rather than now, so it does not change while the customer
    is idle and the stage can only move forward (at_risk -> dormant -> churned) with time.
    """
    n, spend = _ledger_totals(state, state.last_active, policy)
    fm = _score_up(n, policy.frequency_bounds) + _score_up(spend, policy.monetary_bounds)
    return "high_value" if fm >= policy.high_value_min_fm else "potential"


def lifecycle_stage(state: CustomerState, now: float, policy: EngagementPolicy) -> Lifecycle:
    """The customer's lifecycle stage at ``now``."""
    if state.last_active <= 0:
        return "new"
    tier = active_tier(state, policy)
    idle = now - state.last_active
    if idle >= policy.churned_days[tier] * DAY_S:
        return "churned"
    if idle >= policy.dormant_days[tier] * DAY_S:
        return "dormant"
    if idle >= policy.at_risk_days[tier] * DAY_S:
        return "at_risk"
    if state.stage == "new" and now - state.first_seen < policy.new_days * DAY_S:
        return "new"
    if state.stage == "reactivated" and now - state.stage_since < policy.reactivated_days * DAY_S:
        return "reactivated"
    return "active"


def touch(state: CustomerState, ts: float, policy: EngagementPolicy) -> CustomerState:
    """Record activity at ``ts``: first/last seen and the stage transition it causes.

    A late event (older than the last activity) only moves first_seen, so redelivery and
    reordering never change the stage.
    """
    if state.last_active <= 0:
        return replace(state, first_seen=ts, last_active=ts, stage="new", stage_since=ts)
    first_seen = min(state.first_seen, ts) if state.first_seen > 0 else ts
    if ts <= state.last_active:
        return state if first_seen == state.first_seen else replace(state, first_seen=first_seen)
    before = lifecycle_stage(state, ts, policy)
    stage, since = state.stage, state.stage_since
    if before in ("dormant", "churned"):
        stage, since = "reactivated", ts
    elif before in ("active", "at_risk") and stage != "active":
        stage, since = "active", ts
    # "new" and "reactivated" that have not expired stay as they are.
    return replace(state, first_seen=first_seen, last_active=ts, stage=stage, stage_since=since)


def reactivation_due_at(state: CustomerState, policy: EngagementPolicy) -> float | None:
    """Earliest time this customer can be due for reactivation (index score for a sweep).

    A sweep that reads only customers whose due time has passed scales with the inactive
    ones, not all of them. None for a customer never seen.
    """
    if state.last_active <= 0:
        return None
    tier = active_tier(state, policy)
    first_stage_days = {
        "at_risk": policy.at_risk_days[tier],
        "dormant": policy.dormant_days[tier],
        "churned": policy.churned_days[tier],
    }
    days = [d for stage, d in first_stage_days.items() if stage in policy.reactivation_stages]
    if not days:
        return None
    idle_due = state.last_active + min(days) * DAY_S
    cooled = state.reactivation_sent + policy.reactivation_cooldown_days * DAY_S
    return max(idle_due, cooled)
