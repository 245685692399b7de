"""Loyalty: points per booking, membership tier, and reversal of points on cancellation.

Idempotent by booking_id: the ledger remembers each booking and the points it credited, so a
redelivered confirmation or cancellation changes nothing, a cancellation takes back exactly
what its booking earned, and a confirmation arriving after its cancellation is ignored (a
cancellation is final). Only bookings still in the bounded ledger are remembered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import cast

from recommender.engagement.config import EngagementPolicy
from recommender.engagement.segments import touch
from recommender.engagement.state import (
    BookingStatus,
    CustomerState,
    LedgerEntry,
    Search,
    keep_newest,
    with_entry,
)


def membership_tier(points: int, policy: EngagementPolicy) -> str:
    """The highest tier whose threshold the points reach."""
    reached = [(need, name) for name, need in policy.tier_thresholds.items() if points >= need]
    # A validator guarantees a tier at 0; negative points (never expected) fall back to it.
    return max(reached)[1] if reached else min(policy.tier_thresholds.items(), key=_need)[0]


def _need(kv: tuple[str, int]) -> int:
    return kv[1]


def points_for(amount: float, item_type: str, tier: str, policy: EngagementPolicy) -> int:
    """Points a booking earns: amount x rate of its item type x bonus of the current tier."""
    rates = cast(Mapping[str, float], policy.points_per_unit)  # keys are item types
    rate = rates.get(item_type, 0.0)
    bonus = policy.tier_multipliers.get(tier, 1.0)
    return max(0, math.floor(amount * rate * bonus + 1e-9))


def apply_booking(
    state: CustomerState,
    *,
    booking_id: str,
    status: BookingStatus,
    ts: float,
    amount: float,
    item_id: str,
    item_type: str,
    destination: str,
    policy: EngagementPolicy,
) -> CustomerState:
    """Apply a booking confirmation or cancellation (amount in base currency)."""
    prev = state.ledger.get(booking_id)
    s = touch(state, ts, policy)
    if status == "confirmed":
        if prev is not None:
            return s  # redelivered, or confirmed after its cancellation
        pts = points_for(amount, item_type, membership_tier(s.points, policy), policy)
        entry = LedgerEntry(item_id, "confirmed", ts, amount, pts, item_type, destination)
        s = replace(
            s,
            ledger=with_entry(s.ledger, booking_id, entry),
            points=s.points + pts,
            monetary=s.monetary + amount,
            n_bookings=s.n_bookings + 1,
            last_booking=max(s.last_booking, ts),
            searches=_converted(s, destination, ts),
            watched={i: w for i, w in s.watched.items() if i != item_id},
        )
    elif prev is None:
        # Cancelled before we saw it confirmed: remember it so a late confirmation is ignored.
        entry = LedgerEntry(item_id, "cancelled", ts, amount, 0, item_type, destination)
        s = replace(s, ledger=with_entry(s.ledger, booking_id, entry))
    elif prev.status == "confirmed":
        undone = replace(prev, status="cancelled", points=0)
        s = replace(
            s,
            ledger=with_entry(s.ledger, booking_id, undone),
            points=s.points - prev.points,
            monetary=s.monetary - prev.amount,
            n_bookings=s.n_bookings - 1,
        )
    else:
        return s  # a redelivered cancellation
    return replace(s, ledger=keep_newest(s.ledger, policy.max_ledger, _ledger_ts))


def _ledger_ts(e: LedgerEntry) -> float:
    return e.ts


def _converted(s: CustomerState, destination: str, ts: float) -> dict[str, Search]:
    """Searches with this destination marked booked at ts (no reminder for it then)."""
    prev = s.searches.get(destination)
    if prev is None or prev.booked_at >= ts:
        return dict(s.searches)
    return with_entry(s.searches, destination, replace(prev, booked_at=ts))
