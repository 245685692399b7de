"""EngagementPolicy: every threshold of triggers, push policy, segments and loyalty.

It is one nested field of the Settings object (``Settings.engagement``), so each value comes
from the environment as ``RECO_ENGAGEMENT__<FIELD>`` (or all at once as JSON in
``RECO_ENGAGEMENT``); maps and lists are JSON. Domain functions receive the policy as an
argument and never read Settings themselves.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recommender.engagement.terms import ActiveTier, Lifecycle, OfferKind
from schemas import Channel, ItemType

DAY_S = 86_400.0
HOUR_S = 3_600.0
_TIERS: tuple[ActiveTier, ...] = ("high_value", "potential")


@lru_cache(maxsize=512)
def known_zone(name: str) -> bool:
    """True when zoneinfo can load this IANA zone name."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _ascending(name: str, bounds: tuple[float, ...]) -> tuple[float, ...]:
    if any(b <= a for a, b in pairwise(bounds)):
        raise ValueError(f"{name} must be strictly ascending, got {list(bounds)}")
    return bounds


def _by_tier(high_value: float, potential: float) -> dict[ActiveTier, float]:
    return {"high_value": high_value, "potential": potential}


def _default_points() -> dict[ItemType, float]:
    return {"flight": 1.0, "hotel": 2.0, "car": 1.0, "tour": 1.5, "attraction": 1.0}


class EngagementPolicy(BaseModel):
    """Thresholds of customer engagement; units are in each field's name and description."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- triggers ----------------------------------------------------------------------
    price_drop_min_share: float = Field(
        0.10, gt=0, lt=1, description="Smallest price drop that triggers, as a share (0.1=10%)."
    )
    price_drop_watch_days: float = Field(
        14.0, gt=0, description="Users who viewed or wishlisted the item this recently, days."
    )
    price_drop_reference: Literal["seen", "previous"] = Field(
        "seen",
        description="Drop measured against 'seen' (the price the user last saw, else the "
        "previous price) or 'previous' (the item's previous price only).",
    )
    watch_actions: frozenset[str] = Field(
        frozenset({"view", "wishlist"}), description="Click actions that make a user a watcher."
    )
    reactivation_stages: frozenset[Lifecycle] = Field(
        frozenset({"at_risk", "dormant"}), description="Lifecycle stages that get reactivation."
    )
    reactivation_cooldown_days: float = Field(
        30.0, gt=0, description="At most one reactivation offer per user per this many days."
    )
    abandoned_search_window_hours: float = Field(
        24.0, gt=0, description="A search not followed by a booking this long is abandoned, h."
    )
    abandoned_search_max_age_days: float = Field(
        7.0, gt=0, description="Searches older than this get no reminder any more, days."
    )
    abandon_actions: frozenset[str] = Field(
        frozenset({"search", "click"}),
        description="Click actions with a destination that count as searching or comparing it.",
    )
    cross_sell_item_types: tuple[ItemType, ...] = Field(
        ("hotel", "car", "tour"), min_length=1, description="What a flight booking cross-sells."
    )
    offer_ttl_hours: float = Field(
        48.0, gt=0, description="An offer expires this long after it is made, hours."
    )

    # --- push policy (every kind) ----------------------------------------------------------
    channels: tuple[Channel, ...] = Field(
        ("push", "wechat", "sms", "email"),
        min_length=1,
        description="Channels in order of preference; the first one consented to is used.",
    )
    daily_cap: int = Field(
        3, ge=1, le=1000, description="Most offers sent to one user per local calendar day."
    )
    quiet_start: time = Field(time(22, 0), description="Quiet hours start, user's local time.")
    quiet_end: time = Field(
        time(8, 0), description="Quiet hours end, local time; equal to start turns them off."
    )
    quiet_mode: Literal["hold", "drop"] = Field(
        "hold",
        description="'hold' delays an offer to the end of quiet hours; 'drop' suppresses it.",
    )
    default_timezone: str = Field(
        "UTC", description="Zone of users whose time zone is unknown (IANA name)."
    )
    item_cooldown_hours: float = Field(
        72.0, ge=0, description="No second offer about the same user and item for this long, h."
    )
    disabled_kinds: frozenset[OfferKind] = Field(
        frozenset(), description="Kill switch: offer kinds that are never sent."
    )
    complaint_hold_days: float = Field(
        30.0, ge=0, description="No marketing offers to a user this long after a complaint, days."
    )
    complaint_hold_kinds: frozenset[OfferKind] = Field(
        frozenset({"price_drop", "reactivation", "cross_sell", "abandoned_search"}),
        description="Offer kinds that count as marketing and so pause after a complaint.",
    )
    dedupe_days: float = Field(
        7.0, gt=0, description="How long the gate remembers an offer_id's decision, days."
    )

    # --- segments ------------------------------------------------------------------------
    rfm_window_days: float = Field(
        365.0, gt=0, description="Bookings this recent count for frequency and monetary, days."
    )
    recency_days: tuple[float, float, float, float] = Field(
        (7.0, 30.0, 90.0, 180.0),
        description="Idle-day bounds for recency scores 5,4,3,2 (beyond the last: 1).",
    )
    frequency_bounds: tuple[float, float, float, float] = Field(
        (1.0, 2.0, 4.0, 8.0), description="Bookings in the window needed for F scores 2..5."
    )
    monetary_bounds: tuple[float, float, float, float] = Field(
        (1000.0, 5000.0, 15000.0, 50000.0),
        description="Spend in the window (base currency) needed for M scores 2..5.",
    )
    high_value_min_fm: int = Field(
        8, ge=2, le=10, description="F+M score at or above which a customer is valuable."
    )
    recent_min_r: int = Field(
        3, ge=1, le=5, description="R score at or above which a customer counts as recent."
    )
    new_days: float = Field(30.0, ge=0, description="A customer is 'new' this long, days.")
    reactivated_days: float = Field(
        30.0, ge=0, description="A returning customer stays 'reactivated' this long, days."
    )
    at_risk_days: dict[ActiveTier, float] = Field(
        default_factory=lambda: _by_tier(30.0, 45.0),
        description="Idle days after which a customer is at risk, by value tier while active.",
    )
    dormant_days: dict[ActiveTier, float] = Field(
        default_factory=lambda: _by_tier(60.0, 90.0),
        description="Idle days after which a customer is dormant, by value tier while active.",
    )
    churned_days: dict[ActiveTier, float] = Field(
        default_factory=lambda: _by_tier(180.0, 365.0),
        description="Idle days after which a customer is churned, by value tier while active.",
    )

    # --- loyalty ---------------------------------------------------------------------------
    points_per_unit: dict[ItemType, float] = Field(
        default_factory=_default_points,
        description="Points earned per unit of base currency, by item type (unlisted: 0).",
    )
    tier_thresholds: dict[str, int] = Field(
        default_factory=lambda: {"basic": 0, "silver": 2000, "gold": 10000, "platinum": 30000},
        description="Membership tier -> points needed; one tier must need 0.",
    )
    tier_multipliers: dict[str, float] = Field(
        default_factory=dict, description="Earning bonus by current tier (unlisted: 1.0)."
    )

    # --- feedback --------------------------------------------------------------------------
    complaint_penalty: float = Field(
        1.0, ge=0, le=1, description="Ranking penalty of an item the user complained about."
    )
    low_rating_max: float = Field(
        2.0, ge=1, le=5, description="Ratings at or below this lower the item for that user."
    )
    low_rating_penalty: float = Field(
        0.5, ge=0, le=1, description="Ranking penalty of an item rated at or below the bound."
    )
    feedback_half_life_days: float = Field(
        90.0, gt=0, description="Half-life of feedback penalties, days."
    )

    # --- bounds of the stored state (memory per user) ------------------------------------
    max_ledger: int = Field(100, ge=1, le=10_000, description="Bookings kept per user.")
    max_searches: int = Field(10, ge=1, le=1000, description="Searched destinations kept.")
    max_watched: int = Field(20, ge=1, le=1000, description="Watched items kept per user.")
    max_penalties: int = Field(20, ge=1, le=1000, description="Feedback penalties kept.")

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if not known_zone(v):
            raise ValueError(f"unknown IANA time zone {v!r}")
        return v

    @field_validator("recency_days", "frequency_bounds", "monetary_bounds")
    @classmethod
    def _bounds(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        return _ascending("bounds", v)

    @field_validator("points_per_unit", "tier_multipliers")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, x in v.items() if not x >= 0)
        if bad:
            raise ValueError(f"must be >= 0 (bad: {', '.join(bad)})")
        return v

    @field_validator("tier_thresholds")
    @classmethod
    def _tiers(cls, v: dict[str, int]) -> dict[str, int]:
        if 0 not in v.values():
            raise ValueError("one tier must need 0 points, so every customer has a tier")
        if len(set(v.values())) != len(v):
            raise ValueError("two tiers need the same points")
        return v

    @model_validator(mode="after")
    def _lifecycle_order(self) -> EngagementPolicy:
        for tier in _TIERS:
            days = [m.get(tier) for m in (self.at_risk_days, self.dormant_days, self.churned_days)]
            if any(d is None for d in days):
                raise ValueError(f"at_risk_days, dormant_days and churned_days need '{tier}'")
            a, d, c = (float(x or 0.0) for x in days)
            if not 0 < a < d < c:
                raise ValueError(
                    f"for '{tier}' need 0 < at_risk_days < dormant_days < churned_days, "
                    f"got {a}, {d}, {c}"
                )
        return self

    def quiet_hours_off(self) -> bool:
        """True when start equals end: no quiet hours at all."""
        return self.quiet_start == self.quiet_end

    def cooldown_s(self, kind: OfferKind) -> float:
        """Per user+item cooldown for an offer of this kind, seconds."""
        if kind == "reactivation":
            return self.reactivation_cooldown_days * DAY_S
        return self.item_cooldown_hours * HOUR_S
