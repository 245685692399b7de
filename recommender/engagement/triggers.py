"""The four triggers, pure: who qualifies, and the candidate offers they make.

Items for reactivation, cross-sell and reminders come from the recommender (I/O, done by the
caller); these functions only choose, filter and wrap them. Prices are in one currency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from recommender.engagement.config import DAY_S, HOUR_S, EngagementPolicy
from recommender.engagement.offers import Candidate, candidate
from recommender.engagement.segments import lifecycle_stage
from recommender.engagement.state import CustomerState
from schemas import Booking, OfferItem, PriceUpdate


@dataclass(frozen=True, slots=True)
class Watcher:
    """A user who viewed or wishlisted an item: when, the price they saw, booked since."""

    user_id: str
    seen_at: float
    seen_price: float | None = None
    booked: bool = False


@dataclass(frozen=True, slots=True)
class PriceDropHit:
    """A watcher a price drop qualifies for, with the price the drop is measured against."""

    user_id: str
    reference_price: float
    drop_share: float


def price_drop_hits(
    new_price: float,
    previous_price: float | None,
    watchers: Iterable[Watcher],
    *,
    now: float,
    policy: EngagementPolicy,
) -> list[PriceDropHit]:
    """Watchers who saw the item recently, have not booked it, and see a big enough drop."""
    since = now - policy.price_drop_watch_days * DAY_S
    by_seen = policy.price_drop_reference == "seen"
    min_share = policy.price_drop_min_share
    hits = []
    for w in watchers:
        if w.booked or w.seen_at < since:
            continue
        ref = w.seen_price if by_seen and w.seen_price is not None else previous_price
        if ref is None or ref <= 0:
            continue
        share = (ref - new_price) / ref
        if share >= min_share - 1e-12:  # a 10% drop computed in floats must count as 10%
            hits.append(PriceDropHit(w.user_id, ref, share))
    return hits


def price_drop_may_hit(
    new_price: float,
    previous_price: float | None,
    max_seen: float | None,
    *,
    policy: EngagementPolicy,
) -> bool:
    """Whether a price update can qualify any watcher, so that it is worth reading them all.

    A watcher's reference is the previous price (mode 'previous', or no price seen) or the
    price they saw, at most ``max_seen``: if neither drop reaches the threshold, no watcher's
    does. An unknown previous price may qualify anyone (``price_drop_hits`` decides). Looser
    by a hair than ``price_drop_hits``, so float rounding cannot skip a qualifying watcher.
    """
    if previous_price is None or previous_price <= 0:
        return True
    refs = [previous_price]
    if policy.price_drop_reference == "seen" and max_seen is not None and max_seen > 0:
        refs.append(max_seen)
    floor = policy.price_drop_min_share - 1e-9
    return any((ref - new_price) / ref >= floor for ref in refs)


def price_drop_offers(
    update: PriceUpdate,
    item: OfferItem,
    hits: Iterable[PriceDropHit],
    *,
    now: float,
    policy: EngagementPolicy,
) -> list[Candidate]:
    """One candidate per hit; the update's time is the window, so redelivery repeats ids."""
    return [
        candidate(
            h.user_id,
            "price_drop",
            update.item_id,
            update.ts,
            [item],
            now=now,
            policy=policy,
            context={
                "old_price": round(h.reference_price, 2),
                "new_price": update.price,
                "currency": update.currency,
                "drop_pct": round(100 * h.drop_share, 1),
            },
        )
        for h in hits
    ]


def watchers_in(states: Mapping[str, CustomerState], item_id: str) -> list[Watcher]:
    """Watchers of an item found in customer states (a per-item index serves it at scale)."""
    out = []
    for user_id, s in states.items():
        w = s.watched.get(item_id)
        if w is not None:
            out.append(Watcher(user_id, w.ts, w.price, s.booked(item_id)))
    return out


def reactivation_due(
    states: Mapping[str, CustomerState], *, now: float, policy: EngagementPolicy
) -> list[str]:
    """Users in a reactivation stage whose last reactivation offer is a cooldown ago."""
    cooldown = policy.reactivation_cooldown_days * DAY_S
    return sorted(
        u
        for u, s in states.items()
        if now - s.reactivation_sent >= cooldown
        and lifecycle_stage(s, now, policy) in policy.reactivation_stages
    )


def reactivation_offer(
    user_id: str, items: Sequence[OfferItem], *, now: float, policy: EngagementPolicy
) -> Candidate:
    """A reactivation offer carrying the user's current next-best items."""
    cooldown = policy.reactivation_cooldown_days * DAY_S
    # One window per cooldown period: sweeps in the same period repeat the same id.
    window = math.floor(now / cooldown) * cooldown
    return candidate(user_id, "reactivation", "reactivation", window, items, now=now, policy=policy)


def cross_sell_offer(
    booking: Booking, items: Sequence[OfferItem], *, now: float, policy: EngagementPolicy
) -> Candidate | None:
    """Hotels, cars and tours at a confirmed flight's destination for its travel dates.

    ``items`` are ranked suggestions; kept are those of a cross-sell type at the destination,
    interleaved by type (best hotel, best car, best tour, second hotel, ...). None when the
    booking is not a confirmed flight or nothing fits.
    """
    if booking.status != "confirmed" or booking.item_type != "flight":
        return None
    dest = booking.destination
    per_type = {
        t: [i for i in items if i.item_type == t and i.destination in (dest, None)]
        for t in policy.cross_sell_item_types
    }
    picked = [i for group in _zip_longest(per_type.values()) for i in group]
    if not picked:
        return None
    start = booking.travel_start
    context: dict[str, str | int | float | bool] = {
        "destination": dest,
        "travel_start": start.isoformat(),
    }
    if booking.travel_end is not None:
        context["travel_end"] = booking.travel_end.isoformat()
    # The trip's first day is the window: a redelivered booking repeats the offer id.
    window = (start.toordinal() - 719_163) * DAY_S  # days since 1970-01-01, in seconds
    return candidate(
        booking.user_id,
        "cross_sell",
        f"dest:{dest}",
        window,
        picked,
        now=now,
        policy=policy,
        context=context,
    )


def _zip_longest(groups: Iterable[list[OfferItem]]) -> list[list[OfferItem]]:
    lists = list(groups)
    depth = max((len(g) for g in lists), default=0)
    return [[g[k] for g in lists if k < len(g)] for k in range(depth)]


def abandoned_searches(state: CustomerState, *, now: float, policy: EngagementPolicy) -> list[str]:
    """Destinations searched a window ago or more, not booked since, not yet reminded."""
    window = policy.abandoned_search_window_hours * HOUR_S
    oldest = now - policy.abandoned_search_max_age_days * DAY_S
    return sorted(
        dest
        for dest, s in state.searches.items()
        if oldest <= s.ts <= now - window and s.booked_at < s.ts and s.reminded_at < s.ts
    )


def abandoned_search_offer(
    user_id: str,
    destination: str,
    searched_at: float,
    items: Sequence[OfferItem],
    *,
    now: float,
    policy: EngagementPolicy,
) -> Candidate:
    """A reminder about a destination; the search's time is the window."""
    return candidate(
        user_id,
        "abandoned_search",
        f"dest:{destination}",
        searched_at,
        items,
        now=now,
        policy=policy,
        context={"destination": destination},
    )
