"""The indexes kept beside customer states, derived from them (pure).

Triggers that fan out or sweep must not read every customer state, so each commit also
writes, for every user whose state changed: the compact facts record (what the push policy
needs), the per-item watcher index and highest seen price (price drops) and the two due
sets (reactivation and abandoned-search sweeps). Deriving them from the old and new state,
rather than from the events, keeps them equal to the states whatever the order or
redelivery of events.
"""

from __future__ import annotations

import math

from recommender.engagement.config import DAY_S, HOUR_S, EngagementPolicy
from recommender.engagement.segments import reactivation_due_at
from recommender.engagement.state import CustomerState
from recommender.engagement.store import Op, facts_blob
from recommender.keys import Keys

REACTIVATION = "reactivation"
ABANDONED_SEARCH = "abandoned_search"


def search_due_at(state: CustomerState, policy: EngagementPolicy) -> float | None:
    """Earliest time a search of this customer is due for a reminder, None if none will be."""
    window = policy.abandoned_search_window_hours * HOUR_S
    if window > policy.abandoned_search_max_age_days * DAY_S:
        return None  # a search would be too old before it counts as abandoned
    due = [
        s.ts + window
        for s in state.searches.values()
        if s.booked_at < s.ts and s.reminded_at < s.ts
    ]
    return min(due, default=None)


def watch_ttl_s(policy: EngagementPolicy) -> int:
    """Lifetime of an item's watcher keys after the last write: the window and a day."""
    return math.ceil(policy.price_drop_watch_days * DAY_S + DAY_S)


def due_op(keys: Keys, kind: str, user_id: str, at: float | None) -> Op:
    """Put the user in the due set of ``kind`` at ``at``, or take them out (None)."""
    if at is None:
        return ("ZREM", keys.due(kind), user_id)
    return ("ZADD", keys.due(kind), repr(at), user_id)


def index_ops(
    keys: Keys,
    policy: EngagementPolicy,
    user_id: str,
    old: CustomerState | None,
    new: CustomerState,
) -> list[Op]:
    """Writes that bring facts, watcher index and due sets in line with a changed state."""
    ops: list[Op] = []
    facts = facts_blob(new)
    if old is None or facts_blob(old) != facts:
        ops.append(("SET", keys.customer_facts(user_id), facts))
    ttl = watch_ttl_s(policy)
    before = old.watched if old is not None else {}
    for item, w in new.watched.items():
        if before.get(item) == w:
            continue
        ops += [
            ("ZADD", keys.watchers(item), repr(w.ts), user_id),
            ("EXPIRE", keys.watchers(item), ttl),
        ]
        prices = keys.watcher_prices(item)
        if w.price is None:
            ops.append(("HDEL", prices, user_id))
        else:
            # The item's highest seen price only rises here (never lowered when a watcher
            # leaves): an over-estimate costs a futile fan-out, never a missed offer.
            top = keys.watcher_max_price(item)
            ops += [
                ("HSET", prices, user_id, repr(w.price)),
                ("EXPIRE", prices, ttl),
                ("ZADD", top, "GT", repr(w.price), "max"),
                ("EXPIRE", top, ttl),
            ]
    # Gone from the state: booked (no drop alert for what they bought) or evicted by the bound.
    for item in sorted(before.keys() - new.watched.keys()):
        ops += [
            ("ZREM", keys.watchers(item), user_id),
            ("HDEL", keys.watcher_prices(item), user_id),
        ]
    # Always rewritten: a sweep may have parked the entry (e.g. no consent), and any change of
    # the state (consent granted, new activity) must make the user visible to it again.
    ops.append(due_op(keys, REACTIVATION, user_id, reactivation_due_at(new, policy)))
    ops.append(due_op(keys, ABANDONED_SEARCH, user_id, search_due_at(new, policy)))
    return ops
