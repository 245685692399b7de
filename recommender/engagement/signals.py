"""Clicks, feedback, consent and sent offers applied to a CustomerState (pure, idempotent).

Each update keeps the newest value by event time, so a redelivered or reordered event leaves
the same state as one delivery in order.
"""

from __future__ import annotations

from dataclasses import replace

from recommender.engagement.config import DAY_S, EngagementPolicy
from recommender.engagement.segments import touch
from recommender.engagement.state import (
    CustomerState,
    Penalty,
    Search,
    Watch,
    keep_newest,
    with_entry,
)
from recommender.engagement.terms import OfferKind


def apply_click(
    state: CustomerState,
    *,
    action: str,
    ts: float,
    item_id: str | None,
    destination: str | None,
    price: float | None,
    policy: EngagementPolicy,
) -> CustomerState:
    """A click: activity, a watched item (with the price seen) and interest in a destination."""
    s = touch(state, ts, policy)
    # A booked item is not watched: no price-drop offer for what the user bought, whether
    # they look at it again afterwards or the click arrives after the booking.
    if item_id is not None and action in policy.watch_actions and not s.booked(item_id):
        prev = s.watched.get(item_id)
        if prev is None or ts > prev.ts:
            # A click without a price keeps the last price the user saw.
            seen = price if price is not None else (prev.price if prev else None)
            watched = with_entry(s.watched, item_id, Watch(ts, seen))
            s = replace(s, watched=keep_newest(watched, policy.max_watched, _watch_ts))
    if destination is not None and action in policy.abandon_actions:
        prev_search = s.searches.get(destination)
        if prev_search is None or ts > prev_search.ts:
            new = replace(prev_search, ts=ts) if prev_search else Search(ts)
            searches = with_entry(s.searches, destination, new)
            s = replace(s, searches=keep_newest(searches, policy.max_searches, _search_ts))
    return s


def apply_feedback(
    state: CustomerState,
    *,
    kind: str,
    ts: float,
    item_id: str | None,
    rating: float | None,
    policy: EngagementPolicy,
) -> CustomerState:
    """A rating, review or complaint: lower that item for the user; a complaint pauses offers."""
    s = touch(state, ts, policy)
    value = 0.0
    if kind == "complaint":
        until = ts + policy.complaint_hold_days * DAY_S
        s = replace(s, complaint_until=max(s.complaint_until, until))
        value = policy.complaint_penalty
    elif rating is not None and rating <= policy.low_rating_max:
        value = policy.low_rating_penalty
    if item_id is None or value <= 0.0:
        return s
    prev = s.penalties.get(item_id)
    if prev is not None:
        # The stronger penalty at the newer of the two times wins: a repeat adds nothing and
        # the order of arrival does not matter.
        at = max(ts, prev.ts)
        if penalty_at(prev, at, policy) >= penalty_at(Penalty(value, ts), at, policy):
            return s
    penalties = with_entry(s.penalties, item_id, Penalty(value, ts))
    return replace(s, penalties=keep_newest(penalties, policy.max_penalties, _penalty_ts))


def apply_consent(
    state: CustomerState,
    *,
    channel: str,
    granted: bool,
    ts: float,
    timezone: str | None,
) -> CustomerState:
    """Opt-in or opt-out for one channel; the newest decision per channel wins."""
    prev = state.consent.get(channel)
    if prev is not None and ts < prev[1]:
        return state  # an older decision arriving late
    s = replace(state, consent=with_entry(state.consent, channel, (granted, ts)))
    return s if timezone is None else replace(s, timezone=timezone)


def apply_offer_sent(
    state: CustomerState, *, kind: OfferKind, destination: str | None, ts: float
) -> CustomerState:
    """Remember a sent reactivation or search reminder, so the trigger does not repeat it."""
    if kind == "reactivation":
        return replace(state, reactivation_sent=max(state.reactivation_sent, ts))
    if kind == "abandoned_search" and destination is not None:
        prev = state.searches.get(destination)
        if prev is not None and ts > prev.reminded_at:
            return replace(
                state,
                searches=with_entry(state.searches, destination, replace(prev, reminded_at=ts)),
            )
    return state


def penalty_at(p: Penalty, now: float, policy: EngagementPolicy) -> float:
    """A penalty's value at ``now``, decayed from its time."""
    return p.value * _decay(max(0.0, now - p.ts), policy)


def ranking_penalties(
    state: CustomerState, now: float, policy: EngagementPolicy
) -> dict[str, float]:
    """Item -> penalty in (0, 1] for ranking: multiply an item's score by ``1 - penalty``."""
    out = {i: penalty_at(p, now, policy) for i, p in state.penalties.items()}
    return {i: v for i, v in out.items() if v > 1e-6}


def _decay(dt: float, policy: EngagementPolicy) -> float:
    return float(2.0 ** (-dt / (policy.feedback_half_life_days * DAY_S)))


def _watch_ts(w: Watch) -> float:
    return w.ts


def _search_ts(x: Search) -> float:
    return x.ts


def _penalty_ts(p: Penalty) -> float:
    return p.ts
