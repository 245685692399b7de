"""CustomerState: what engagement keeps per user, immutable; ``apply_*`` return new states.

Every map is bounded (``EngagementPolicy.max_*``): when full, the oldest entry goes. Times
are Unix seconds (UTC); money is in the base currency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from recommender.engagement.terms import ActivityStage

BookingStatus = Literal["confirmed", "cancelled"]
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One booking as loyalty and RFM see it; points are what it credited (0 if cancelled)."""

    item_id: str
    status: BookingStatus
    ts: float
    amount: float
    points: int
    item_type: str
    destination: str


@dataclass(frozen=True, slots=True)
class Search:
    """Interest in a destination: last searched, last reminded, last booked there."""

    ts: float
    reminded_at: float = 0.0
    booked_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Watch:
    """An item the user viewed or wishlisted: when, and the price they saw (if known)."""

    ts: float
    price: float | None = None


@dataclass(frozen=True, slots=True)
class Penalty:
    """A feedback penalty in [0, 1] on one item, decaying from ts."""

    value: float
    ts: float


@dataclass(frozen=True, slots=True)
class CustomerState:
    """Ledger summary, lifecycle, interests, consent and holds of one customer."""

    first_seen: float = 0.0
    last_active: float = 0.0
    last_booking: float = 0.0
    stage: ActivityStage = "new"
    stage_since: float = 0.0
    points: int = 0
    monetary: float = 0.0  # confirmed, not cancelled bookings, lifetime
    n_bookings: int = 0
    ledger: Mapping[str, LedgerEntry] = field(default_factory=dict)
    searches: Mapping[str, Search] = field(default_factory=dict)
    watched: Mapping[str, Watch] = field(default_factory=dict)
    penalties: Mapping[str, Penalty] = field(default_factory=dict)
    consent: Mapping[str, tuple[bool, float]] = field(default_factory=dict)  # (granted, ts)
    timezone: str | None = None
    complaint_until: float = 0.0
    reactivation_sent: float = 0.0

    def booked(self, item_id: str) -> bool:
        """True when a confirmed, not cancelled booking of this item is in the ledger."""
        return any(e.item_id == item_id and e.status == "confirmed" for e in self.ledger.values())

    def granted(self) -> dict[str, bool]:
        """Channel -> consent as last given."""
        return {ch: ok for ch, (ok, _) in self.consent.items()}


def keep_newest(entries: Mapping[str, V], limit: int, ts: Callable[[V], float]) -> Mapping[str, V]:
    """At most ``limit`` entries, the newest by ``ts`` (ties broken by key, deterministic)."""
    if len(entries) <= limit:
        return entries
    ranked = sorted(entries.items(), key=lambda kv: (-ts(kv[1]), kv[0]))
    return dict(ranked[:limit])


def with_entry(entries: Mapping[str, V], key: str, value: V) -> dict[str, V]:
    """A copy of entries with key set to value (the original stays untouched)."""
    out = dict(entries)
    out[key] = value
    return out
