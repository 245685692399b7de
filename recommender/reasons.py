"""Reason texts shown next to a recommendation: short, human and specific (pure)."""

from __future__ import annotations

import re

_SLUG_SEPARATORS = re.compile(r"[-_\s]+")


def place_name(slug: str) -> str:
    """A destination slug as people write it: 'chiang-mai' -> 'Chiang Mai'."""
    return " ".join(w.capitalize() for w in _SLUG_SEPARATORS.split(slug.strip()) if w)


def viewed(anchor_label: str) -> str:
    """For session rules and neighbours of a recent item."""
    return f"because you viewed {anchor_label}"


def popular_in(destination: str | None) -> str:
    """For items popular in one market."""
    return f"popular in {place_name(destination)} this week" if destination else "popular right now"


def trending() -> str:
    """For globally trending items."""
    return "trending now"


def similar_taste() -> str:
    """For items close to the user's short- or long-term embedding."""
    return "similar to what you like"


def usual_budget() -> str:
    """When the item's price band is the one the user usually picks."""
    return "matches your usual budget"


def trip(destination: str, start: str | None) -> str:
    """For cross-sell around a booked flight."""
    where = place_name(destination)
    return f"for your trip to {where} on {start}" if start else f"for your trip to {where}"


def affinity(facet: str, key: str, item_type: str) -> str:
    """For items that fit the user's strongest matching taste facet."""
    if facet == "dest":
        return f"because you like {place_name(key)}"
    if facet == "stars":
        return f"because you like {key}-star stays"
    if facet == "band":
        return usual_budget()
    return f"because you often look at {item_type}s" if item_type else "picked for you"


def for_candidate(
    source: str,
    anchor: str | None,
    destination: str,
    *,
    anchor_label: str | None = None,
    trip_destination: str | None = None,
    trip_start: str | None = None,
) -> str:
    """The reason a retrieval source gives for an item; anchor_label names an anchor item."""
    if source in ("session", "similar") and anchor:
        return viewed(anchor_label or anchor)
    if source == "popular":
        return popular_in(anchor or destination)
    if source == "trending":
        return trending()
    if source == "cross_sell":
        where = anchor or destination
        return trip(where, trip_start if trip_destination == where else None)
    return similar_taste()
